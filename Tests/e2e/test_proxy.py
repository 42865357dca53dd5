"""The governed OpenAI-compatible proxy, driven by the official `openai` SDK against the real daemon
in front of a mock provider (mock_provider.py): forwarding, settlement to the micro-USD, every row of
the error table (SPEC §4) refused before the provider and without touching balances, upstream
failures releasing reservations, config reload, the echo provider, and the budget invariant under
200 concurrent requests."""
import http.client
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import openai
import pytest

from conftest import AEX_BIN, Aex, wait_until
from mock_provider import MockProvider, close, normal, sleep, status

MOCK_KEY = "sk-mock-secret"
PRICE_IN, PRICE_OUT = 2, 3           # chat-model, vision-model, resp-model, nokey-model, dead-model
MODEL_LIMIT = 100                    # limits.max_tokens of those models
HELLO = [{"role": "user", "content": "hello"}]
ALL_MODELS = {"chat-model", "vision-model", "embed-model", "resp-model", "nokey-model", "dead-model",
              "echo-1", "dotenv-model"}
PROVIDER_MODELS = ("mock-large-v2", "mock-vision-v1", "mock-embed-v1", "mock-resp-v1")
IMAGE_PART = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE="}}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


# ------------------------------------------------------------------------------------ configuration

def _model(name, provider, provider_model, input_micro=PRICE_IN, output_micro=PRICE_OUT, max_tokens=MODEL_LIMIT,
           **capabilities):
    lines = [f"  {name}:", f"    provider: {provider}", f"    provider_model: {provider_model}",
             "    pricing:", f"      input_micro: {input_micro}", f"      output_micro: {output_micro}",
             "    limits:", f"      max_tokens: {max_tokens}"]
    if capabilities:
        lines.append("    capabilities:")
        lines += [f"      {key}: {'true' if value else 'false'}" for key, value in capabilities.items()]
    return "\n".join(lines) + "\n"


def models_yaml(mock_port, dead_port, extra_models=""):
    return f"""# written by Tests/e2e/test_proxy.py
version: 1
default_model: chat-model
providers:
  mock:
    base_url: http://127.0.0.1:{mock_port}/v1
    type: openai_compatible
    api_key_env: MOCK_API_KEY
    timeout_seconds: 2
  nokey:
    base_url: http://127.0.0.1:{mock_port}/v1
    type: openai_compatible
    api_key_env: NOKEY_API_KEY       # never set: provider_not_configured
  dotenv:
    base_url: http://127.0.0.1:{mock_port}/v1
    type: openai_compatible
    api_key_env: DOTENV_API_KEY      # only in AEX_HOME/.env
  dead:
    base_url: http://127.0.0.1:{dead_port}/v1
    type: openai_compatible
    api_key_env: MOCK_API_KEY
    timeout_seconds: 2
  echo:
    base_url: local://echo
    type: echo
models:
""" + "".join([
        _model("chat-model", "mock", "mock-large-v2", tools=True, vision=False),
        _model("vision-model", "mock", "mock-vision-v1", tools=False, vision=True),
        _model("embed-model", "mock", "mock-embed-v1", input_micro=1, output_micro=1, max_tokens=8192,
               embeddings=True, tools=False, vision=False),
        _model("resp-model", "mock", "mock-resp-v1", tools=True, vision=False),
        _model("nokey-model", "nokey", "mock-large-v2", tools=True, vision=False),
        _model("dotenv-model", "dotenv", "mock-large-v2", tools=True, vision=False),
        _model("dead-model", "dead", "mock-large-v2", tools=True, vision=False),
        _model("echo-1", "echo", "echo", input_micro=1, output_micro=1, tools=False, vision=False),
    ]) + extra_models


# ----------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def mock_server():
    server = MockProvider().start()
    yield server
    server.stop()


@pytest.fixture
def mock(mock_server):
    mock_server.reset()
    yield mock_server
    mock_server.reset()


