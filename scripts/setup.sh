#!/usr/bin/env bash
# Installs what AEX needs to build (system C libraries) and builds it. Idempotent.
#   scripts/setup.sh [debug|release]     (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${1:-release}"

need=()
for package in libcurl4-openssl-dev libsqlite3-dev libssl-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need+=("$package")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build -c "$configuration" 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test -x ".build/$configuration/aex" || { echo "setup: build failed" >&2; exit 1; }
cc="${CC:-$(command -v cc || command -v clang || echo cc)}"   # the Swift toolchain brings clang
"$cc" -std=c99 -O2 -shared -fPIC -Wall -Wextra -Werror -I Sources/AEXPluginAPI/include \
    -o ".build/$configuration/libaex-echo.so" Plugins/Echo/echo.c ||
    { echo "setup: building the echo plugin failed" >&2; exit 1; }
echo "setup: built .build/$configuration/aex"
