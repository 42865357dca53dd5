"""The CLI as a user drives it: init, agents with and without a daemon, exit codes, money."""
import json
import os
import stat

import pytest

from conftest import Aex


def test_version_and_help(aex):
    assert aex.run("version", check=0).stdout.strip().startswith("aex ")
    assert "agent create" in aex.run("--help", check=0).stdout
    for words in (["version"], ["init"], ["daemon", "start"], ["daemon", "stop"], ["daemon", "status"],
                  ["agent", "create"], ["agent", "list"], ["agent", "inspect"], ["agent", "update"],
                  ["agent", "pause"], ["agent", "resume"], ["agent", "delete"], ["agent", "rotate-token"]):
        out = aex.run(*words, "--help", check=0).stdout
        assert out.startswith("usage: aex " + " ".join(words)), out
    assert "commands:" in aex.run("agent", "--help", check=0).stdout


def test_init_is_idempotent_and_never_overwrites(tmp_path):
    aex = Aex(tmp_path / "fresh")
    first = aex.run("init", check=0)
    assert "admin token written" in first.stdout
    token = aex.admin_token
    assert token.startswith("aexadmin_")
    assert stat.S_IMODE(os.stat(aex.home / "admin.token").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(aex.home / ".env").st_mode) == 0o600
    for path in ("aex.db", "config/models.yaml", "plugins", "logs"):
        assert (aex.home / path).exists(), path
    config = aex.home / "config" / "models.yaml"
    config.write_text("# mine\n")
    second = aex.run("init", check=0)
    assert "nothing was overwritten" in second.stdout
    assert config.read_text() == "# mine\n"
    assert aex.admin_token == token


def test_usage_errors_exit_2(aex):
    cases = [
        ["agent", "create", "bot", "-1", "60"],          # negative money
        ["agent", "create", "bot", "1.0000001", "60"],   # more than 6 decimals
        ["agent", "create", "bot", "9223372036855", "60"],  # overflows Int64 micro-USD
        ["agent", "create", "bot", "abc", "60"],
        ["agent", "create", "bot", "1"],                 # missing RPM
        ["agent", "create", "bot", "1", "0"],            # RPM must be positive
        ["agent", "create", "bot", "1", "60", "--bogus"],
        ["agent", "create", "bot", "1", "60", "--ttl", "5w"],
        ["agent", "create", "bad name", "1", "60"],
        ["agent", "create", "bot", "1", "60", "--tools", "a", "--no-tools"],
        ["agent", "update", "bot"],                      # nothing to change
        ["agent", "frobnicate"],
        ["nonsense"],
    ]
    for args in cases:
        result = aex.run(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("aex: "), (args, result.stderr)
        assert "usage" in result.stderr or "aex --help" in result.stderr, (args, result.stderr)
    assert aex.json("agent", "list") == [], "no usage error created anything"


def agent_lifecycle(aex):
    """The whole management surface; works the same with and without a daemon."""
    created = aex.json("agent", "create", "bot", "2.01", "60", "--tpm", "5000", "--models", "m1,m2",
                       "--max-tokens", "256", "--ttl", "7d", "--allow-vision")
    token = created["token"]
    assert token.startswith("aex_") and len(token) >= 44
    assert created["budget_micro"] == 2_010_000
    assert created["remaining_micro"] == 2_010_000
    assert created["spent_micro"] == 0 and created["reserved_micro"] == 0
    assert created["models"] == ["m1", "m2"] and created["tools"] is None
    assert created["tpm"] == 5000 and created["max_tokens"] == 256 and created["vision"] is True
    assert created["state"] == "active" and created["token_expires_at"] is not None
    assert token.startswith(created["token_prefix"])

    human = aex.run("agent", "create", "other", "0", "1", "--no-tools", "--no-streaming", "--read-only", check=0).stdout
    other_token = [line.split(": ", 1)[1] for line in human.splitlines() if line.startswith("token")][0]
    assert other_token.startswith("aex_")

    duplicate = aex.run("agent", "create", "bot", "1", "1")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr

    listed = aex.json("agent", "list")
    assert [a["name"] for a in listed] == ["bot", "other"]
    assert all("token" not in a for a in listed), "the secret is never shown again"
    assert listed[1]["tools"] == [] and listed[1]["streaming"] is False and listed[1]["read_only"] is True
    table = aex.run("agent", "list", check=0).stdout
    assert "bot" in table and "2.01" in table
    assert "MODELS" in aex.run("agent", "list", "--verbose", check=0).stdout

    inspected = aex.json("agent", "inspect", "bot")
    assert inspected["token_prefix"] == created["token_prefix"] and "token" not in inspected
    assert token not in aex.run("agent", "inspect", "bot", check=0).stdout

    updated = aex.json("agent", "update", "bot", "--add-budget", "0.99", "--rpm", "120", "--all-models", "--no-tpm")
    assert updated["budget_micro"] == 3_000_000 and updated["rpm"] == 120
    assert updated["models"] is None and updated["tpm"] is None
    assert aex.json("agent", "update", "bot", "--budget", "0.29")["budget_micro"] == 290_000

    assert aex.json("agent", "pause", "bot")["state"] == "paused"
    assert aex.json("agent", "resume", "bot")["state"] == "active"

    rotated = aex.json("agent", "rotate-token", "bot", "--ttl", "12h")
    assert rotated["token"] != token and rotated["token"].startswith(rotated["token_prefix"])

    missing = aex.run("agent", "pause", "ghost")
    assert missing.returncode == 1 and "ghost" in missing.stderr

    aex.run("agent", "delete", "other", check=0)
    assert aex.run("agent", "inspect", "other").returncode == 1
    assert [a["name"] for a in aex.json("agent", "list")] == ["bot"]
    assert aex.json("agent", "create", "other", "1", "1")["name"] == "other", "a deleted name may be reused"
    return rotated["token"]


def test_agent_management_without_daemon(aex):
    agent_lifecycle(aex)


def test_agent_management_through_running_daemon(daemon):
    token = agent_lifecycle(daemon)
    # The daemon holds the writer lock, so the CLI must have gone through its admin API; the change
    # is visible at once in the daemon's authentication (agent token refused on an admin route).
    import urllib.request, urllib.error
    request = urllib.request.Request(f"http://127.0.0.1:{daemon.port}/admin/agents",
                                     headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["error"]["code"] == "invalid_api_key"


def test_money_is_exact(aex):
    for text, micro in [("2.01", 2_010_000), ("0.000001", 1), ("0.29", 290_000), ("1.1", 1_100_000),
                        ("9223372036854.775807", 9_223_372_036_854_775_807)]:
        name = "m" + str(micro)
        assert aex.json("agent", "create", name, text, "1")["budget_micro"] == micro
