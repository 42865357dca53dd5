"""The `anthropic` provider plugin: OpenAI chat completions translated to Anthropic's Messages API,
driven by the official `openai` SDK through the real daemon, in front of a mock of the Messages API
(anthropic_mock.py) that refuses, as Anthropic does, anything outside that API. Requests: headers,
system prompt, merged turns, content blocks, images, tools, tool choice, tool results, output limits,
parameters refused before the provider; answers: text, tool calls, finish reasons, the alias, usage
with the cache counts, exact settlement; provider errors relayed OpenAI-shaped; streams translated
chunk by chunk (text, tool calls, usage), costing what the plain call costs, mid-stream errors and
client disconnects settled."""
import http.client
import json
import re
import socket
import subprocess
import time

import openai
import pytest

from anthropic_mock import DEFAULT_USAGE, AnthropicMock, call, error, stream_error, text, tool_use
from conftest import AEX_BIN, Aex, wait_until
from test_proxy import (  # noqa: F401  (the module fixture that waits for background daemon stops)
    Proxy, _model, _stopping, _wait_for_stopping_daemons, settled,
)



def test_the_anthropic_plugin_is_bundled(tmp_path):
    """`aex init` registers the bundled `anthropic` plugin (ABI 1.3) beside the executable."""
    home = Aex(tmp_path / "home")
    home.run("init", check=0)
    plugins = {p["name"]: p for p in home.json("plugin", "list")}
    assert "anthropic" in plugins, f"the anthropic plugin is not registered: {sorted(plugins)}"
    assert plugins["anthropic"]["kind"] == "provider" and plugins["anthropic"]["provides"] == ["anthropic"]

ANTHROPIC_KEY = "sk-ant-mock-secret"
ALIAS, PROVIDER_MODEL = "claude-model", "claude-test-1"
PRICE_IN, PRICE_OUT = 3, 15
MODEL_LIMIT = 1024
HELLO = [{"role": "user", "content": "hello"}]
# The mock's default usage: 12 input + 3 cache-read + 2 cache-creation tokens, 7 output tokens.
PROMPT = DEFAULT_USAGE["input_tokens"] + DEFAULT_USAGE["cache_read_input_tokens"] + \
    DEFAULT_USAGE["cache_creation_input_tokens"]
