"""Plugins (SPEC §3, §10, §11) end to end: `aex plugin install|list|inspect|enable|disable|remove`
with the real binary, against plain-C plugins built here from Tests/e2e/plugins/:

- `shout.c`: a third-party provider plugin (type `shout`) that answers chat completions locally with
  the last user message upper-cased and a usage rule simple enough to know the exact cost. Built as
  1.0.0, 1.1.0 (replies prefixed "V1.1 "), 1.9.0 and 1.10.0.
- `legacy10.c`: a provider plugin (type `legacy10`) built against `abi-1.0/aex_plugin.h`, the header
  as it was at ABI 1.0 (from git history): no stream hook.
- `misfit.c`: libraries install must refuse, one per -D switch (wrong ABI, empty self-description,
  a name or type already taken, a constructor that crashes or hangs, no entry point).

What is checked: the bundled plugins registered by `aex init`; install examined in a child process
(constructors never run in the daemon or the CLI), copied into AEX_HOME/plugins under a versioned
name, recorded in `tool_plugins` and the ledger; every refusal named, with the path, and leaving
nothing behind; upgrades to a newer version only; enable/disable/remove through the running daemon
(effective at once, no restart) and on the database with the daemon stopped; providers in use and
bundled plugins protected; SHA-256 integrity at every load; the proof that a provider written
outside the package is added to a running daemon and used through the official openai SDK at the
exact cost; plugin changes under load failing no call; an ABI 1.0 plugin in an ABI 1.1 host.

Every test fails on an `aex` without the `plugin` command (usage error, exit 2)."""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import openai
import pytest

from conftest import AEX_BIN, Aex, wait_until
from test_proxy import (  # noqa: F401  (fixtures)
    HELLO, _model, _stopping, _wait_for_stopping_daemons, chat, cost, dead_port, mock, mock_server, models_of,
    models_yaml, proxy, refused, settled,
)

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "plugins"
INCLUDE = HERE.parents[1] / "Sources" / "AEXPluginAPI" / "include"

BUNDLED = {"openai-compatible": ("provider", ["openai_compatible"]), "anthropic": ("provider", ["anthropic"]),
           "echo": ("provider", ["echo"]), "aex-tools": ("tool", None)}
RECORD_FIELDS = {"name", "version", "kind", "abi", "path", "sha256", "enabled", "provides", "bundled", "installed_at"}

# The libraries built for the tests: name → (source in Tests/e2e/plugins, compiler switches).
BUILDS = {
    "shout-1.0.0": ("shout.c", []),
    "shout-1.1.0": ("shout.c", ['-DSHOUT_VERSION="1.1.0"', '-DSHOUT_PREFIX="V1.1 "']),
    "shout-1.9.0": ("shout.c", ['-DSHOUT_VERSION="1.9.0"']),
    "shout-1.10.0": ("shout.c", ['-DSHOUT_VERSION="1.10.0"']),
    "legacy10": ("legacy10.c", []),
    "misfit": ("misfit.c", []),
    "name-taken": ("misfit.c", ['-DMISFIT_NAME="echo"']),
    "type-taken": ("misfit.c", ['-DMISFIT_PROVIDES="openai_compatible"']),
    "shout-type-taken": ("misfit.c", ['-DMISFIT_PROVIDES="shout"']),
    "empty-name": ("misfit.c", ['-DMISFIT_NAME=""']),
    "empty-provides": ("misfit.c", ['-DMISFIT_PROVIDES=""']),
    "abi-major-2": ("misfit.c", ["-DMISFIT_ABI_MAJOR=2"]),
    "abi-minor-99": ("misfit.c", ["-DMISFIT_ABI_MINOR=99"]),
    "crash": ("misfit.c", ["-DMISFIT_ABORT"]),
    "hang": ("misfit.c", ["-DMISFIT_HANG"]),
    "no-entry": ("misfit.c", ["-DMISFIT_NO_ENTRY"]),
}

# Models served by the fixtures' provider types: type → (alias, input price, output price).
PLUGIN_MODELS = {"shout": ("shout-model", 3, 7), "legacy10": ("legacy-model", 2, 5)}
SHOUT_MESSAGES = [{"role": "system", "content": "Be loud."}, {"role": "user", "content": "hello plugin world"}]
LEGACY_REPLY, LEGACY_USAGE = "built for ABI 1.0", (3, 4)
HANG_WORDS = ("did not finish", "hung", "timed out")
# The ABI version of the header the fixtures (and echo.c) are built with, e.g. "1.2".
HEADER_ABI = "{}.{}".format(*(re.search(rf"#define AEX_PLUGIN_ABI_{part} (\d+)", (INCLUDE / "aex_plugin.h").read_text()).group(1)
                              for part in ("MAJOR", "MINOR")))
