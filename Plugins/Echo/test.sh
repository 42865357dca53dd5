#!/usr/bin/env bash
# Builds the echo plugin exactly as setup does, loads it through a fake host (echo_test.c) and checks
# it: self-description, answers, usage, truncation, refusals, a 5,000-body fuzz (also under
# ASan+UBSan when the compiler has them), only libc needed, one exported symbol.
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

cc="${CC:-$(command -v cc || command -v clang || echo cc)}" # as scripts/setup.sh
include=Sources/AEXPluginAPI/include
lib="$work/libaex-echo.so"

if "$cc" -std=c99 -O2 -shared -fPIC -Wall -Wextra -Werror -I "$include" -o "$lib" Plugins/Echo/echo.c; then
    pass "plugin builds with cc -std=c99 -Wall -Wextra -Werror"
else
    fail "plugin builds with cc -std=c99 -Wall -Wextra -Werror"
    finish
fi
if "$cc" -std=c99 -O2 -Wall -Wextra -Werror -I "$include" -o "$work/echo_test" Plugins/Echo/echo_test.c -ldl; then
    pass "test driver builds"
else
    fail "test driver builds"
    finish
fi

# Only libc (plus the vDSO and the dynamic loader).
ldd_out="$(ldd "$lib" 2>&1)"
echo "$ldd_out" | sed 's/^/  ldd: /'
others="$(echo "$ldd_out" | grep -Ev '^\s*(linux-vdso\.so|linux-gate\.so|/lib(64)?/ld-linux[^ ]*\.so|libc\.so\.6 => )' || true)"
if [ -z "$others" ] && echo "$ldd_out" | grep -q 'libc\.so\.6 => '; then
    pass "ldd: needs only libc"
else
    fail "ldd: unexpected dependencies: $others"
fi

# Exactly one exported symbol. (ld.gold, clang's default linker, adds its section markers
# __bss_start/_edata/_end; they are the linker's, not the plugin's, and are set aside with a note.)
nm_out="$(nm -D --defined-only "$lib" 2>&1)"
echo "$nm_out" | sed 's/^/  nm: /'
markers='^[0-9a-f]+ [DB] (__bss_start|_edata|_end)$'
if echo "$nm_out" | grep -Eq "$markers"; then echo "  (linker section markers set aside: $(echo "$nm_out" | grep -E "$markers" | awk '{print $3}' | xargs))"; fi
own="$(echo "$nm_out" | grep -Ev "$markers" | awk 'NF')"
if [ "$(echo "$own" | wc -l)" -eq 1 ] && echo "$own" | grep -Eq '^[0-9a-f]+ T aex_plugin_entry$'; then
    pass "nm: exports only aex_plugin_entry"
else
    fail "nm: exports more than aex_plugin_entry"
fi

# The driver: dlopen(RTLD_NOW|RTLD_LOCAL), fake host, every behaviour, fuzz.
mkdir -p "$work/dump"
driver_out="$("$work/echo_test" "$lib" "$work/dump" 2>&1)"
driver_rc=$?
echo "$driver_out"
driver_pass=$(echo "$driver_out" | grep -c '^PASS ' || true)
driver_fail=$(echo "$driver_out" | grep -c '^FAIL ' || true)
passed=$((passed + driver_pass))
failed=$((failed + driver_fail))
if [ "$driver_rc" -ne 0 ] && [ "$driver_fail" -eq 0 ]; then
    fail "driver exited with status $driver_rc (crash?)"
fi

# Every answer the driver kept is JSON a real parser accepts, with the alias and never the provider model.
if command -v python3 >/dev/null 2>&1; then
    if python3 - "$work/dump" <<'EOF'
import json, pathlib, sys
files = sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
assert len(files) >= 6, f"only {len(files)} answers dumped"
for f in files:
    raw = f.read_bytes()
    doc = json.loads(raw.decode("utf-8"))
    assert b"llama-3.1-8b-instant" not in raw, f.name
    u = doc["usage"]
    if doc["object"] == "chat.completion":
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], f.name
        text = doc["choices"][0]["message"]["content"]
        assert u["completion_tokens"] == (len(text.encode()) + 3) // 4, f.name
    elif doc["object"] == "response":
        assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"], f.name
        text = doc["output"][0]["content"][0]["text"]
        assert u["output_tokens"] == (len(text.encode()) + 3) // 4, f.name
    else:
        assert doc["object"] == "list" and u["total_tokens"] == u["prompt_tokens"], f.name
        for i, item in enumerate(doc["data"]):
            assert item["index"] == i, f.name
            if isinstance(item["embedding"], list):
                assert len(item["embedding"]) == 8 and all(-1 <= v <= 1 for v in item["embedding"]), f.name
named = {f.stem: json.loads(f.read_bytes()) for f in files}
assert named["chat"]["model"] == "demo-model"
assert named["chat"]["choices"][0]["message"]["content"] == "Echo: Hello there"
import base64, struct
floats = struct.unpack("<8f", base64.b64decode(named["embeddings-base64"]["data"][0]["embedding"]))
listed = named["embeddings-one"]["data"][0]["embedding"]
assert all(abs(a - b) < 1e-6 for a, b in zip(floats, listed)), (floats, listed)
print(f"  python: {len(files)} answers parsed and checked")
EOF
    then pass "python json: dumped answers parse, usage matches the decoded text"
    else fail "python json: dumped answers parse, usage matches the decoded text"
    fi
else
    echo "  (python3 not found: skipping the outside JSON check)"
fi

# The same driver under AddressSanitizer + UndefinedBehaviorSanitizer, when available.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if "$cc" -std=c99 -O1 -g $san -shared -fPIC -I "$include" -o "$work/libaex-echo-san.so" Plugins/Echo/echo.c 2>/dev/null &&
   "$cc" -std=c99 -O1 -g $san -I "$include" -o "$work/echo_test_san" Plugins/Echo/echo_test.c -ldl 2>/dev/null; then
    if san_out="$(ASAN_OPTIONS=detect_leaks=1 "$work/echo_test_san" "$work/libaex-echo-san.so" 2>&1)"; then
        pass "ASan+UBSan: $(echo "$san_out" | tail -n 1)"
    else
        echo "$san_out" | grep -Ev '^PASS ' | tail -n 40
        fail "ASan+UBSan run"
    fi
else
    echo "  (sanitizers not available: skipping the sanitized run)"
fi

finish