@pytest.fixture(scope="module")
def dead_port():
    """A port nothing listens on (bound then closed)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Proxy:
    """The daemon, its mock provider, and helpers to reach both."""

    def __init__(self, aex: Aex, mock: MockProvider, dead_port: int):
        self.aex, self.mock, self.dead_port = aex, mock, dead_port

    @property
    def port(self):
        return self.aex.port

    @property
    def config_path(self):
        return self.aex.home / "config" / "models.yaml"

    def write_config(self, extra_models="", text=None):
        self.config_path.write_text(text if text is not None else models_yaml(self.mock.port, self.dead_port, extra_models))

    def agent(self, name, usd="10", rpm="100000", *options):
        return self.aex.json("agent", "create", name, usd, rpm, *options)["token"]

    def client(self, token, prefix="/v1", **options):
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}{prefix}", api_key=token,
                             max_retries=0, timeout=10, **options)

    def http(self, method, path, token=None, body=None, headers=None):
        """One raw request; returns (status, headers, parsed JSON or text)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data.decode(errors="replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed

    def balance(self, name):
        """spent/reserved/budget/remaining through the admin API (fast, no CLI process)."""
        code, _, body = self.http("GET", f"/admin/agents/{name}", token=self.aex.admin_token)
        assert code == 200, body
        return {k: body[k] for k in ("spent_micro", "reserved_micro", "budget_micro", "remaining_micro")}

    def inspect(self, name):
        return self.aex.json("agent", "inspect", name)


@pytest.fixture
def proxy(tmp_path, mock, dead_port):
    yield from running_proxy(tmp_path, mock, dead_port)


def running_proxy(tmp_path, mock, dead_port, settings=None):
    """The `proxy` fixture's daemon, with extra `settings` in its environment (a generator for a
    fixture to yield from)."""
    aex = Aex(tmp_path / "home", extra_env={"MOCK_API_KEY": MOCK_KEY, **(settings or {})})
    for name in ("NOKEY_API_KEY", "DOTENV_API_KEY"):
        aex.env.pop(name, None)
    aex.run("init", check=0)
    instance = Proxy(aex, mock, dead_port)
    instance.write_config()
    with open(aex.home / ".env", "a") as env_file:   # the process environment overrides the file
        env_file.write("\nDOTENV_API_KEY=sk-from-dotenv\nMOCK_API_KEY=sk-wrong-from-dotenv\n")
    aex.start()
    yield instance
    if (aex.home / "daemon.json").exists():
        # The graceful stop takes over a second; let it finish in the background (waited for at the
        # end of the module) so the file stays fast.
        _stopping.append(subprocess.Popen([AEX_BIN, "daemon", "stop"], env=aex.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


_stopping = []


@pytest.fixture(scope="module", autouse=True)
def _wait_for_stopping_daemons():
    yield
    for process in _stopping:
        process.wait(timeout=90)
    _stopping.clear()


# ------------------------------------------------------------------------------------------ helpers

def string_bytes(value):
    """UTF-8 bytes of every JSON string value inside `value` (keys excluded)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list):
        return sum(string_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(string_bytes(item) for item in value.values())
    return 0


def reservation(items, completion, input_micro=PRICE_IN, output_micro=PRICE_OUT):
    """SPEC §7 upper bound: (string bytes + 8 per message/item) × input price + completion bound × output price."""
    count = len(items) if isinstance(items, list) else 1
    return (string_bytes(items) + 8 * count) * input_micro + completion * output_micro


def cost(prompt, completion, input_micro=PRICE_IN, output_micro=PRICE_OUT):
    return prompt * input_micro + completion * output_micro


def settled(proxy, name, spent):
    """Exact balance after settlement: spent as given, nothing reserved."""
    balance = proxy.balance(name)
    assert (balance["spent_micro"], balance["reserved_micro"]) == (spent, 0), balance
    assert balance["remaining_micro"] == balance["budget_micro"] - spent, balance
    return balance


def refused(proxy, name, call, exception, status_code, code):
    """`call` raises `exception` with this status and code; the provider saw nothing; balances unchanged."""
    before, seen = proxy.balance(name), proxy.mock.count
    with pytest.raises(openai.APIStatusError) as info:
        call()
    error = info.value
    assert isinstance(error, exception), f"{type(error).__name__} {error.status_code} {error.body}"
    assert error.status_code == status_code, (error.status_code, error.body)
    assert isinstance(error.body, dict) and error.body.get("code") == code, error.body
    assert error.code == code and error.body.get("message"), error.body
    assert {"message", "type", "code", "param"} <= set(error.body), error.body
    assert proxy.mock.count == seen, f"a refused request reached the provider: {proxy.mock.snapshot()[seen:]}"
    assert proxy.balance(name) == before, "a refused request changed a balance"
    return error


def in_flight(proxy, name, call):
    """Runs `call` while the mock holds it; returns (balance sampled mid-call, result)."""
    seen = proxy.mock.count
    proxy.mock.hold()
    box = {}

    def run():
        try:
            box["result"] = call()
        except Exception as error:  # re-raised below, in the test's thread
            box["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not proxy.mock.wait_for(seen + 1, 0.05):
            if not thread.is_alive() or time.monotonic() > deadline:
                thread.join(1)
                raise AssertionError(f"the call never reached the provider: {box}")
        sample = proxy.balance(name)
    finally:
        proxy.mock.release()
        thread.join(20)
    if "error" in box:
        raise box["error"]
    return sample, box["result"]


def chat(client, **fields):
    return client.chat.completions.create(**{"model": "chat-model", "messages": HELLO, **fields})


def models_of(client):
    page = client.models.list()
    return {model.id for model in page.data}


# ----------------------------------------------------------------------------------- the happy path

def test_chat_is_forwarded_governed_and_settled_exactly(proxy):
    token = proxy.agent("bot", "10")
    client = proxy.client(token)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo wörld"}]
    sent = {"model": "chat-model", "messages": messages, "temperature": 0.3, "top_p": 0.9, "seed": 7,
            "stop": ["\n\n"], "user": "alice"}

    sample, raw = in_flight(proxy, "bot", lambda: client.chat.completions.with_raw_response.create(
        **sent, extra_body={"x_custom": {"nested": [1, "two", None]}}))
    assert sample["reserved_micro"] == reservation(messages, MODEL_LIMIT), sample
    assert sample["spent_micro"] == 0
    assert sample["spent_micro"] + sample["reserved_micro"] + sample["remaining_micro"] == sample["budget_micro"]

    completion = raw.parse()
    assert completion.model == "chat-model", "the client sees the alias"
    assert completion.choices[0].message.content == "Hello from the mock provider."
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 5)
    assert not any(name in raw.http_response.text for name in PROVIDER_MODELS), raw.http_response.text
    assert raw.headers["x-aex-execution-id"]
    assert raw.headers["x-aex-cost-micro"] == "35"
    assert raw.headers["x-aex-budget-remaining-micro"] == str(10_000_000 - 35)
    settled(proxy, "bot", 35)
    inspected = proxy.inspect("bot")
    assert (inspected["spent_micro"], inspected["reserved_micro"], inspected["remaining_micro"]) == (35, 0, 10_000_000 - 35)

    upstream = proxy.mock.last()
    assert upstream.method == "POST" and upstream.path == "/v1/chat/completions"
    assert upstream.headers["authorization"] == f"Bearer {MOCK_KEY}", "AEX adds the provider key"
    assert token not in json.dumps(upstream.headers) and token not in upstream.raw.decode()
    assert "x-aex-provider-key" not in upstream.headers
    expected = dict(sent, model="mock-large-v2", max_tokens=MODEL_LIMIT, x_custom={"nested": [1, "two", None]})
    assert upstream.body == expected, "only model replaced and max_tokens added"

    proxy.mock.usage = {"prompt_tokens": 7, "completion_tokens": 11}
    second = chat(client)
    assert second.usage.completion_tokens == 11
    settled(proxy, "bot", 35 + cost(7, 11))
    assert proxy.mock.count == 2


def test_output_limit_added_from_agent_cap_and_client_limits_kept(proxy):
    client = proxy.client(proxy.agent("capped", "10", "1000", "--max-tokens", "40"))
    sample, _ = in_flight(proxy, "capped", lambda: chat(client))
    assert sample["reserved_micro"] == reservation(HELLO, 40)
    assert proxy.mock.last().body["max_tokens"] == 40, "the agent cap, not the model limit"

    chat(client, max_tokens=20)
    assert proxy.mock.last().body["max_tokens"] == 20, "a client limit is forwarded unchanged"

    sample, _ = in_flight(proxy, "capped", lambda: chat(client, max_completion_tokens=30))
    assert sample["reserved_micro"] == reservation(HELLO, 30)
    body = proxy.mock.last().body
    assert body["max_completion_tokens"] == 30 and "max_tokens" not in body, body
    settled(proxy, "capped", 3 * 35)


def test_openai_prefix_serves_the_same_api(proxy):
    token = proxy.agent("bot", "10")
    client = proxy.client(token, prefix="/openai/v1")
    answer = chat(client)
    assert answer.model == "chat-model"
    assert proxy.mock.last().path == "/v1/chat/completions"
    assert models_of(client) == ALL_MODELS
    assert client.embeddings.create(model="embed-model", input="x").model == "embed-model"
    settled(proxy, "bot", 35 + 10)


def test_models_list_shows_only_allowed_aliases(proxy):
    everything = proxy.client(proxy.agent("all", "1"))
    assert models_of(everything) == ALL_MODELS
    limited_token = proxy.agent("limited", "1", "60", "--models", "chat-model,resp-model")
    assert models_of(proxy.client(limited_token)) == {"chat-model", "resp-model"}

    code, _, body = proxy.http("GET", "/v1/models", token=limited_token)
    assert code == 200 and body["object"] == "list", body
    assert sorted(item["id"] for item in body["data"]) == ["chat-model", "resp-model"]
    assert all(item["object"] == "model" for item in body["data"]), body
    assert not any(name in json.dumps(body) for name in PROVIDER_MODELS), body
    assert proxy.mock.count == 0, "listing models never calls the provider"
    settled(proxy, "limited", 0)


def test_embeddings(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    inputs = ["first text", "second"]
    sample, raw = in_flight(proxy, "bot", lambda: client.embeddings.with_raw_response.create(model="embed-model", input=inputs))
    assert sample["reserved_micro"] == reservation(inputs, 0, input_micro=1), "embeddings reserve no completion"
    result = raw.parse()
    assert result.model == "embed-model" and len(result.data) == 2
    assert [item.index for item in result.data] == [0, 1] and len(result.data[0].embedding) == 8
    assert raw.headers["x-aex-cost-micro"] == "10" and raw.headers["x-aex-execution-id"]
    assert raw.headers["x-aex-budget-remaining-micro"] == str(10_000_000 - 10)
    upstream = proxy.mock.last()
    assert upstream.path == "/v1/embeddings"
    assert upstream.headers["authorization"] == f"Bearer {MOCK_KEY}"
    assert upstream.body == {"model": "mock-embed-v1", "input": inputs, "encoding_format": "base64"}
    settled(proxy, "bot", 10)


def test_responses(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    sample, raw = in_flight(proxy, "bot", lambda: client.responses.with_raw_response.create(
        model="resp-model", input="Say hi", temperature=0.5))
    assert sample["reserved_micro"] == reservation("Say hi", MODEL_LIMIT)
    response = raw.parse()
    assert response.model == "resp-model"
    assert response.output_text == "Hello from the mock provider."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    assert "mock-resp-v1" not in raw.http_response.text
    assert raw.headers["x-aex-cost-micro"] == "35" and raw.headers["x-aex-execution-id"]
    assert raw.headers["x-aex-budget-remaining-micro"] == str(10_000_000 - 35)
    upstream = proxy.mock.last()
    assert upstream.path == "/v1/responses"
    assert upstream.headers["authorization"] == f"Bearer {MOCK_KEY}"
    assert upstream.body == {"model": "mock-resp-v1", "input": "Say hi", "temperature": 0.5,
                             "max_output_tokens": MODEL_LIMIT}

    proxy.mock.usage = {"prompt_tokens": 4, "completion_tokens": 9}
    items = [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    client.responses.create(model="resp-model", input=items, max_output_tokens=12)
    assert proxy.mock.last().body["max_output_tokens"] == 12
    settled(proxy, "bot", 35 + cost(4, 9))


def test_provider_key_from_dotenv_and_environment_overrides_it(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    chat(client, model="dotenv-model")
    assert proxy.mock.last().headers["authorization"] == "Bearer sk-from-dotenv"
    chat(client)
    assert proxy.mock.last().headers["authorization"] == f"Bearer {MOCK_KEY}", "the environment wins over .env"
    settled(proxy, "bot", 70)


def test_echo_provider_through_the_sdk(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    raw = client.chat.completions.with_raw_response.create(
        model="echo-1", messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": "ping"}])
    answer = raw.parse()
    assert answer.model == "echo-1"
    assert answer.choices[0].message.content == "Echo: ping"
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    expected = cost(answer.usage.prompt_tokens, answer.usage.completion_tokens, 1, 1)
    assert raw.headers["x-aex-cost-micro"] == str(expected)
    assert proxy.mock.count == 0, "the echo provider is offline"
    settled(proxy, "bot", expected)


# -------------------------------------------------------------------------------- the error table

def test_authentication_errors(proxy):
    token = proxy.agent("bot", "10")
    for key, code in [("", "missing_api_key"), ("aex_" + "x" * 44, "invalid_api_key"), ("nonsense", "invalid_api_key"),
                      (token + "x", "invalid_api_key"), (proxy.aex.admin_token, "invalid_api_key")]:
        client = proxy.client(key)
        refused(proxy, "bot", lambda: chat(client), openai.AuthenticationError, 401, code)
        refused(proxy, "bot", lambda: client.models.list(), openai.AuthenticationError, 401, code)
    basic = proxy.client(token, default_headers={"Authorization": "Basic Ym90OnNlY3JldA=="})
    refused(proxy, "bot", lambda: chat(basic), openai.AuthenticationError, 401, "missing_api_key")
    code, headers, body = proxy.http("POST", "/v1/chat/completions", body={"model": "chat-model", "messages": HELLO})
    assert (code, body["error"]["code"]) == (401, "missing_api_key") and headers.get("x-request-id")
    settled(proxy, "bot", 0)


def test_expired_token(proxy):
    client = proxy.client(proxy.agent("brief", "10", "60", "--ttl", "1s"))
    time.sleep(2.2)
    refused(proxy, "brief", lambda: chat(client), openai.AuthenticationError, 401, "expired_api_key")


def test_read_only_token(proxy):
    client = proxy.client(proxy.agent("reader", "10", "60", "--read-only"))
    for call in (lambda: chat(client), lambda: client.embeddings.create(model="embed-model", input="x"),
                 lambda: client.responses.create(model="resp-model", input="x")):
        refused(proxy, "reader", call, openai.PermissionDeniedError, 403, "read_only_token")
    assert models_of(client) == ALL_MODELS


def test_paused_agent(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    proxy.aex.run("agent", "pause", "bot", check=0)
    for call in (lambda: chat(client), lambda: client.embeddings.create(model="embed-model", input="x"),
                 lambda: client.responses.create(model="resp-model", input="x")):
        error = refused(proxy, "bot", call, openai.APIStatusError, 423, "agent_paused")
        assert type(error) is openai.APIStatusError
    assert models_of(client) == ALL_MODELS, "/v1/models still answers while paused"
    proxy.aex.run("agent", "resume", "bot", check=0)
    chat(client)
    settled(proxy, "bot", 35)


def test_invalid_requests(proxy):
    token = proxy.agent("bot", "10")
    client = proxy.client(token)
    bad = openai.BadRequestError
    refused(proxy, "bot", lambda: chat(client, messages=[]), bad, 400, "invalid_request")
    refused(proxy, "bot", lambda: chat(client, extra_body={"messages": "hello"}), bad, 400, "invalid_request")
    refused(proxy, "bot", lambda: chat(client, extra_body={"messages": {"role": "user"}}), bad, 400, "invalid_request")
    refused(proxy, "bot", lambda: chat(client, max_tokens=MODEL_LIMIT + 1), bad, 400, "invalid_request")
    refused(proxy, "bot", lambda: chat(client, extra_body={"max_tokens": "ten"}), bad, 400, "invalid_request")
    for body in (b'{"model": "chat-model", "messages": [', b"not json", b"[1, 2]", b""):
        seen = proxy.mock.count
        code, _, answer = proxy.http("POST", "/v1/chat/completions", token=token, body=body,
                                     headers={"Content-Type": "application/json"})
        assert code == 400 and answer["error"]["code"] == "invalid_request", (body, code, answer)
        assert proxy.mock.count == seen
    settled(proxy, "bot", 0)


def test_model_not_allowed(proxy):
    client = proxy.client(proxy.agent("bot", "10", "60", "--models", "chat-model,embed-model"))
    denied = openai.PermissionDeniedError
    refused(proxy, "bot", lambda: chat(client, model="no-such-model"), denied, 403, "model_not_allowed")
    refused(proxy, "bot", lambda: chat(client, model="mock-large-v2"), denied, 403, "model_not_allowed")
    refused(proxy, "bot", lambda: chat(client, model="resp-model"), denied, 403, "model_not_allowed")
    refused(proxy, "bot", lambda: client.responses.create(model="resp-model", input="x"), denied, 403, "model_not_allowed")
    chat(client)
    settled(proxy, "bot", 35)


def test_unsupported_capability(proxy):
    client = proxy.client(proxy.agent("bot", "10", "60", "--allow-vision"))
    bad = openai.BadRequestError
    refused(proxy, "bot", lambda: chat(client, model="vision-model", tools=TOOLS), bad, 400, "unsupported_capability")
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this"}, IMAGE_PART]}]
    refused(proxy, "bot", lambda: chat(client, messages=image), bad, 400, "unsupported_capability")
    chat(client, model="vision-model", messages=image)   # the model that has vision, for an agent allowed it
    chat(client, tools=TOOLS)                            # the model that has tools
    assert proxy.mock.last().body["tools"] == TOOLS
    settled(proxy, "bot", 70)


def test_policy_violations(proxy):
    denied = openai.PermissionDeniedError
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this"}, IMAGE_PART]}]

    no_tools = proxy.client(proxy.agent("notools", "10", "60", "--no-tools"))
    refused(proxy, "notools", lambda: chat(no_tools, tools=TOOLS), denied, 403, "policy_violation")

    no_vision = proxy.client(proxy.agent("novision", "10", "60"))
    refused(proxy, "novision", lambda: chat(no_vision, model="vision-model", messages=image), denied, 403, "policy_violation")

    capped = proxy.client(proxy.agent("capped", "10", "60", "--max-tokens", "50"))
    refused(proxy, "capped", lambda: chat(capped, max_tokens=60), denied, 403, "policy_violation")
    refused(proxy, "capped", lambda: client_responses(capped, max_output_tokens=51), denied, 403, "policy_violation")

    plain = proxy.client(proxy.agent("plain", "10", "60"))
    refused(proxy, "plain", lambda: chat(plain, extra_headers={"x-aex-provider-key": "sk-user-own"}),
            denied, 403, "policy_violation")

    no_stream = proxy.client(proxy.agent("nostream", "10", "60", "--no-streaming"))
    refused(proxy, "nostream", lambda: chat(no_stream, stream=True), denied, 403, "policy_violation")
    refused(proxy, "nostream", lambda: client_responses(no_stream, stream=True), denied, 403, "policy_violation")

    chat(capped, max_tokens=50)   # at the cap is fine
    settled(proxy, "capped", 35)


def client_responses(client, **fields):
    return client.responses.create(**{"model": "resp-model", "input": "hello", **fields})


def test_checks_run_in_spec_order(proxy):
    token = proxy.agent("bot", "10", "60", "--models", "chat-model", "--no-tools")
    client = proxy.client(token)
    proxy.aex.run("agent", "pause", "bot", check=0)
    # lifecycle (paused) comes before request validity and model checks
    refused(proxy, "bot", lambda: chat(client, model="nope", messages=[]), openai.APIStatusError, 423, "agent_paused")
    proxy.aex.run("agent", "resume", "bot", check=0)
    # validity before model, model before policy
    refused(proxy, "bot", lambda: chat(client, model="nope", messages=[]), openai.BadRequestError, 400, "invalid_request")
    refused(proxy, "bot", lambda: chat(client, model="resp-model", tools=TOOLS), openai.PermissionDeniedError, 403,
            "model_not_allowed")
    # policy before budget
    proxy.aex.run("agent", "update", "bot", "--budget", "0", check=0)
    refused(proxy, "bot", lambda: chat(client, tools=TOOLS), openai.PermissionDeniedError, 403, "policy_violation")
    refused(proxy, "bot", lambda: chat(client, max_tokens=10), openai.APIStatusError, 402, "budget_exceeded")


def test_rate_limit(proxy):
    client = proxy.client(proxy.agent("slow", "10", "2"))
    chat(client)
    chat(client)
    error = refused(proxy, "slow", lambda: chat(client), openai.RateLimitError, 429, "rate_limit_exceeded")
    retry_after = error.response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after
    assert proxy.mock.count == 2
    settled(proxy, "slow", 70)


def test_refusals_consume_no_rate_capacity(proxy):
    client = proxy.client(proxy.agent("slow", "10", "2", "--models", "chat-model"))
    for _ in range(3):
        refused(proxy, "slow", lambda: chat(client, model="resp-model"), openai.PermissionDeniedError, 403,
                "model_not_allowed")
        refused(proxy, "slow", lambda: chat(client, messages=[]), openai.BadRequestError, 400, "invalid_request")
    chat(client)
    chat(client)
    settled(proxy, "slow", 70)


def test_budget_exceeded(proxy):
    client = proxy.client(proxy.agent("poor", "0.0001", "60"))        # 100 micro
    error = refused(proxy, "poor", lambda: chat(client, max_tokens=50), openai.APIStatusError, 402, "budget_exceeded")
    assert type(error) is openai.APIStatusError
    broke = proxy.client(proxy.agent("broke", "0", "60"))
    refused(proxy, "broke", lambda: chat(broke, max_tokens=1), openai.APIStatusError, 402, "budget_exceeded")
    refused(proxy, "broke", lambda: broke.embeddings.create(model="embed-model", input="x"), openai.APIStatusError, 402,
            "budget_exceeded")


def test_reservation_boundary_is_exact(proxy):
    bound = reservation(HELLO, 50)                                     # (4 + 5 + 8) × 2 + 50 × 3 = 184
    assert bound == 184
    client = proxy.client(proxy.agent("edge", f"0.{bound - 1:06d}", "60"))
    refused(proxy, "edge", lambda: chat(client, max_tokens=50), openai.APIStatusError, 402, "budget_exceeded")
    proxy.aex.run("agent", "update", "edge", "--add-budget", "0.000001", check=0)
    sample, _ = in_flight(proxy, "edge", lambda: chat(client, max_tokens=50))
    assert sample == {"spent_micro": 0, "reserved_micro": bound, "budget_micro": bound, "remaining_micro": 0}
    settled(proxy, "edge", 35)


def test_provider_not_configured(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    refused(proxy, "bot", lambda: chat(client, model="nokey-model"), openai.InternalServerError, 503,
            "provider_not_configured")


def test_request_too_large(proxy):
    token = proxy.agent("bot", "10")
    size = 8 * 1024 * 1024 + 4096
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode()
    prefix = b'{"model": "chat-model", "messages": [{"role": "user", "content": "'
    suffix = b'"}]}'
    body = prefix + b"a" * (size - len(prefix) - len(suffix)) + suffix
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(head)
    sender = None
    if not select.select([sock], [], [], 1.0)[0]:
        # No early answer from the Content-Length alone: send the body; the server may still answer
        # and close before taking all of it.
        def pump():
            try:
                sock.sendall(body)
            except OSError:
                pass
        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head_bytes, rest = data.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    sock.close()
    if sender:
        sender.join(10)
    assert int(lines[0].split()[1]) == 413, lines[0]
    assert json.loads(rest[:length])["error"]["code"] == "request_too_large"
    assert proxy.mock.count == 0
    settled(proxy, "bot", 0)


# --------------------------------------------------------------------------- provider failures relayed

@pytest.mark.parametrize("code, exception", [(400, openai.BadRequestError), (429, openai.RateLimitError),
                                             (500, openai.InternalServerError)])
def test_provider_error_is_relayed_and_releases(proxy, code, exception):
    client = proxy.client(proxy.agent("bot", "10"))
    chat(client)
    provider_error = {"message": f"the provider said no ({code})", "type": "provider_error_type",
                      "code": f"provider_{code}", "param": "messages"}
    proxy.mock.push(status(code, {"error": provider_error}))
    with pytest.raises(exception) as info:
        chat(client)
    assert info.value.status_code == code
    assert info.value.body == provider_error, "the provider's OpenAI-shaped body is relayed"
    assert proxy.mock.count == 2
    settled(proxy, "bot", 35)


def test_provider_error_with_a_foreign_body_is_wrapped(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    proxy.mock.push(status(500, "<html>upstream exploded</html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(openai.InternalServerError) as info:
        chat(client)
    assert info.value.status_code == 500
    assert isinstance(info.value.body, dict) and info.value.body.get("message"), info.value.body
    settled(proxy, "bot", 0)


def test_dead_provider_is_502_and_releases(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    chat(client)
    with pytest.raises(openai.InternalServerError) as info:
        chat(client, model="dead-model")
    assert (info.value.status_code, info.value.code) == (502, "upstream_unavailable"), info.value.body
    settled(proxy, "bot", 35)


def test_provider_closing_the_connection_is_502_and_releases(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    chat(client)
    proxy.mock.default = close()        # every attempt, so a client-side retry cannot succeed
    with pytest.raises(openai.InternalServerError) as info:
        chat(client)
    assert (info.value.status_code, info.value.code) == (502, "upstream_unavailable"), info.value.body
    assert proxy.mock.count >= 2
    settled(proxy, "bot", 35)


def test_provider_ending_idle_connections_costs_nothing_and_next_calls_reconnect(proxy):
    """AEX keeps a provider connection it is not using in its event loop; when the provider ends
    such idle keep-alives, AEX neither spins on them nor fails the next calls."""
    client = proxy.client(proxy.agent("bot", "10"))
    for _ in range(3):
        chat(client)
    opened = proxy.mock.connections_opened
    assert opened >= 1
    proxy.mock.close_connections()
    time.sleep(0.3)
    pid = proxy.aex.state["pid"]

    def cpu_ticks():
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])   # utime + stime

    before = cpu_ticks()
    time.sleep(1.0)
    idle_ticks = cpu_ticks() - before
    assert idle_ticks <= 20, f"the idle daemon used {idle_ticks} ticks in 1 s (spinning on a closed connection?)"
    for _ in range(3):
        chat(client)
    assert proxy.mock.connections_opened > opened, "calls after the close used a new connection"
    settled(proxy, "bot", 6 * 35)


def test_settlement_the_ledger_refused_is_written_again_until_it_lands(proxy):
    """The ledger cannot take a settlement (here another process holds the database's write lock
    past the busy timeout): the client gets 500 `ledger_unavailable`, and AEX writes the
    settlement again until it lands — the database ends with the actual cost, nothing open, and a
    chain that verifies, instead of a reservation left for the next start to charge whole."""
    client = proxy.client(proxy.agent("bot", "10"))
    proxy.mock.hold()
    outcome = {}

    def call():
        try:
            outcome["answer"] = chat(client)
        except openai.APIStatusError as error:
            outcome["error"] = error

    caller = threading.Thread(target=call)
    caller.start()
    assert proxy.mock.wait_for(1)                       # reserved, durable, at the provider
    database = sqlite3.connect(proxy.aex.home / "aex.db", timeout=10, isolation_level=None)
    database.execute("BEGIN IMMEDIATE")                 # the writer's next transaction waits, then fails
    try:
        proxy.mock.release()
        caller.join(timeout=30)
        assert not caller.is_alive()
        error = outcome.get("error")
        assert error is not None and (error.status_code, error.code) == (500, "ledger_unavailable"), outcome
        state, cost = database.execute("SELECT state, cost_micro FROM executions").fetchone()
        assert (state, cost) == ("DISPATCHED", None), "the settlement did not land while the lock was held"
    finally:
        database.execute("ROLLBACK")
        database.close()
    reader = sqlite3.connect(f"file:{proxy.aex.home / 'aex.db'}?mode=ro", uri=True)
    assert wait_until(lambda: reader.execute("SELECT state FROM executions").fetchone()[0] == "COMMITTED", timeout=10)
    assert reader.execute("SELECT cost_micro FROM executions").fetchone()[0] == 35
    assert reader.execute("SELECT spent_micro, reserved_micro FROM agents WHERE name = 'bot'").fetchone() == (35, 0)
    assert [row[0] for row in reader.execute("SELECT type FROM event_log WHERE execution_id IS NOT NULL ORDER BY seq")] == \
        ["reservation", "commit"]
    reader.close()
    settled(proxy, "bot", 35)
    proxy.aex.run("ledger", "verify", check=0)
    assert "settlement recorded after retrying" in (proxy.aex.home / "logs" / "daemon.log").read_text()


def loopback_hostname():
    """A name of this machine that resolves to 127.0.0.1 through the system resolver (so libcurl
    resolves it on its resolver thread; it answers `localhost` itself), or None."""
    for name in (socket.gethostname(), "runsc", "vm"):
        try:
            if name != "localhost" and socket.gethostbyname(name) == "127.0.0.1":
                return name
        except OSError:
            continue
    return None


def test_provider_named_by_hostname_answers_at_once(proxy):
    """A provider named by a host name: libcurl resolves it on a thread that signals through a
    socket pair it closes itself. The next socket may reuse that number; AEX must watch it anew
    rather than take it for a connection it already watches (the call would wait for a timer)."""
    name = loopback_hostname()
    if name is None:
        pytest.skip("no name of this machine resolves to 127.0.0.1")
    proxy.write_config(text=models_yaml(proxy.mock.port, proxy.dead_port).replace("127.0.0.1", name))
    proxy.aex.run("models", "reload", check=0)
    token = proxy.agent("bot", "10")
    chat(proxy.client(token), model="echo-1")      # the SDK's first call is slow on its own; no provider socket
    durations = []
    for _ in range(8):                    # a new client connection each time: both event loops serve
        client = proxy.client(token)
        started = time.monotonic()
        chat(client)
        durations.append(time.monotonic() - started)
        client.close()
    assert all(request.headers.get("host", "").startswith(name) for request in proxy.mock.snapshot())
    assert max(durations) < 0.15, [round(d, 3) for d in durations]


def test_provider_timeout_is_504_and_releases(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    chat(client)
    proxy.mock.push(sleep(4))           # timeout_seconds: 2
    box = {}

    def call():
        started = time.monotonic()
        try:
            chat(client)
        except openai.APIStatusError as error:
            box["error"] = error
        box["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=call)
    thread.start()
    assert proxy.mock.wait_for(2, 5)
    mid = proxy.balance("bot")
    assert (mid["spent_micro"], mid["reserved_micro"]) == (35, reservation(HELLO, MODEL_LIMIT)), mid
    thread.join(15)
    error = box.get("error")
    assert error is not None, box
    assert (error.status_code, error.code) == (504, "upstream_timeout"), error.body
    assert isinstance(error, openai.InternalServerError)
    assert 1.5 <= box["elapsed"] < 4, box
    settled(proxy, "bot", 35)


# ----------------------------------------------------------------------------------------- reload

EXTRA_MODEL = _model("extra-model", "mock", "mock-large-v2", tools=True, vision=False)
BROKEN_SYNTAX = "  broken-model: {provider: mock}\n"       # flow mappings are not accepted
BROKEN_PROVIDER = _model("ghost-model", "ghost", "x")      # unknown provider
BROKEN_PRICING = "  unpriced-model:\n    provider: mock\n    provider_model: x\n    limits:\n      max_tokens: 5\n"


def assert_unchanged(proxy, client, listed):
    assert proxy.aex.run("models", "list", check=0).stdout == listed
    assert models_of(client) == ALL_MODELS
    chat(client)


def test_reload_through_the_cli(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    listed = proxy.aex.run("models", "list", check=0).stdout
    assert "chat-model" in listed
    for broken in (BROKEN_SYNTAX, BROKEN_PROVIDER, BROKEN_PRICING):
        proxy.write_config(broken)
        result = proxy.aex.run("models", "reload")
        assert result.returncode == 1, (broken, result.stdout, result.stderr)
        assert result.stderr.strip(), "the reason is reported"
        assert_unchanged(proxy, client, listed)
    proxy.write_config(BROKEN_SYNTAX)
    syntax = proxy.aex.run("models", "reload")
    assert re.search(r"models\.yaml:\d+:\d+", syntax.stderr), f"file:line:column expected: {syntax.stderr}"

    proxy.write_config(EXTRA_MODEL)
    proxy.aex.run("models", "reload", check=0)
    assert models_of(client) == ALL_MODELS | {"extra-model"}
    assert "extra-model" in proxy.aex.run("models", "list", check=0).stdout
    assert chat(client, model="extra-model").model == "extra-model"
    assert proxy.mock.last().body["model"] == "mock-large-v2"


def test_reload_through_the_admin_api(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    listed = proxy.aex.run("models", "list", check=0).stdout
    admin = proxy.aex.admin_token
    for broken in (BROKEN_SYNTAX, BROKEN_PROVIDER):
        proxy.write_config(broken)
        code, _, body = proxy.http("POST", "/admin/reload_config", token=admin)
        assert code == 400 and body["error"]["code"] == "invalid_config", body
        assert body["error"]["message"]
        assert_unchanged(proxy, client, listed)
    code, _, body = proxy.http("POST", "/admin/reload_config", token=proxy.agent("other", "1"))
    assert code == 401, "an agent token never works on admin routes"
    proxy.write_config(EXTRA_MODEL)
    code, _, body = proxy.http("POST", "/admin/reload_config", token=admin)
    assert code == 200, body
    assert models_of(client) == ALL_MODELS | {"extra-model"}


def test_reload_on_sighup(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    listed = proxy.aex.run("models", "list", check=0).stdout
    pid = proxy.aex.state["pid"]
    proxy.write_config(BROKEN_PRICING)
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.5)
    code, _, body = proxy.http("GET", "/health")
    assert code == 200 and body["status"] == "ok", "SIGHUP with a broken file keeps the daemon up"
    assert_unchanged(proxy, client, listed)
    proxy.write_config(EXTRA_MODEL)
    os.kill(pid, signal.SIGHUP)
    assert wait_until(lambda: "extra-model" in models_of(client), 5)
    assert proxy.aex.state["pid"] == pid


# ------------------------------------------------------------------------------------ concurrency

def test_budget_holds_under_200_concurrent_requests(proxy):
    messages = [{"role": "user", "content": "concurrency probe"}]
    per_call = reservation(messages, 20)                                  # (4 + 17 + 8) × 2 + 20 × 3 = 118
    budget = 10 * per_call
    cost_per_call = cost(10, 5)
    client = proxy.client(proxy.agent("crowd", f"0.{budget:06d}", "100000000"))
    proxy.mock.default = normal(delay=0.08)
    callers = 200
    barrier = threading.Barrier(callers + 1)
    outcomes = [None] * callers
    done = threading.Event()
    samples = []

    def caller(index):
        barrier.wait()
        try:
            chat(client, messages=messages, max_tokens=20)
            outcomes[index] = 200
        except openai.APIStatusError as error:
            outcomes[index] = (error.status_code, error.code)
        except Exception as error:
            outcomes[index] = repr(error)

    def sampler():
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        headers = {"Authorization": f"Bearer {proxy.aex.admin_token}"}
        while not done.is_set():
            connection.request("GET", "/admin/agents/crowd", headers=headers)
            body = json.loads(connection.getresponse().read())
            samples.append((body["spent_micro"], body["reserved_micro"], body["budget_micro"]))
        connection.close()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    watcher = threading.Thread(target=sampler)
    watcher.start()
    barrier.wait()
    for thread in threads:
        thread.join(60)
    done.set()
    watcher.join(10)

    successes = outcomes.count(200)
    others = [o for o in outcomes if o != 200]
    assert all(o == (402, "budget_exceeded") for o in others), sorted(set(map(str, others)))
    assert successes >= 10, "the first ten reservations fit the budget"
    assert others, "the budget ran out"
    assert samples and all(spent + reserved <= limit for spent, reserved, limit in samples), \
        [s for s in samples if s[0] + s[1] > s[2]][:5]
    assert any(reserved > 0 for _, reserved, _ in samples), "sampled while calls were in flight"
    final = settled(proxy, "crowd", successes * cost_per_call)
    assert final["spent_micro"] <= budget
    assert proxy.mock.count == successes
    assert proxy.inspect("crowd")["reserved_micro"] == 0


# --------------------------------------------------------------------------- streaming (SPEC §7)

def test_streamed_chat_costs_the_same_and_hides_the_usage_chunk(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    chunks = list(chat(client, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the mock provider."
    assert all(c.model == "chat-model" for c in chunks)
    assert all(c.usage is None for c in chunks), "the usage chunk AEX asked for is removed"
    upstream = proxy.mock.last().body
    assert upstream["stream"] is True and upstream["stream_options"]["include_usage"] is True
    settled(proxy, "bot", 35)
    with_usage = list(chat(client, stream=True, stream_options={"include_usage": True}))
    assert with_usage[-1].usage.completion_tokens == 5
    settled(proxy, "bot", 70)