SYSTEM_LIBM = next((p for p in (Path("/lib/x86_64-linux-gnu/libm.so.6"), Path("/usr/lib/x86_64-linux-gnu/libm.so.6"),
                                Path("/lib/aarch64-linux-gnu/libm.so.6"), Path("/lib64/libm.so.6"),
                                Path("/usr/lib64/libm.so.6")) if p.exists()), None)


def _compiler():
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


pytestmark = pytest.mark.skipif(_compiler() is None, reason="no C compiler to build the plugin fixtures")


# ----------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def libs(tmp_path_factory):
    """Every library of BUILDS, compiled once: name → path."""
    out = tmp_path_factory.mktemp("plugin-builds")
    built = {}
    for name, (source, switches) in BUILDS.items():
        target = out / f"lib{name}.so"
        include = [] if source == "legacy10.c" else ["-I", str(INCLUDE)]  # legacy10.c names its own header
        result = subprocess.run([_compiler(), "-std=c99", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", *include,
                                 *switches, "-o", str(target), str(SOURCES / source)], capture_output=True, text=True)
        assert result.returncode == 0, f"building {name} from {source} failed:\n{result.stderr}"
        built[name] = target
    return built


class CopiedAex(Aex):
    """`aex` run from a copy of the binary (with the bundled libraries beside it)."""

    def __init__(self, home, binary):
        super().__init__(home)
        self.binary = binary

    def run(self, *args, check=None, timeout=60):
        result = subprocess.run([str(self.binary), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert result.returncode == check, f"aex {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result


# ------------------------------------------------------------------------------------------ helpers

def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rows(aex, sql, *args):
    """Rows of AEX_HOME/aex.db (read-only) as dicts."""
    db = sqlite3.connect(f"file:{aex.home / 'aex.db'}?mode=ro", uri=True)
    try:
        cursor = db.execute(sql, args)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        db.close()


def events(aex, kind):
    """Payloads of the ledger events of this type, oldest first."""
    return [json.loads(row["payload"]) for row in rows(aex, "SELECT payload FROM event_log WHERE type = ? ORDER BY seq", kind)]


def plugin_events(aex):
    return [row["type"] for row in rows(aex, "SELECT type FROM event_log WHERE type LIKE 'plugin%' ORDER BY seq")]


def installed_files(aex):
    return sorted(entry.name for entry in (aex.home / "plugins").iterdir())


def footprint(aex):
    """What an install could leave behind: files in plugins/, rows of tool_plugins, ledger entries."""
    return (installed_files(aex), rows(aex, "SELECT * FROM tool_plugins ORDER BY name"),
            rows(aex, "SELECT count(*) AS n FROM event_log")[0]["n"])


def plugins(aex):
    """`aex plugin list --json` by name."""
    listed = aex.json("plugin", "list")
    assert isinstance(listed, list), listed
    return {record["name"]: record for record in listed}


def inspect(aex, name):
    return aex.json("plugin", "inspect", name)


def install(aex, path, *flags):
    """`aex plugin install PATH FLAGS --json`, which must succeed; returns the printed record."""
    return json.loads(aex.run("plugin", "install", str(path), *flags, "--json", check=0).stdout)


def refused_install(aex, path, words=(), *flags, path_named=True, timeout=60):
    """The install exits 1 naming PATH and (one of) `words` on stderr, and leaves nothing behind."""
    before = footprint(aex)
    result = aex.run("plugin", "install", str(path), *flags, timeout=timeout)
    assert result.returncode == 1, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stderr.strip(), "the reason is reported"
    if path_named:
        assert str(path) in result.stderr, f"the message names the library: {result.stderr!r}"
    if words:
        assert any(word.lower() in result.stderr.lower() for word in words), f"expected {words}: {result.stderr!r}"
    assert footprint(aex) == before, "a refused install left a file, a row or a ledger entry behind"
    return result


def refused_command(aex, *args, naming=()):
    """A plugin command that exits 1 with every word of `naming` on stderr."""
    result = aex.run("plugin", *args)
    assert result.returncode == 1, f"aex plugin {' '.join(args)}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    for word in naming:
        assert word in result.stderr, f"aex plugin {' '.join(args)}: {word!r} not in {result.stderr!r}"
    return result


def plugin_config(proxy, *types):
    """The proxy's models.yaml plus, per plugin type, a local provider and its model (PLUGIN_MODELS)."""
    providers = "".join(f"  {kind}_local:\n    base_url: local://{kind}\n    type: {kind}\n" for kind in types)
    models = "".join(_model(PLUGIN_MODELS[kind][0], f"{kind}_local", f"{kind}-v1", PLUGIN_MODELS[kind][1],
                            PLUGIN_MODELS[kind][2], tools=False, vision=False) for kind in types)
    text = models_yaml(proxy.mock.port, proxy.dead_port, models)
    return text.replace("\nmodels:\n", "\n" + providers + "models:\n", 1)


def reload_with(proxy, *types, check=None):
    """Writes plugin_config(types) and runs `aex models reload`."""
    proxy.write_config(text=plugin_config(proxy, *types))
    return proxy.aex.run("models", "reload", check=check)


def shout_usage(messages, reply):
    """shout.c's usage rule for plain ASCII text: Σ(content + 1) prompt tokens, reply-length completion tokens."""
    return sum(len(message["content"]) + 1 for message in messages), len(reply)


def ask_shout(proxy, client, agent, spent_before, expected_reply):
    """One shout-model call through the SDK: its text, alias, usage and exact cost. Returns the new spent."""
    raw = client.chat.completions.with_raw_response.create(model="shout-model", messages=SHOUT_MESSAGES)
    answer = raw.parse()
    assert answer.model == "shout-model", "the answer shows the alias"
    assert answer.choices[0].message.content == expected_reply
    prompt, completion = shout_usage(SHOUT_MESSAGES, expected_reply)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, completion)
    charged = cost(prompt, completion, *PLUGIN_MODELS["shout"][1:])
    assert raw.headers["x-aex-cost-micro"] == str(charged)
    spent = spent_before + charged
    assert raw.headers["x-aex-budget-remaining-micro"] == str(proxy.balance(agent)["budget_micro"] - spent)
    settled(proxy, agent, spent)
    return spent


def processes_mapping(file_name):
    """Pids of processes that have a file of this name mapped."""
    found = []
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            if file_name in maps.read_text():
                found.append(maps.parent.name)
        except OSError:
            continue
    return found


# --------------------------------------------------------------------------------- the CLI surface

def test_plugin_commands_have_help_and_report_usage_errors(aex):
    assert "plugin install" in aex.run("--help", check=0).stdout
    assert "install" in aex.run("plugin", "--help", check=0).stdout
    for command in ("install", "list", "inspect", "enable", "disable", "remove"):
        shown = aex.run("plugin", command, "--help", check=0).stdout
        assert f"plugin {command}" in shown, shown
    for args in (["plugin", "install"], ["plugin", "frobnicate"], ["plugin", "enable"], ["plugin", "inspect"],
                 ["plugin", "install", "/tmp/x.so", "--sha256"]):
        result = aex.run(*args)
        assert result.returncode == 2 and result.stderr.strip(), (args, result.returncode, result.stderr)


def test_init_registers_the_bundled_plugins(aex):
    listed = plugins(aex)
    beside_binary = Path(AEX_BIN).resolve().parent
    for name, (kind, provides) in BUNDLED.items():
        record = listed[name]
        assert RECORD_FIELDS <= set(record), record
        assert (record["kind"], record["enabled"], record["bundled"]) == (kind, True, True), record
        assert isinstance(record["provides"], list), record
        if provides is not None:
            assert record["provides"] == provides, record
        assert re.fullmatch(r"1\.\d+", record["abi"]), record
        assert Path(record["path"]).resolve().parent == beside_binary, "bundled plugins are found beside aex"
        assert record["sha256"] == sha256_of(record["path"])
        details = inspect(aex, name)
        assert details["file_matches"] is True and isinstance(details["manifest"], dict), details
    assert listed["echo"]["abi"] == HEADER_ABI, "echo.c is built with the current header"
    registered = {row["name"]: (row["bundled"], row["enabled"]) for row in rows(aex, "SELECT * FROM tool_plugins")}
    assert all(registered[name] == (1, 1) for name in BUNDLED), registered
    text = aex.run("plugin", "list", check=0).stdout
    assert all(name in text for name in BUNDLED), text
    assert listed["echo"]["sha256"] in aex.run("plugin", "inspect", "echo", check=0).stdout

    aex.run("init", check=0)
    assert plugins(aex) == listed, "init is idempotent"


# ---------------------------------------------------------------------------------------- install

def test_install_copies_records_and_logs_the_plugin(aex, libs):
    source = libs["shout-1.0.0"]
    record = install(aex, source)
    assert RECORD_FIELDS <= set(record), record
    assert (record["name"], record["version"], record["kind"], record["abi"]) == ("shout", "1.0.0", "provider", HEADER_ABI)
    assert (record["provides"], record["enabled"], record["bundled"]) == (["shout"], False, False), \
        "installed disabled without --enable"
    copy = Path(record["path"])
    assert copy.parent.resolve() == (aex.home / "plugins").resolve() and "1.0.0" in copy.name, copy
    assert copy.read_bytes() == source.read_bytes()
    assert record["sha256"] == sha256_of(source)
    assert installed_files(aex) == [copy.name]
    assert plugins(aex)["shout"] == record, "install --json prints the record of plugin list --json"

    details = inspect(aex, "shout")
    assert details["file_matches"] is True and isinstance(details["manifest"], dict), details
    assert {key: details[key] for key in record} == record

    (row,) = rows(aex, "SELECT * FROM tool_plugins WHERE name = 'shout'")
    assert (row["version"], row["kind"], row["abi"], row["sha256"], row["enabled"], row["bundled"]) == \
           ("1.0.0", "provider", HEADER_ABI, record["sha256"], 0, 0), row
    assert Path(row["path"]).resolve() == copy.resolve() and row["installed_at"]
    assert json.loads(row["manifest"]) == details["manifest"]

    (event,) = [e for e in events(aex, "plugin_installed") if e.get("name") == "shout"]
    assert (event["version"], event["sha256"]) == ("1.0.0", record["sha256"]), event


def test_install_with_enable_and_the_expected_sha256(aex, libs):
    source = libs["shout-1.0.0"]
    refused_install(aex, source, ("SHA-256",), "--sha256", "0" * 64)
    record = install(aex, source, "--sha256", sha256_of(source), "--enable")
    assert (record["sha256"], record["enabled"]) == (sha256_of(source), True), record
    assert rows(aex, "SELECT enabled FROM tool_plugins WHERE name = 'shout'") == [{"enabled": 1}]


def _text_file(tmp_path):
    path = tmp_path / "libnotes.so"
    path.write_text("not a library, only text\n")
    return path


# id → (the library: a key of `libs` or a function of tmp_path, words one of which the refusal names)
REFUSALS = {
    "missing file": (lambda tmp_path: tmp_path / "nowhere" / "libghost.so", ("does not exist", "no such file")),
    "text file": (_text_file, ("not an ELF shared library",)),
    "no entry point": ("no-entry", ("aex_plugin_entry",)),
    "ABI major 2": ("abi-major-2", ("ABI",)),
    "ABI minor 99": ("abi-minor-99", ("ABI",)),
    "empty name": ("empty-name", ("self-description",)),
    "empty provides": ("empty-provides", ("self-description",)),
    "name of a bundled plugin": ("name-taken", ("taken", "already")),
    "type of a bundled plugin": ("type-taken", ("taken", "already")),
    "constructor crashes": ("crash", ("crashed",)),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_install_refuses(aex, libs, tmp_path, case):
    library, words = REFUSALS[case]
    path = libs[library] if isinstance(library, str) else library(tmp_path)
    refused_install(aex, path, words)
    assert set(plugins(aex)) == set(BUNDLED)


@pytest.mark.skipif(SYSTEM_LIBM is None, reason="no system libm found")
def test_install_refuses_a_system_library_without_the_entry_point(aex):
    refused_install(aex, SYSTEM_LIBM, ("aex_plugin_entry",))


def test_install_refuses_a_library_that_hangs_while_examined(aex, libs):
    started = time.monotonic()
    refused_install(aex, libs["hang"], HANG_WORDS)
    assert time.monotonic() - started < 15, "the examination is given up within about 10 s"
    assert wait_until(lambda: not processes_mapping(libs["hang"].name), 5), "the hung examiner is killed"


def test_install_refuses_a_type_taken_by_an_installed_plugin(aex, libs):
    install(aex, libs["shout-1.0.0"])                      # disabled, yet its type is taken
    refused_install(aex, libs["shout-type-taken"], ("taken", "already"))
    assert install(aex, libs["misfit"])["provides"] == ["misfit"], "the same library without the clash installs"


def test_examining_bad_libraries_never_touches_the_running_daemon(proxy, libs):
    started = proxy.aex.state
    client = proxy.client(proxy.agent("bot", "10"))
    for library, words in (("crash", ("crashed",)), ("abi-major-2", ("ABI",)), ("empty-name", ("self-description",)),
                           ("name-taken", ("taken", "already")), ("hang", HANG_WORDS)):
        refused_install(proxy.aex, libs[library], words)
    assert proxy.aex.state == started and proxy.aex.run("daemon", "status").returncode == 0
    code, _, body = proxy.http("GET", "/health")
    assert code == 200 and body["status"] == "ok", body
    assert chat(client).choices[0].message.content == "Hello from the mock provider."
    assert chat(client, model="echo-1").choices[0].message.content == "Echo: hello"


# ------------------------------------------------------------------------------------ versions

def test_a_newer_version_replaces_the_installed_one_and_an_older_or_equal_one_is_refused(aex, libs):
    first = install(aex, libs["shout-1.0.0"], "--enable")
    second = install(aex, libs["shout-1.9.0"])
    assert (second["version"], second["enabled"], second["sha256"]) == ("1.9.0", True, sha256_of(libs["shout-1.9.0"])), \
        "the enabled state is kept"
    assert not Path(first["path"]).exists() and installed_files(aex) == [Path(second["path"]).name]
    assert "1.9.0" in Path(second["path"]).name

    aex.run("plugin", "disable", "shout", check=0)
    third = install(aex, libs["shout-1.10.0"])             # 1.10.0 > 1.9.0: versions compare by number
    assert (third["version"], third["enabled"]) == ("1.10.0", False), "the disabled state is kept"
    assert installed_files(aex) == [Path(third["path"]).name]
    assert rows(aex, "SELECT version, sha256 FROM tool_plugins WHERE name = 'shout'") == \
           [{"version": "1.10.0", "sha256": sha256_of(libs["shout-1.10.0"])}]

    for older_or_same in ("shout-1.10.0", "shout-1.9.0", "shout-1.0.0"):
        refused_install(aex, libs[older_or_same], path_named=False)
    assert plugins(aex)["shout"] == third
    assert [e["version"] for e in events(aex, "plugin_installed") if e.get("name") == "shout"] == \
           ["1.0.0", "1.9.0", "1.10.0"]


def test_a_newer_version_installed_into_the_running_daemon_answers_the_next_calls(proxy, libs):
    started = proxy.aex.state
    old = install(proxy.aex, libs["shout-1.0.0"], "--enable")
    reload_with(proxy, "shout", check=0)
    client = proxy.client(proxy.agent("bot", "10"))
    spent = ask_shout(proxy, client, "bot", 0, "HELLO PLUGIN WORLD")

    new = install(proxy.aex, libs["shout-1.1.0"])
    assert (new["version"], new["enabled"]) == ("1.1.0", True), new
    assert not Path(old["path"]).exists() and installed_files(proxy.aex) == [Path(new["path"]).name]
    spent = ask_shout(proxy, client, "bot", spent, "V1.1 HELLO PLUGIN WORLD")
    ask_shout(proxy, proxy.client(proxy.agent("other", "10")), "other", 0, "V1.1 HELLO PLUGIN WORLD")
    assert proxy.aex.state == started, "no restart"


# ------------------------------------------------------------------------------------ the proof

def test_a_c_provider_plugin_is_added_to_the_running_daemon_and_used_through_the_sdk(proxy, libs, tmp_path):
    """SPEC §11: a new provider type with no rebuild and no restart — install the library, name its
    type in models.yaml, reload."""
    started = proxy.aex.state
    client = proxy.client(proxy.agent("bot", "10"))
    unknown = reload_with(proxy, "shout")
    assert unknown.returncode == 1 and "shout" in unknown.stderr, "no plugin serves type shout yet"
    assert "shout-model" not in models_of(client)

    download = tmp_path / "download" / "libshout.so"
    download.parent.mkdir()
    shutil.copy(libs["shout-1.0.0"], download)
    record = install(proxy.aex, download, "--enable")
    download.unlink()                                       # the daemon uses its own copy
    assert (record["name"], record["version"], record["enabled"], record["provides"]) == \
           ("shout", "1.0.0", True, ["shout"]), record
    event = events(proxy.aex, "plugin_installed")[-1]
    assert (event["name"], event["version"], event["sha256"]) == ("shout", "1.0.0", sha256_of(libs["shout-1.0.0"]))

    reload_with(proxy, "shout", check=0)
    assert "shout-model" in models_of(client)
    spent = ask_shout(proxy, client, "bot", 0, "HELLO PLUGIN WORLD")
    assert proxy.mock.count == 0, "shout answers locally"
    assert chat(client).model == "chat-model", "the other providers keep serving"
    settled(proxy, "bot", spent + 35)
    assert proxy.aex.state == started, "no restart"
    proxy.aex.run("ledger", "verify", check=0)


def test_a_plugin_installed_while_the_daemon_is_stopped_serves_once_it_starts(aex, libs):
    install(aex, libs["shout-1.0.0"], "--enable")
    config = aex.home / "config" / "models.yaml"
    provider = "  shout_local:\n    base_url: local://shout\n    type: shout\n"
    model = _model("shout-model", "shout_local", "shout-v1", *PLUGIN_MODELS["shout"][1:], tools=False, vision=False)
    text = config.read_text().replace("\nmodels:\n", "\n" + provider + "models:\n", 1)
    config.write_text(text.rstrip("\n") + "\n" + model)      # models: is the file's last section
    aex.start()
    token = aex.json("agent", "create", "bot", "1", "100")["token"]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{aex.port}/v1", api_key=token, max_retries=0, timeout=10)
    raw = client.chat.completions.with_raw_response.create(model="shout-model", messages=SHOUT_MESSAGES)
    answer = raw.parse()
    assert (answer.model, answer.choices[0].message.content) == ("shout-model", "HELLO PLUGIN WORLD")
    prompt, completion = shout_usage(SHOUT_MESSAGES, "HELLO PLUGIN WORLD")
    assert raw.headers["x-aex-cost-micro"] == str(cost(prompt, completion, *PLUGIN_MODELS["shout"][1:]))


def test_a_plugin_built_for_abi_1_0_serves_in_this_host_but_does_not_stream(proxy, libs):
    record = install(proxy.aex, libs["legacy10"], "--enable")
    assert (record["name"], record["abi"], record["provides"]) == ("legacy10", "1.0", ["legacy10"]), record
    reload_with(proxy, "legacy10", check=0)
    client = proxy.client(proxy.agent("bot", "10"))
    raw = client.chat.completions.with_raw_response.create(model="legacy-model", messages=HELLO)
    answer = raw.parse()
    assert (answer.model, answer.choices[0].message.content) == ("legacy-model", LEGACY_REPLY)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == LEGACY_USAGE
    expected = cost(*LEGACY_USAGE, *PLUGIN_MODELS["legacy10"][1:])
    assert raw.headers["x-aex-cost-micro"] == str(expected)
    settled(proxy, "bot", expected)
    refused(proxy, "bot", lambda: client.chat.completions.create(model="legacy-model", messages=HELLO, stream=True),
            openai.BadRequestError, 400, "unsupported_capability")


# -------------------------------------------------------------------- enable, disable, remove

def test_enable_disable_and_remove_with_the_daemon_stopped(aex, libs):
    record = install(aex, libs["shout-1.0.0"])
    copy = Path(record["path"])
    enabled = lambda: rows(aex, "SELECT enabled FROM tool_plugins WHERE name = 'shout'")[0]["enabled"]  # noqa: E731

    aex.run("plugin", "enable", "shout", check=0)
    assert enabled() == 1 and plugins(aex)["shout"]["enabled"] is True
    aex.run("plugin", "disable", "shout", check=0)
    assert enabled() == 0 and plugins(aex)["shout"]["enabled"] is False
    aex.run("plugin", "remove", "shout", check=0)
    assert not copy.exists() and installed_files(aex) == []
    assert "shout" not in plugins(aex) and not rows(aex, "SELECT * FROM tool_plugins WHERE name = 'shout'")
    refused_command(aex, "inspect", "shout", naming=["shout"])

    assert plugin_events(aex)[-4:] == ["plugin_installed", "plugin_enabled", "plugin_disabled", "plugin_removed"]
    assert all(events(aex, kind)[-1].get("name") == "shout"
               for kind in ("plugin_enabled", "plugin_disabled", "plugin_removed"))
    aex.run("ledger", "verify", check=0)


def test_enable_disable_and_remove_take_effect_on_the_running_daemon_at_once(proxy, libs):
    started = proxy.aex.state
    record = install(proxy.aex, libs["shout-1.0.0"])
    assert reload_with(proxy, "shout").returncode == 1, "a disabled plugin serves no type"

    proxy.aex.run("plugin", "enable", "shout", check=0)
    reload_with(proxy, "shout", check=0)
    client = proxy.client(proxy.agent("bot", "10"))
    spent = ask_shout(proxy, client, "bot", 0, "HELLO PLUGIN WORLD")

    refused_command(proxy.aex, "disable", "shout", naming=["shout-model"])
    refused_command(proxy.aex, "remove", "shout", naming=["shout-model"])
    assert plugins(proxy.aex)["shout"]["enabled"] is True and Path(record["path"]).exists()
    spent = ask_shout(proxy, client, "bot", spent, "HELLO PLUGIN WORLD")

    proxy.write_config()                                    # shout-model no longer configured
    proxy.aex.run("models", "reload", check=0)
    proxy.aex.run("plugin", "disable", "shout", check=0)
    assert reload_with(proxy, "shout").returncode == 1, "disabled at once"
    proxy.aex.run("plugin", "enable", "shout", check=0)
    reload_with(proxy, "shout", check=0)
    ask_shout(proxy, client, "bot", spent, "HELLO PLUGIN WORLD")

    proxy.write_config()
    proxy.aex.run("models", "reload", check=0)
    proxy.aex.run("plugin", "remove", "shout", check=0)
    assert not Path(record["path"]).exists() and "shout" not in plugins(proxy.aex)
    assert reload_with(proxy, "shout").returncode == 1, "removed at once"
    assert plugin_events(proxy.aex)[-5:] == ["plugin_installed", "plugin_enabled", "plugin_disabled",
                                             "plugin_enabled", "plugin_removed"]
    assert proxy.aex.state == started, "no restart"


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_an_unknown_plugin_name_is_refused_and_named(aex, running):
    if running:
        aex.start()
    for command in ("inspect", "enable", "disable", "remove"):
        refused_command(aex, command, "no-such-plugin", naming=["no-such-plugin"])


def test_a_provider_type_in_use_cannot_be_disabled_while_the_daemon_runs(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    refused_command(proxy.aex, "disable", "openai-compatible", naming=["chat-model"])
    refused_command(proxy.aex, "remove", "openai-compatible")
    assert plugins(proxy.aex)["openai-compatible"]["enabled"] is True
    assert "plugin_disabled" not in plugin_events(proxy.aex)
    assert chat(client).choices[0].message.content == "Hello from the mock provider."


def test_a_provider_type_in_use_cannot_be_disabled_while_the_daemon_is_stopped(aex):
    refused_command(aex, "disable", "echo", naming=["echo-1"])   # the default models.yaml uses echo
    assert plugins(aex)["echo"]["enabled"] is True
    assert "plugin_disabled" not in plugin_events(aex)


NO_ECHO_CONFIG = """version: 1
default_model: gpt-4o-mini
providers:
  openai:
    base_url: https://api.openai.com/v1
    type: openai_compatible
    api_key_env: OPENAI_API_KEY
models:
  gpt-4o-mini:
    provider: openai
    provider_model: gpt-4o-mini
    pricing:
      input_micro: 1
      output_micro: 2
    limits:
      max_tokens: 100
"""


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_a_bundled_plugin_can_be_disabled_but_not_removed(aex, running):
    (aex.home / "config" / "models.yaml").write_text(NO_ECHO_CONFIG)
    if running:
        aex.start()
    echo = plugins(aex)["echo"]
    refused_command(aex, "remove", "echo")
    assert plugins(aex)["echo"] == echo and Path(echo["path"]).exists()
    assert "plugin_removed" not in plugin_events(aex)
    aex.run("plugin", "disable", "echo", check=0)
    assert plugins(aex)["echo"]["enabled"] is False
    aex.run("plugin", "enable", "echo", check=0)
    assert plugins(aex)["echo"]["enabled"] is True
    assert plugin_events(aex)[-2:] == ["plugin_disabled", "plugin_enabled"]


# -------------------------------------------------------------------------------------- integrity

def test_a_tampered_library_is_refused_at_start_and_everything_else_keeps_serving(proxy, libs):
    install(proxy.aex, libs["shout-1.0.0"], "--enable")
    reload_with(proxy, "shout", check=0)
    token = proxy.agent("bot", "10")
    spent = ask_shout(proxy, proxy.client(token), "bot", 0, "HELLO PLUGIN WORLD")

    proxy.aex.stop()
    copy = Path(plugins(proxy.aex)["shout"]["path"])
    with open(copy, "ab") as library:
        library.write(b"\0")
    proxy.aex.start()

    assert inspect(proxy.aex, "shout")["file_matches"] is False
    log = (proxy.aex.home / "logs" / "daemon.log").read_text()
    assert any("shout" in line and "SHA-256" in line for line in log.splitlines()), "the refusal is logged"
    client = proxy.client(token)                            # the new port
    assert chat(client).choices[0].message.content == "Hello from the mock provider."
    spent += 35
    settled(proxy, "bot", spent)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="shout-model", messages=SHOUT_MESSAGES)
    assert 400 <= info.value.status_code < 600, info.value
    settled(proxy, "bot", spent)
    assert chat(client, model="echo-1").choices[0].message.content == "Echo: hello"


def test_enabling_a_tampered_library_is_refused(proxy, libs):
    record = install(proxy.aex, libs["shout-1.0.0"])
    with open(record["path"], "ab") as library:
        library.write(b"\0")
    refused_command(proxy.aex, "enable", "shout", naming=["SHA-256"])
    assert plugins(proxy.aex)["shout"]["enabled"] is False
    assert inspect(proxy.aex, "shout")["file_matches"] is False
    assert reload_with(proxy, "shout").returncode == 1, "the type is not served"
    log = (proxy.aex.home / "logs" / "daemon.log").read_text()
    assert any("shout" in line and "SHA-256" in line for line in log.splitlines()), "the refusal is logged"


def test_a_changed_bundled_library_is_re_recorded_by_daemon_start_and_init(tmp_path):
    """Bundled plugins are as trusted as the binary beside them: a changed file gets a new record
    (`plugin_updated`), not a refusal. Run from a copy of the binary so the build stays untouched."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    built = Path(AEX_BIN).resolve()
    shutil.copy2(built, bin_dir / "aex")
    for library in built.parent.glob("lib*.so"):
        shutil.copy2(library, bin_dir / library.name)
    aex = CopiedAex(tmp_path / "home", bin_dir / "aex")
    aex.run("init", check=0)
    echo_library = bin_dir / "libaex-echo.so"
    assert Path(plugins(aex)["echo"]["path"]).resolve() == echo_library.resolve()
    assert plugins(aex)["echo"]["sha256"] == sha256_of(echo_library)

    with open(echo_library, "ab") as library:               # an ELF with trailing bytes still loads
        library.write(b"\0" * 16)
    aex.start()
    try:
        assert [e.get("name") for e in events(aex, "plugin_updated")] == ["echo"]
        assert plugins(aex)["echo"]["sha256"] == sha256_of(echo_library)
        assert inspect(aex, "echo")["file_matches"] is True
        token = aex.json("agent", "create", "bot", "1", "100")["token"]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{aex.port}/v1", api_key=token, max_retries=0, timeout=10)
        assert chat(client, model="echo-1").choices[0].message.content == "Echo: hello"
    finally:
        aex.stop()

    with open(echo_library, "ab") as library:
        library.write(b"\0" * 16)
    aex.run("init", check=0)
    assert [e.get("name") for e in events(aex, "plugin_updated")] == ["echo", "echo"]
    assert plugins(aex)["echo"]["sha256"] == sha256_of(echo_library)


# ------------------------------------------------------------------------------------------- load

def test_plugin_changes_under_load_fail_no_call(proxy, libs):
    token = proxy.agent("load", "100", "10000000")
    stop, lock = threading.Event(), threading.Lock()
    results = {"ok": 0, "failed": []}

    def caller():
        client = proxy.client(token)
        while not stop.is_set():
            try:
                chat(client)
                with lock:
                    results["ok"] += 1
            except Exception as error:  # collected; the test fails on any
                with lock:
                    results["failed"].append(repr(error))

    def more_calls(count):
        mark = results["ok"]
        return wait_until(lambda: results["ok"] >= mark + count or results["failed"], 10)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert more_calls(8)
        for step in (("install", str(libs["shout-1.0.0"])), ("enable", "shout"), ("disable", "shout"),
                     ("enable", "shout"), ("remove", "shout")):
            proxy.aex.run("plugin", *step, check=0)
            assert more_calls(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    assert results["failed"] == [], results["failed"][:5]
    assert "shout" not in plugins(proxy.aex)
    assert plugin_events(proxy.aex)[-5:] == ["plugin_installed", "plugin_enabled", "plugin_disabled",
                                             "plugin_enabled", "plugin_removed"]
    settled(proxy, "load", 35 * results["ok"])
    proxy.aex.run("ledger", "verify", check=0)