COMPLETION = DEFAULT_USAGE["output_tokens"]
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TIME_SCHEMA = {"type": "object", "properties": {"zone": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": WEATHER_SCHEMA}},
         {"type": "function", "function": {"name": "get_time", "description": "Time in a zone",
                                           "parameters": TIME_SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA},
                   {"name": "get_time", "description": "Time in a zone", "input_schema": TIME_SCHEMA}]
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAE="


def cost(prompt=PROMPT, completion=COMPLETION):
    return prompt * PRICE_IN + completion * PRICE_OUT


COST = cost()   # 17 × 3 + 7 × 15 = 156 micro-USD


# ------------------------------------------------------------------------------------ configuration

def anthropic_yaml(port, extra_models=""):
    return f"""# written by Tests/e2e/test_anthropic.py
version: 1
default_model: {ALIAS}
providers:
  claude:
    base_url: http://127.0.0.1:{port}/v1
    type: anthropic
    api_key_env: ANTHROPIC_API_KEY
    timeout_seconds: 5
models:
""" + _model(ALIAS, "claude", PROVIDER_MODEL, input_micro=PRICE_IN, output_micro=PRICE_OUT, max_tokens=MODEL_LIMIT,
             tools=True, vision=True) + extra_models


class Claude(Proxy):
    """The daemon in front of the Anthropic mock (`self.mock`); Proxy's helpers (agent, client,
    http, balance, inspect) as they are."""

    def write_config(self, extra_models="", text=None):
        self.config_path.write_text(text if text is not None else anthropic_yaml(self.mock.port, extra_models))


@pytest.fixture(scope="module")
def anthropic_server():
    server = AnthropicMock(api_key=ANTHROPIC_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def anthropic(anthropic_server):
    anthropic_server.reset()
    yield anthropic_server
    anthropic_server.reset()


@pytest.fixture
def claude(tmp_path, anthropic):
    aex = Aex(tmp_path / "home", extra_env={"ANTHROPIC_API_KEY": ANTHROPIC_KEY})
    aex.run("init", check=0)
    instance = Claude(aex, anthropic, None)
    instance.write_config()
    aex.start()
    yield instance
    if (aex.home / "daemon.json").exists():
        _stopping.append(subprocess.Popen([AEX_BIN, "daemon", "stop"], env=aex.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


# ------------------------------------------------------------------------------------------ helpers

def ask(client, **fields):
    return client.chat.completions.create(**{"model": ALIAS, "messages": HELLO, **fields})


def upstream(claude, count=None):
    """The last request the mock received, checked to be one the Messages API accepts."""
    if count is not None:
        assert claude.mock.count == count, [(r.path, r.problem) for r in claude.mock.snapshot()]
    last = claude.mock.last()
    assert last.problem is None, f"the mock (as Anthropic would) refused the request: {last.problem}\n{last.body}"
    return last


def blocks(*texts):
    return [{"type": "text", "text": t} for t in texts]


def collect(stream):
    """Every chunk of an SDK stream, checked for the shape every chunk shares."""
    chunks = list(stream)
    assert chunks, "the stream produced no chunk"
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk", chunk
        assert chunk.model == ALIAS, "the alias, never the provider model"
    return chunks


def streamed_text(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def finish_reasons(chunks):
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def tool_call_pieces(chunks):
    """(index, id, type, name, arguments) of every tool-call delta, in order."""
    pieces = []
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.tool_calls:
            for piece in chunk.choices[0].delta.tool_calls:
                function = piece.function
                pieces.append((piece.index, piece.id, piece.type, function.name if function else None,
                               function.arguments if function else None))
    return pieces


def refused_here(claude, name, call_, parameter):
    """`call_` is a 400 naming `parameter`; the provider saw nothing; no balance moved."""
    before, seen = claude.balance(name), claude.mock.count
    with pytest.raises(openai.BadRequestError) as info:
        call_()
    error_ = info.value
    assert error_.status_code == 400, (error_.status_code, error_.body)
    message = (error_.body or {}).get("message", "") if isinstance(error_.body, dict) else str(error_.body)
    assert re.search(rf"(?<![A-Za-z_]){re.escape(parameter)}(?![A-Za-z_])", message), \
        f"the refusal should name `{parameter}`: {error_.body}"
    assert claude.mock.count == seen, f"a refused request reached the provider: {claude.mock.snapshot()[seen:]}"
    assert claude.balance(name) == before, "a refused request changed a balance (charged or left reserved)"
    return error_


# ------------------------------------------------------------------------------- requests, answers

def test_chat_is_translated_to_the_messages_api_and_settled_exactly(claude):
    token = claude.agent("bot", "10")
    client = claude.client(token)
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Answer in English."},
                {"role": "user", "content": "héllo wörld"}]
    raw = client.chat.completions.with_raw_response.create(
        model=ALIAS, messages=messages, max_tokens=100, temperature=0.5, top_p=0.9, stop="END",
        # dropped silently (documented): no Messages API equivalent
        presence_penalty=0.1, frequency_penalty=0.2, seed=7, user="alice", logit_bias={"50256": -100},
        store=False, metadata={"trace": "t-1"})
    answer = raw.parse()
    assert answer.object == "chat.completion" and answer.id
    assert answer.model == ALIAS, "the client sees the alias"
    assert PROVIDER_MODEL not in raw.http_response.text, raw.http_response.text
    choice = answer.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant"
    assert choice.message.content == "Hello from the Anthropic mock."
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (PROMPT, COMPLETION), \
        "prompt = input + cache read + cache creation tokens"
    assert getattr(answer.usage, "total_tokens", None) in (None, PROMPT + COMPLETION)
    assert raw.headers["x-aex-cost-micro"] == str(COST)
    assert raw.headers["x-aex-execution-id"]
    assert raw.headers["x-aex-budget-remaining-micro"] == str(10_000_000 - COST)
    settled(claude, "bot", COST)

    sent = upstream(claude, count=1)
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY, "AEX adds the provider key in Anthropic's header"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"].split(";")[0].strip() == "application/json"
    assert "authorization" not in sent.headers
    assert token not in json.dumps(sent.headers) and token not in sent.raw.decode()
    body = dict(sent.body)
    assert body.pop("stream", False) is False
    assert body == {
        "model": PROVIDER_MODEL, "max_tokens": 100,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [{"role": "user", "content": blocks("héllo wörld")}],
        "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"],
    }, "the Messages API request, the OpenAI-only fields dropped"


def test_max_tokens_is_always_sent(claude):
    client = claude.client(claude.agent("bot", "10"))
    ask(client)
    assert upstream(claude).body["max_tokens"] == MODEL_LIMIT, "no client limit: the model's limit"
    ask(client, max_tokens=40)
    assert upstream(claude).body["max_tokens"] == 40
    ask(client, max_completion_tokens=33)
    body = upstream(claude).body
    assert body["max_tokens"] == 33 and "max_completion_tokens" not in body, body
    capped = claude.client(claude.agent("capped", "10", "1000", "--max-tokens", "64"))
    ask(capped)
    assert upstream(claude).body["max_tokens"] == 64, "the agent's cap"
    settled(claude, "bot", 3 * COST)
    settled(claude, "capped", COST)


def test_turns_of_the_same_role_are_merged_into_content_blocks(claude):
    client = claude.client(claude.agent("bot", "10"))
    messages = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "first"},
                {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "third"}]},
                {"role": "assistant", "content": "answer one"},
                {"role": "assistant", "content": [{"type": "text", "text": "answer two"}]},
                {"role": "user", "content": "last"}]
    ask(client, messages=messages, stop=["###", "END"])
    body = upstream(claude).body
    assert body["system"] == "You are terse."
    assert body["messages"] == [
        {"role": "user", "content": blocks("first", "second", "third")},
        {"role": "assistant", "content": blocks("answer one", "answer two")},
        {"role": "user", "content": blocks("last")},
    ]
    assert body["stop_sequences"] == ["###", "END"]
    settled(claude, "bot", COST)


