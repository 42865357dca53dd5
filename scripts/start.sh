#!/usr/bin/env bash
# Fresh machine → running AEX: installs system packages, builds, initializes AEX_HOME (default
# ~/.aex) and starts the daemon on 127.0.0.1:9000 (override with AEX_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
aex=".build/release/aex"
"$aex" init
"$aex" daemon start --port "${AEX_PORT:-9000}"
"$aex" daemon status
echo
echo "AEX is running. Try:  $aex agent create demo 1.00 60"
echo "Admin token: ${AEX_HOME:-$HOME/.aex}/admin.token   Stop with: $aex daemon stop"
