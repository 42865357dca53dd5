#!/usr/bin/env bash
# Builds the echo plugin exactly as setup does, loads it through a fake host (echo_test.c) and checks
# it: self-description, answers, streams (chat completions and responses, settled exactly like the
# same call without streaming), usage, truncation, refusals, a 5,000-body fuzz and a stream-event fuzz
# (also under ASan+UBSan when the compiler has them), only libc needed, one exported symbol.
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

# Streams: each .sse beside the same call's answer without streaming (NAME-plain.json).
streams = sorted(pathlib.Path(sys.argv[1]).glob("*.sse"))
assert len(streams) >= 6, f"only {len(streams)} streams dumped"
texts = {}
for f in streams:
    raw = f.read_bytes().decode("utf-8")
    assert raw.endswith("\n\n") and "\r" not in raw, f.name
    assert "llama-3.1-8b-instant" not in raw, f.name
    events = []
    for block in raw[:-2].split("\n\n"):
        fields = [line.partition(": ") for line in block.split("\n")]
        assert all(sep for _, sep, _ in fields), f.name
        events.append({name: value for name, _, value in fields})
    plain = json.loads((f.parent / (f.stem + "-plain.json")).read_bytes())
    if "event" not in events[0]:  # chat completions
        assert all(list(e) == ["data"] for e in events), f.name
        assert events[-1]["data"] == "[DONE]", f.name
        chunks = [json.loads(e["data"]) for e in events[:-1]]
        assert all(c["object"] == "chat.completion.chunk" and c["id"] == plain["id"] and c["model"] == plain["model"]
                   for c in chunks), f.name
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}, f.name
        pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:] if c["choices"] and c["choices"][0]["delta"]]
        assert len(pieces) >= 2 and all(pieces), f.name
        text = "".join(pieces)
        assert text == plain["choices"][0]["message"]["content"], f.name
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert finish == [plain["choices"][0]["finish_reason"]], f.name
        usage = [c for c in chunks if "usage" in c]
        assert len(usage) <= 1 and all(c["choices"] == [] and c["usage"] == plain["usage"] for c in usage), f.name
        assert not usage or usage[0] is chunks[-1], f.name
        completion = plain["usage"]["completion_tokens"]
    else:  # responses
        assert all(list(e) == ["event", "data"] for e in events), f.name
        evs = [(e["event"], json.loads(e["data"])) for e in events]
        assert all(name == d["type"] for name, d in evs), f.name
        assert [d["sequence_number"] for _, d in evs] == list(range(len(evs))), f.name
        pieces = [d["delta"] for name, d in evs if name == "response.output_text.delta"]
        assert len(pieces) >= 2 and all(pieces), f.name
        text = "".join(pieces)
        assert text == plain["output"][0]["content"][0]["text"], f.name
        assert [d["text"] for name, d in evs if name == "response.output_text.done"] == [text], f.name
        assert evs[-1][0] == "response.completed" and evs[-1][1]["response"] == plain, f.name
        completion = plain["usage"]["output_tokens"]
    # settlement: the streamed text is exactly what the usage without streaming counted
    assert completion == (len(text.encode()) + 3) // 4, f.name
    texts[f.stem] = text
assert texts["chat-stream"] == texts["chat-stream-usage"] == "Echo: Hello there"
assert texts["chat-stream-cut"] == "Echo: He" and texts["responses-stream-cut"] == "Echo: He"
assert texts["responses-stream"] == "Echo: Hi"
print(f"  python: {len(streams)} streams parsed and checked against the answers without streaming")
EOF
    then pass "python json: dumped answers and streams parse, usage matches the decoded text"
    else fail "python json: dumped answers and streams parse, usage matches the decoded text"
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
