#!/usr/bin/env bash
# Fresh machine → every test: installs system and Python packages, builds, checks the kernel's
# boundaries, runs the Swift unit and store tests, then the end-to-end tests against the real `aex`
# binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh debug
bash Plugins/Echo/test.sh

python3 -m pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt

echo "== boundaries"
python3 Tests/boundaries/check.py

echo "== swift test"
swift test 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]'

echo "== end-to-end"
AEX_BIN="$PWD/.build/debug/aex" python3 -m pytest -q Tests/e2e