def test_stop_reasons_become_finish_reasons_plain_and_streamed(claude):
    client = claude.client(claude.agent("bot", "10"))
    cases = [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length")]
    for stop_reason, finish in cases:
        claude.mock.push(text("Cut short here", stop_reason=stop_reason))
        answer = ask(client, stop=["###"])
        assert answer.choices[0].finish_reason == finish, (stop_reason, answer)
        assert answer.choices[0].message.content == "Cut short here"
        claude.mock.push(text("Cut short here", stop_reason=stop_reason))
        chunks = collect(ask(client, stop=["###"], stream=True))
        assert finish_reasons(chunks) == [finish], (stop_reason, [c.model_dump() for c in chunks])
        assert streamed_text(chunks) == "Cut short here"
    settled(claude, "bot", 2 * len(cases) * COST)


def test_tools_and_tool_choice_are_translated(claude):
    client = claude.client(claude.agent("bot", "10"))
    forced = {"type": "function", "function": {"name": "get_time"}}
    cases = [("auto", None, {"type": "auto"}),
             ("required", None, {"type": "any"}),
             ("none", None, {"type": "none"}),
             (forced, None, {"type": "tool", "name": "get_time"}),
             ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
             ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
             (forced, False, {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True})]
    for choice, parallel, expected in cases:
        fields = {"tools": TOOLS, "tool_choice": choice}
        if parallel is not None:
            fields["parallel_tool_calls"] = parallel
        ask(client, **fields)
        body = upstream(claude).body
        assert body["tools"] == ANTHROPIC_TOOLS, body["tools"]
        assert body["tool_choice"] == expected, (choice, parallel, body["tool_choice"])
        assert "parallel_tool_calls" not in body
    ask(client, tools=TOOLS, parallel_tool_calls=True)
    body = upstream(claude).body
    assert body.get("tool_choice", {}).get("disable_parallel_tool_use", False) is False, body.get("tool_choice")
    settled(claude, "bot", (len(cases) + 1) * COST)


def test_tool_use_blocks_become_tool_calls(claude):
    client = claude.client(claude.agent("bot", "10"))
    claude.mock.push(tool_use(call("toolu_01A", "get_weather", {"city": "Paris"}),
                              call("toolu_01B", "get_time", {"zone": "Europe/Paris", "nested": {"a": [1, 2.5, None]}}),
                              text="Let me check.", usage={"output_tokens": 40}))
    raw = client.chat.completions.with_raw_response.create(model=ALIAS, messages=HELLO, tools=TOOLS)
    answer = raw.parse()
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me check."
    assert [(c.id, c.type, c.function.name) for c in message.tool_calls] == [
        ("toolu_01A", "function", "get_weather"), ("toolu_01B", "function", "get_time")]
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert json.loads(message.tool_calls[1].function.arguments) == {"zone": "Europe/Paris", "nested": {"a": [1, 2.5, None]}}
    assert answer.usage.completion_tokens == 40
    assert raw.headers["x-aex-cost-micro"] == str(cost(PROMPT, 40))

    claude.mock.push(tool_use(call("toolu_01C", "get_time", {})))     # no text block at all
    answer = ask(client, tools=TOOLS)
    assert answer.choices[0].message.content in (None, "")
    assert json.loads(answer.choices[0].message.tool_calls[0].function.arguments) == {}
    settled(claude, "bot", cost(PROMPT, 40) + COST)


def test_tool_round_trip_sends_tool_use_and_tool_result_blocks(claude):
    client = claude.client(claude.agent("bot", "10"))
    claude.mock.push(tool_use(call("toolu_R1", "get_weather", {"city": "Paris"}),
                              call("toolu_R2", "get_weather", {"city": "Oslo"}), text="Checking both."))
    question = {"role": "user", "content": "Weather in Paris and Oslo?"}
    first = ask(client, messages=[question], tools=TOOLS)
    calls = first.choices[0].message.tool_calls
    assert [c.id for c in calls] == ["toolu_R1", "toolu_R2"]

    history = [question,
               {"role": "assistant", "content": first.choices[0].message.content,
                "tool_calls": [c.model_dump(exclude_none=True) for c in calls]},
               {"role": "tool", "tool_call_id": "toolu_R1", "content": "18 C, sunny"},
               {"role": "tool", "tool_call_id": "toolu_R2", "content": "3 C, snow"}]
    second = ask(client, messages=history, tools=TOOLS)
    assert second.choices[0].message.content == "Hello from the Anthropic mock."
    body = upstream(claude, count=2).body
    assert body["messages"] == [
        {"role": "user", "content": blocks("Weather in Paris and Oslo?")},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "toolu_R1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_R2", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_R1", "content": "18 C, sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_R2", "content": "3 C, snow"}]},
    ], "the tool messages are one user turn of tool_result blocks answering the tool_use ids"

    # An assistant turn with tool calls and no text: only tool_use blocks (no empty text block).
    history[1] = {"role": "assistant", "content": None, "tool_calls": history[1]["tool_calls"]}
    ask(client, messages=history, tools=TOOLS)
    assert [b["type"] for b in upstream(claude).body["messages"][1]["content"]] == ["tool_use", "tool_use"]
    settled(claude, "bot", 3 * COST)


def test_image_parts_reach_the_provider_as_base64_and_url_sources(claude):
    client = claude.client(claude.agent("bot", "10", "1000", "--allow-vision"))
    content = [{"type": "text", "text": "Compare these."},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}", "detail": "high"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    ask(client, messages=[{"role": "user", "content": content}])
    assert upstream(claude).body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]}]
    settled(claude, "bot", COST)


