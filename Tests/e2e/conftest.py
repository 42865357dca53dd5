"""Fixtures for end-to-end tests: the real `aex` binary in a temporary AEX_HOME."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

AEX_BIN = os.environ.get("AEX_BIN", str(Path(__file__).resolve().parents[2] / ".build" / "debug" / "aex"))


class Aex:
    """Runs `aex` against one AEX_HOME."""

    def __init__(self, home: Path, extra_env=None):
        self.home = home
        self.env = dict(os.environ, AEX_HOME=str(home), NO_COLOR="1")
        self.env.update(extra_env or {})

    def run(self, *args, check=None, timeout=60):
        result = subprocess.run([AEX_BIN, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert result.returncode == check, f"aex {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result

    def json(self, *args):
        return json.loads(self.run(*args, "--json", check=0).stdout)

    @property
    def admin_token(self):
        return (self.home / "admin.token").read_text().strip()

    @property
    def state(self):
        return json.loads((self.home / "daemon.json").read_text())

    @property
    def port(self):
        return self.state["port"]

    def start(self, *extra):
        self.run("daemon", "start", "--port", "0", *extra, check=0)
        return self.state

    def stop(self):
        return self.run("daemon", "stop", check=0)

    def add_dummy_provider_keys(self):
        """A placeholder key in `.env` (kept 0600) for every provider of the default models.yaml
        that needs one, so `aex doctor` can pass (the key is never sent anywhere here)."""
        env_file = self.home / ".env"
        with open(env_file, "a") as keys:
            keys.write("OPENAI_API_KEY=sk-dummy-for-doctor\n")
        os.chmod(env_file, 0o600)


@pytest.fixture
def aex(tmp_path):
    instance = Aex(tmp_path / "home")
    instance.run("init", check=0)
    yield instance
    if (instance.home / "daemon.json").exists():
        instance.run("daemon", "stop")


@pytest.fixture
def daemon(aex):
    aex.start()
    return aex


def wait_until(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
