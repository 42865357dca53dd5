#!/usr/bin/env bash
# Fresh machine → every test: installs system and Python packages, builds, checks the kernel's
# boundaries, runs the Swift unit and store tests, then the end-to-end tests against the real `aex`
# binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh debug
bash Plugins/Echo/test.sh

# The dashboard's browser test drives Debian's headless Chromium through its driver.
need=()
for package in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need+=("$package")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "test: installing ${need[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt

echo "== boundaries"
python3 Tests/boundaries/check.py

echo "== swift test"
swift test 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]'

echo "== end-to-end"
AEX_BIN="$PWD/.build/debug/aex" python3 -m pytest -q Tests/e2e