def test_parameters_anthropic_cannot_honour_are_refused_before_the_provider(claude):
    client = claude.client(claude.agent("bot", "10"))
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {}}}}
    audio = [{"role": "user", "content": [{"type": "text", "text": "transcribe"},
                                          {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]
    refused_here(claude, "bot", lambda: ask(client, n=2), "n")
    refused_here(claude, "bot", lambda: ask(client, logprobs=True), "logprobs")
    refused_here(claude, "bot", lambda: ask(client, temperature=1.5), "temperature")
    refused_here(claude, "bot", lambda: ask(client, response_format={"type": "json_object"}), "response_format")
    refused_here(claude, "bot", lambda: ask(client, response_format=schema), "response_format")
    refused_here(claude, "bot", lambda: ask(client, messages=audio), "audio")
    refused_here(claude, "bot", lambda: ask(client, n=3, stream=True), "n")
    assert claude.mock.count == 0
    settled(claude, "bot", 0)

    # The harmless values of the same parameters are accepted, and not sent.
    ask(client, n=1, logprobs=False, temperature=1.0, response_format={"type": "text"})
    body = upstream(claude, count=1).body
    assert body["temperature"] == 1.0
    assert not {"n", "logprobs", "response_format"} & set(body), body
    settled(claude, "bot", COST)


# ------------------------------------------------------------------------------------------- errors

PROVIDER_ERRORS = [(429, "rate_limit_error", openai.RateLimitError),
                   (529, "overloaded_error", openai.InternalServerError),
                   (401, "authentication_error", openai.AuthenticationError),
                   (400, "invalid_request_error", openai.BadRequestError),
                   (500, "api_error", openai.InternalServerError)]


def test_provider_errors_are_relayed_openai_shaped_and_cost_nothing(claude):
    client = claude.client(claude.agent("bot", "10"))
    for code, kind, exception in PROVIDER_ERRORS:
        message = f"the provider said no ({code})"
        for streamed in (False, True):
            claude.mock.push(error(code, message=message))
            with pytest.raises(openai.APIStatusError) as info:
                if streamed:
                    list(ask(client, stream=True))
                else:
                    ask(client)
            failure = info.value
            assert isinstance(failure, exception), (code, streamed, type(failure).__name__, failure.body)
            assert failure.status_code == code, (code, streamed, failure.body)
            assert failure.body == {"message": message, "type": kind, "code": kind, "param": None}, \
                (code, streamed, failure.body)
            settled(claude, "bot", 0)
    assert claude.mock.count == 2 * len(PROVIDER_ERRORS)
    ask(client)
    settled(claude, "bot", COST)


def test_paused_agent_and_unknown_models_are_refused_as_for_any_provider(claude):
    client = claude.client(claude.agent("bot", "10"))
    claude.aex.run("agent", "pause", "bot", check=0)
    with pytest.raises(openai.APIStatusError) as info:
        ask(client)
    assert (info.value.status_code, info.value.code) == (423, "agent_paused"), info.value.body
    claude.aex.run("agent", "resume", "bot", check=0)
    for model in ("claude-nope", PROVIDER_MODEL):
        with pytest.raises(openai.PermissionDeniedError) as info:
            ask(client, model=model)
        assert info.value.code == "model_not_allowed", info.value.body
    assert claude.mock.count == 0
    settled(claude, "bot", 0)
    assert ask(client).model == ALIAS
    settled(claude, "bot", COST)


def test_other_endpoints_are_refused_with_a_400_and_cost_nothing(claude):
    client = claude.client(claude.agent("bot", "10"))
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=ALIAS, input="hello", max_output_tokens=20)
    assert "/v1/chat/completions" in info.value.message and info.value.code == "unsupported_endpoint", info.value.body
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=ALIAS, input="hello")
    assert "/v1/chat/completions" in info.value.message and info.value.code == "unsupported_endpoint", info.value.body
    assert claude.mock.count == 0
    settled(claude, "bot", 0)


# ---------------------------------------------------------------------------------------- streaming

def test_streamed_text_is_translated_and_costs_what_the_plain_call_costs(claude):
    client = claude.client(claude.agent("bot", "10"))
    words = "The quick brown fox jumps over the lazy dog."
    claude.mock.push(text(words, event_delay=0.02))
    chunks = collect(ask(client, stream=True))
    sent = upstream(claude).body
    assert sent["stream"] is True and "stream_options" not in sent
    assert chunks[0].choices and chunks[0].choices[0].delta.role == "assistant"
    assert streamed_text(chunks) == words
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 3, "text arrives in several deltas"
    assert finish_reasons(chunks) == ["stop"]
    assert all(c.usage is None for c in chunks), "no usage chunk unless asked for"
    assert len({c.id for c in chunks}) == 1, "one completion id across the chunks"
    settled(claude, "bot", COST)

    claude.mock.push(text(words))
    chunks = collect(ask(client, stream=True, stream_options={"include_usage": True}))
    assert "stream_options" not in upstream(claude).body
    assert streamed_text(chunks) == words
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (PROMPT, COMPLETION)
    assert all(c.usage is None for c in chunks[:-1])
    assert finish_reasons(chunks) == ["stop"]
    settled(claude, "bot", 2 * COST)

    claude.mock.push(text(words))
    assert ask(client).choices[0].message.content == words
    settled(claude, "bot", 3 * COST)    # streamed or not, the same answer costs the same


def test_streamed_cumulative_usage_in_message_delta_is_not_counted_twice(claude):
    """Newer API versions repeat the input and cache counts in message_delta's usage (cumulative
    totals, like output_tokens): they replace, never add to, those of message_start."""
    client = claude.client(claude.agent("bot", "10"))
    claude.mock.push(text("Counted once.", delta_usage="full"))
    chunks = collect(ask(client, stream=True, stream_options={"include_usage": True}))
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (PROMPT, COMPLETION)
    settled(claude, "bot", COST)


def test_streamed_tool_calls_are_indexed_among_tool_calls(claude):
    client = claude.client(claude.agent("bot", "10"))
    weather, clock = {"city": "Paris", "units": "metric"}, {"zone": "Asia/Tokyo", "format": "24h"}
    claude.mock.push(tool_use(call("toolu_S1", "get_weather", weather), call("toolu_S2", "get_time", clock),
                              text="Let me check.", usage={"output_tokens": 31}))
    chunks = collect(ask(client, tools=TOOLS, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert streamed_text(chunks) == "Let me check."
    pieces = tool_call_pieces(chunks)
    assert [p[0] for p in pieces] == sorted(p[0] for p in pieces), "tool calls arrive one after the other"
    assert {p[0] for p in pieces} == {0, 1}, "indexes count tool calls only (the text block is not one)"
    for index, (call_id, name, expected) in enumerate([("toolu_S1", "get_weather", weather),
                                                       ("toolu_S2", "get_time", clock)]):
        mine = [p for p in pieces if p[0] == index]
        assert mine[0][1:] == (call_id, "function", name, ""), mine[0]
        assert all(p[1] is None and p[3] is None for p in mine[1:]), "later pieces carry arguments only"
        assert len(mine) >= 3, f"the arguments arrive in fragments: {mine}"
        assert json.loads("".join(p[4] or "" for p in mine)) == expected
    first_tool = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.tool_calls)
    assert not any(c.choices and c.choices[0].delta.content for c in chunks[first_tool:]), "text before tools"
    assert finish_reasons(chunks) == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 31
    settled(claude, "bot", cost(PROMPT, 31))


def test_stream_helper_accumulates_the_tool_arguments(claude):
    client = claude.client(claude.agent("bot", "10"))
    strict = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "strict": True,
        "parameters": dict(WEATHER_SCHEMA, additionalProperties=False)}}]
    arguments = {"city": "Reykjavík, \"the\" capital"}
    claude.mock.push(tool_use(call("toolu_H1", "get_weather", arguments)))
    done = []
    with client.chat.completions.stream(model=ALIAS, messages=HELLO, tools=strict) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                done.append((event.name, json.loads(event.arguments)))
        final = stream.get_final_completion()
    assert done == [("get_weather", arguments)]
    tool_call = final.choices[0].message.tool_calls[0]
    assert (tool_call.id, tool_call.function.name) == ("toolu_H1", "get_weather")
    assert json.loads(tool_call.function.arguments) == arguments
    assert tool_call.function.parsed_arguments == arguments
    assert final.choices[0].finish_reason == "tool_calls" and final.model == ALIAS
    upstream(claude, count=1)
    settled(claude, "bot", COST)


def test_raw_stream_is_openai_sse_without_event_names(claude):
    token = claude.agent("bot", "10")
    claude.mock.push(tool_use(call("toolu_W1", "get_weather", {"city": "Rome"}), text="One moment."))
    connection = http.client.HTTPConnection("127.0.0.1", claude.port, timeout=10)
    body = json.dumps({"model": ALIAS, "stream": True, "messages": HELLO, "tools": TOOLS,
                       "stream_options": {"include_usage": True}})
    connection.request("POST", "/v1/chat/completions", body=body,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/event-stream")
    raw = response.read().decode()
    connection.close()
    lines = [line for line in raw.split("\n") if line.strip()]
    assert not [line for line in lines if line.startswith("event:")], "no Anthropic event names reach the client"
    assert all(line.startswith("data: ") or line.startswith(":") for line in lines), raw
    data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]" and data.count("[DONE]") == 1, data[-3:]
    chunks = [json.loads(item) for item in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == ALIAS for c in chunks), chunks
    assert not any(c.get("type") in ("message_start", "content_block_delta", "ping") for c in chunks)
    assert PROVIDER_MODEL not in raw
    settled(claude, "bot", COST)


def test_mid_stream_error_event_raises_and_settles(claude):
    client = claude.client(claude.agent("bot", "10"))
    # message_start, content_block_start, ping, two text deltas, then `event: error` (overloaded).
    claude.mock.push(stream_error(after=5, text="alpha beta gamma delta epsilon"))
    pieces = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in ask(client, stream=True):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
    assert "".join(pieces) == "alpha beta", "what arrived before the error was relayed"
    assert "overloaded" in str(failed.value).lower(), f"the provider's error is named: {failed.value}"
    assert wait_until(lambda: claude.balance("bot")["reserved_micro"] == 0, 2.0), "nothing stays reserved"
    balance = claude.balance("bot")
    assert 0 <= balance["spent_micro"] <= balance["budget_micro"]
    assert balance["spent_micro"] + balance["remaining_micro"] == balance["budget_micro"]
    assert wait_until(lambda: claude.mock.in_flight == 0, 2.0)
    ask(client)     # the next call works
    assert claude.balance("bot")["reserved_micro"] == 0


def test_client_disconnect_mid_stream_releases_within_two_seconds(claude):
    client = claude.client(claude.agent("bot", "10"))
    claude.mock.push(text(" ".join(f"word{i}" for i in range(60)), event_delay=0.25))
    stream = ask(client, stream=True)
    first = next(iter(stream))
    assert first.model == ALIAS
    stream.close()   # the client goes away mid-stream
    left = time.monotonic()
    assert wait_until(lambda: claude.balance("bot")["reserved_micro"] == 0, 2.0), "nothing stays reserved"
    assert time.monotonic() - left < 2.0
    assert wait_until(lambda: claude.mock.in_flight == 0, 2.0), "the provider transfer was stopped"
    streamed = claude.mock.events_streamed
    time.sleep(0.6)
    assert claude.mock.events_streamed == streamed, "the provider stopped sending"
    balance = claude.balance("bot")
    assert 0 < balance["spent_micro"] and balance["spent_micro"] + balance["remaining_micro"] == balance["budget_micro"]


def test_slow_reader_pauses_the_provider_and_the_whole_answer_arrives(claude):
    """Back-pressure as for OpenAI providers: a client that stops reading pauses the provider (for
    longer than its 5 s timeout: a pause is not silence), and everything arrives once it reads."""
    words = 60000
    claude.mock.push(text(text=" ".join(f"word{i}" for i in range(words))))
    token = claude.agent("bot", "1000")
    sock = socket.create_connection(("127.0.0.1", claude.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # fixed: no autotuning to swallow the stream
    body = json.dumps({"model": ALIAS, "stream": True, "max_tokens": 50, "messages": HELLO}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(6.0)
    assert claude.mock.events_streamed < words, "the provider was paused"
    received = bytearray()
    sock.settimeout(15)
    while not received.endswith(b"0\r\n\r\n"):
        data = sock.recv(1 << 16)
        if not data:
            break
        received += data
    sock.close()
    assert received.count(b'"content":"') >= words, "every text delta arrives once the client reads"
    assert b"data: [DONE]" in received
    settled(claude, "bot", COST)
