"""A mock of Anthropic's Messages API for the `anthropic` provider plugin tests (stdlib only).

In a test:

    mock = AnthropicMock(api_key="sk-ant-test").start()   # 127.0.0.1, port 0
    mock.base_url                       # "http://127.0.0.1:N/v1"; the plugin posts to <base_url>/messages
    mock.usage = {"input_tokens": 12, "output_tokens": 7,           # what answers report unless a
                  "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2}   # behaviour says otherwise
    mock.push(text("Hi there", stop_reason="max_tokens"),           # one behaviour per request, FIFO
              tool_use(call("toolu_1", "get_weather", {"city": "Paris"}), text="Let me check."),
              error(529), stream_error(after=4), close())
    mock.default = text("Hello from Claude.")                       # when the queue is empty
    mock.hold(); ...; mock.release()    # park every request (after it is recorded) until released
    mock.requests, mock.count, mock.last(), mock.wait_for(n)        # what arrived (see `Recorded`)
    mock.problems                       # the refusals the mock answered 400 (one string each)
    mock.in_flight, mock.events_streamed
    mock.reset(); mock.stop()

A request is CHECKED before any behaviour is taken: a request Anthropic would refuse (wrong path,
missing or wrong `x-api-key`, no `anthropic-version`, an `Authorization` header, a body that is not
a JSON object, a missing `model`, a `max_tokens` that is not a positive integer, empty `messages`, a
role other than user/assistant or a first turn that is not the user's, an unknown or malformed
content block, an image source that is neither base64 nor an https URL, a `tool_result` that answers
no `tool_use` of the previous assistant turn, a tool without `name`/`input_schema`, a `system` that
is neither a string nor a list of text blocks, any field outside the Messages API such as OpenAI's
`n`, `stop`, `tool_calls`, `max_completion_tokens`, `stream_options`, a string `tool_choice`,
`response_format`, `frequency_penalty`, `presence_penalty`, `seed`, `logprobs`) is answered
400 `{"type":"error","error":{"type":"invalid_request_error","message":<the problem>}}`, recorded in
`Recorded.problem` and `mock.problems`, and takes no behaviour from the queue.

Answers follow the documented shapes: a `message` object with `content` blocks, `stop_reason`,
`stop_sequence` and `usage` (input, output and both cache counts); with `"stream": true` the SSE
grammar, each event as `event: NAME\\ndata: JSON\\n\\n`: message_start (usage with the input and
cache counts and output_tokens 1), then per block content_block_start, (ping after the first),
content_block_delta (text_delta, or input_json_delta in several pieces starting with ""),
content_block_stop, then message_delta (stop_reason, cumulative output_tokens) and message_stop.

Standalone (manual use): python3 Tests/e2e/anthropic_mock.py --port 8090 --api-key sk-ant-test
"""
from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import mock_server
from mock_server import MockRequestHandler, MockServer, standalone_parser

DEFAULT_USAGE = {"input_tokens": 12, "output_tokens": 7, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2}
DEFAULT_TEXT = "Hello from the Anthropic mock."
API_VERSION = "2023-06-01"

# Fields of a Messages API request (anything else is "Extra inputs are not permitted").
REQUEST_FIELDS = {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
                  "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
                  "context_management"}
# OpenAI's chat-completion fields, named in the refusal so a translation slip is obvious.
OPENAI_ONLY = {"n", "stop", "max_completion_tokens", "stream_options", "response_format", "frequency_penalty",
               "presence_penalty", "seed", "logprobs", "top_logprobs", "logit_bias", "user", "parallel_tool_calls",
               "functions", "function_call", "store", "modalities", "audio", "prediction", "reasoning_effort",
               "web_search_options"}
BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
IMAGE_MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
TOOL_FIELDS = {"name", "description", "input_schema", "cache_control", "type", "strict"}
TOOL_CHOICE_TYPES = {"auto", "any", "tool", "none"}

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
ERROR_MESSAGES = {400: "messages: the mock was told to refuse this request",
                  401: "invalid x-api-key", 403: "Your API key does not have permission to use the specified resource.",
                  404: "The requested resource could not be found.", 413: "Request exceeds the maximum allowed size.",
                  429: "Number of request tokens has exceeded your per-minute rate limit",
                  500: "Internal server error", 529: "Overloaded"}


# ---------------------------------------------------------------------------------------- behaviours

@dataclass
class Behaviour:
    """What the mock does with one (valid) request.

    kind: "message" (answer 200 with `blocks`), "error" (answer `status` with Anthropic's error
    body), "close" (reset the connection without answering), "stream_error" (streamed: `after`
    events, then an `error` event and the end of the response; not streamed: the error as a status).
    """
    kind: str = "message"
    blocks: Optional[list] = None          # content blocks; None: one text block of `mock.text`
    stop_reason: Optional[str] = None      # None: "tool_use" when a tool_use block is present, else "end_turn"
    stop_sequence: Optional[str] = None
    usage: Optional[dict] = None           # overrides mock.usage (missing keys taken from it)
    status: int = 200
    error_type: Optional[str] = None
    message: Optional[str] = None
    delay: float = 0.0                     # seconds before answering
    event_delay: float = 0.0               # streams: seconds between events
    after: Optional[int] = None            # stream_error: events sent before the error event
    fail_after: Optional[int] = None       # streams: reset the connection after this many events
    delta_usage: str = "output"            # message_delta usage: "output" (output_tokens only) or "full"
    headers: dict = field(default_factory=dict)


def call(id: str, name: str, input: dict) -> dict:
    """A tool_use content block."""
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def text(text: Optional[str] = None, usage: Optional[dict] = None, stop_reason: str = "end_turn",
         stop_sequence: Optional[str] = None, delay: float = 0.0, event_delay: float = 0.0,
         fail_after: Optional[int] = None, delta_usage: str = "output") -> Behaviour:
    """A text answer (`text` None: `mock.text`). stop_reason end_turn, max_tokens or stop_sequence
    (then `stop_sequence` names the sequence; "###" when not given)."""
    if stop_reason == "stop_sequence" and stop_sequence is None:
        stop_sequence = "###"
    blocks = None if text is None else [{"type": "text", "text": text}]
    return Behaviour("message", blocks=blocks, stop_reason=stop_reason, stop_sequence=stop_sequence, usage=usage,
                     delay=delay, event_delay=event_delay, fail_after=fail_after, delta_usage=delta_usage)


def tool_use(*calls: dict, text: Optional[str] = None, usage: Optional[dict] = None, stop_reason: str = "tool_use",
             event_delay: float = 0.0, delta_usage: str = "output") -> Behaviour:
    """An optional text block, then one tool_use block per `call(...)`."""
    blocks = ([{"type": "text", "text": text}] if text is not None else []) + [dict(c) for c in calls]
    return Behaviour("message", blocks=blocks, stop_reason=stop_reason, usage=usage, event_delay=event_delay,
                     delta_usage=delta_usage)


def message(blocks: list, stop_reason: Optional[str] = None, usage: Optional[dict] = None, **options) -> Behaviour:
    """Any content blocks, as given."""
    return Behaviour("message", blocks=[dict(b) for b in blocks], stop_reason=stop_reason, usage=usage, **options)


def error(status: int, error_type: Optional[str] = None, message: Optional[str] = None, delay: float = 0.0,
          headers: Optional[dict] = None) -> Behaviour:
    """An error status with Anthropic's body: 400 invalid_request_error, 401 authentication_error,
    429 rate_limit_error, 500 api_error, 529 overloaded_error, ... (type and message overridable)."""
    return Behaviour("error", status=status, error_type=error_type or ERROR_TYPES.get(status, "api_error"),
                     message=message or ERROR_MESSAGES.get(status, f"mock error {status}"), delay=delay,
                     headers=dict(headers or {}))


def stream_error(after: int = 4, text: Optional[str] = None, error_type: str = "overloaded_error",
                 message: str = "Overloaded", event_delay: float = 0.0) -> Behaviour:
    """Streamed: `after` events of a text answer, then `event: error` and the end of the response."""
    blocks = None if text is None else [{"type": "text", "text": text}]
    return Behaviour("stream_error", blocks=blocks, after=after, status=529, error_type=error_type, message=message,
                     event_delay=event_delay)


def close(delay: float = 0.0) -> Behaviour:
    return Behaviour("close", delay=delay)


@dataclass
class Recorded(mock_server.Recorded):
    problem: Optional[str] = None   # why the mock refused it (400), or None


# ---------------------------------------------------------------------------------------- checking

class Refusal(Exception):
    pass


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_request(method: str, path: str, headers: dict, raw: bytes, api_key: Optional[str]) -> Any:
    """Returns the parsed body of a request the Messages API accepts; raises Refusal naming the
    first problem otherwise."""
    if method != "POST" or path != "/v1/messages":
        raise Refusal(f"expected POST /v1/messages, got {method} {path}")
    if "x-api-key" not in headers:
        raise Refusal("x-api-key header is required")
    if api_key is not None and headers["x-api-key"] != api_key:
        raise Refusal("x-api-key header does not hold the configured key")
    if "anthropic-version" not in headers:
        raise Refusal("anthropic-version header is required")
    if "authorization" in headers:
        raise Refusal("authorization header must not be sent (the key goes in x-api-key)")
    if not headers.get("content-type", "").lower().startswith("application/json"):
        raise Refusal(f"content-type must be application/json, got {headers.get('content-type')!r}")
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refusal("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Refusal("the request body must be a JSON object")
    for name in sorted(body):
        if name in OPENAI_ONLY:
            raise Refusal(f"{name}: Extra inputs are not permitted (an OpenAI field, not a Messages API one)")
        if name not in REQUEST_FIELDS:
            raise Refusal(f"{name}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Refusal("model: Field required")
    if "max_tokens" not in body:
        raise Refusal("max_tokens: Field required")
    if not _is_int(body["max_tokens"]) or body["max_tokens"] < 1:
        raise Refusal(f"max_tokens: must be a positive integer, got {body['max_tokens']!r}")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Refusal("stream: must be a boolean")
    for name, low, high in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        if name in body and (not _is_number(body[name]) or not low <= body[name] <= high):
            raise Refusal(f"{name}: must be a number from {low} to {high}, got {body[name]!r}")
    if "top_k" in body and (not _is_int(body["top_k"]) or body["top_k"] < 0):
        raise Refusal("top_k: must be a non-negative integer")
    if "stop_sequences" in body:
        sequences = body["stop_sequences"]
        if not isinstance(sequences, list) or not all(isinstance(s, str) and s for s in sequences):
            raise Refusal("stop_sequences: must be a list of non-empty strings")
    if "metadata" in body:
        metadata = body["metadata"]
        if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
            raise Refusal("metadata: only user_id is permitted")
    _check_system(body.get("system"), "system" in body)
    tool_names = _check_tools(body)
    _check_messages(body.get("messages"), tool_names)
    return body


def _check_system(system, present: bool):
    if not present:
        return
    if isinstance(system, str):
        return
    if isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
                                        and not set(b) - {"type", "text", "cache_control", "citations"} for b in system):
        return
    raise Refusal("system: must be a string or a list of text blocks")


def _check_tools(body) -> set:
    names = set()
    if "tools" in body:
        tools = body["tools"]
        if not isinstance(tools, list):
            raise Refusal("tools: must be a list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise Refusal(f"tools.{i}: must be an object")
            if not isinstance(tool.get("name"), str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", tool["name"]):
                raise Refusal(f"tools.{i}.name: Field required (1 to 128 of a-zA-Z0-9_-)")
            if not isinstance(tool.get("input_schema"), dict):
                raise Refusal(f"tools.{i}.input_schema: Field required (an object)")
            if tool["input_schema"].get("type") != "object":
                raise Refusal(f"tools.{i}.input_schema.type: must be 'object'")
            extra = set(tool) - TOOL_FIELDS
            if extra:
                raise Refusal(f"tools.{i}.{sorted(extra)[0]}: Extra inputs are not permitted")
            if "description" in tool and not isinstance(tool["description"], str):
                raise Refusal(f"tools.{i}.description: must be a string")
            if tool["name"] in names:
                raise Refusal(f"tools: tool names must be unique ({tool['name']})")
            names.add(tool["name"])
    if "tool_choice" in body:
        choice = body["tool_choice"]
        if not isinstance(choice, dict):
            raise Refusal(f"tool_choice: must be an object like {{\"type\": \"auto\"}}, got {choice!r}")
        if choice.get("type") not in TOOL_CHOICE_TYPES:
            raise Refusal(f"tool_choice.type: must be one of auto, any, tool, none; got {choice.get('type')!r}")
        allowed = {"type", "disable_parallel_tool_use"} | ({"name"} if choice["type"] == "tool" else set())
        if set(choice) - allowed:
            raise Refusal(f"tool_choice.{sorted(set(choice) - allowed)[0]}: Extra inputs are not permitted")
        if "disable_parallel_tool_use" in choice and not isinstance(choice["disable_parallel_tool_use"], bool):
            raise Refusal("tool_choice.disable_parallel_tool_use: must be a boolean")
        if choice["type"] == "none" and "disable_parallel_tool_use" in choice:
            raise Refusal("tool_choice.disable_parallel_tool_use: Extra inputs are not permitted")
        if choice["type"] == "tool":
            if not isinstance(choice.get("name"), str):
                raise Refusal("tool_choice.name: Field required")
            if choice["name"] not in names:
                raise Refusal(f"tool_choice.name: no tool named {choice['name']!r} in tools")
        elif choice["type"] in ("any",) and not names:
            raise Refusal("tool_choice: 'any' needs tools")
    return names


def _check_messages(messages, tool_names: set):
    if not isinstance(messages, list) or not messages:
        raise Refusal("messages: at least one message is required")
    previous_tool_ids: set = set()
    for i, turn in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(turn, dict):
            raise Refusal(f"{where}: must be an object")
        extra = set(turn) - {"role", "content"}
        if extra:
            raise Refusal(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
        role = turn.get("role")
        if role not in ("user", "assistant"):
            raise Refusal(f"{where}.role: must be 'user' or 'assistant', got {role!r}")
        if i == 0 and role != "user":
            raise Refusal("messages.0.role: the first message must use the 'user' role")
        content = turn.get("content")
        tool_ids: set = set()
        if isinstance(content, str):
            if not content and i < len(messages) - 1:
                raise Refusal(f"{where}.content: must be non-empty")
        elif isinstance(content, list):
            if not content:
                raise Refusal(f"{where}.content: at least one content block is required")
            for j, block in enumerate(content):
                tool_ids |= _check_block(block, f"{where}.content.{j}", role, previous_tool_ids, tool_names)
        else:
            raise Refusal(f"{where}.content: must be a string or a list of content blocks")
        previous_tool_ids = tool_ids if role == "assistant" else set()


def _check_block(block, where: str, role: str, previous_tool_ids: set, tool_names: set) -> set:
    if not isinstance(block, dict):
        raise Refusal(f"{where}: must be an object")
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise Refusal(f"{where}.type: unknown content block type {kind!r}")
    allowed = {"type", "cache_control"}
    if kind == "text":
        allowed |= {"text", "citations"}
        if not isinstance(block.get("text"), str):
            raise Refusal(f"{where}.text: Field required")
        if not block["text"]:
            raise Refusal(f"{where}: text content blocks must be non-empty")
    elif kind == "image":
        allowed |= {"source"}
        if role != "user":
            raise Refusal(f"{where}: image blocks are only allowed in user turns")
        _check_image_source(block.get("source"), f"{where}.source")
    elif kind == "tool_use":
        allowed |= {"id", "name", "input"}
        if role != "assistant":
            raise Refusal(f"{where}: tool_use blocks are only allowed in assistant turns")
        if not isinstance(block.get("id"), str) or not block["id"]:
            raise Refusal(f"{where}.id: Field required")
        if not isinstance(block.get("name"), str) or not block["name"]:
            raise Refusal(f"{where}.name: Field required")
        if not isinstance(block.get("input"), dict):
            raise Refusal(f"{where}.input: must be an object (the parsed arguments), got {type(block.get('input')).__name__}")
        extra = set(block) - allowed
        if extra:
            raise Refusal(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
        return {block["id"]}
    elif kind == "tool_result":
        allowed |= {"tool_use_id", "content", "is_error"}
        if role != "user":
            raise Refusal(f"{where}: tool_result blocks are only allowed in user turns")
        tool_use_id = block.get("tool_use_id")
        if not isinstance(tool_use_id, str) or tool_use_id not in previous_tool_ids:
            raise Refusal(f"{where}.tool_use_id: unexpected tool_use_id {tool_use_id!r}: each tool_result block must "
                          f"answer a tool_use block of the previous assistant message ({sorted(previous_tool_ids)})")
        content = block.get("content")
        if content is not None and not isinstance(content, str):
            if not isinstance(content, list):
                raise Refusal(f"{where}.content: must be a string or a list of blocks")
            for k, inner in enumerate(content):
                if not isinstance(inner, dict) or inner.get("type") not in ("text", "image", "document"):
                    raise Refusal(f"{where}.content.{k}: must be a text, image or document block")
                _check_block(inner, f"{where}.content.{k}", "user", set(), tool_names)
        if "is_error" in block and not isinstance(block["is_error"], bool):
            raise Refusal(f"{where}.is_error: must be a boolean")
    elif kind == "document":
        allowed |= {"source", "title", "context", "citations"}
    elif kind == "thinking":
        allowed |= {"thinking", "signature"}
    elif kind == "redacted_thinking":
        allowed |= {"data"}
    extra = set(block) - allowed
    if extra:
        raise Refusal(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
    return set()


def _check_image_source(source, where: str):
    if not isinstance(source, dict):
        raise Refusal(f"{where}: Field required")
    kind = source.get("type")
    if kind == "base64":
        if set(source) != {"type", "media_type", "data"}:
            raise Refusal(f"{where}: a base64 source has exactly type, media_type and data")
        if source["media_type"] not in IMAGE_MEDIA_TYPES:
            raise Refusal(f"{where}.media_type: must be one of {sorted(IMAGE_MEDIA_TYPES)}, got {source['media_type']!r}")
        data = source["data"]
        try:
            if not isinstance(data, str) or not data:
                raise ValueError
            base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            raise Refusal(f"{where}.data: not valid base64") from None
    elif kind == "url":
        if set(source) != {"type", "url"}:
            raise Refusal(f"{where}: a url source has exactly type and url")
        if not isinstance(source["url"], str) or not source["url"].startswith("https://"):
            raise Refusal(f"{where}.url: must be an https URL, got {source.get('url')!r}")
    else:
        raise Refusal(f"{where}.type: must be 'base64' or 'url', got {kind!r}")


# ------------------------------------------------------------------------------------------- shapes

def _usage(behaviour: Behaviour, mock: "AnthropicMock") -> dict:
    usage = dict(mock.usage)
    usage.update(behaviour.usage or {})
    return {key: int(usage.get(key, 0)) for key in
            ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}


def _blocks(behaviour: Behaviour, mock: "AnthropicMock") -> list:
    if behaviour.blocks is not None:
        return copy.deepcopy(behaviour.blocks)
    return [{"type": "text", "text": mock.text}]


def _stop_reason(behaviour: Behaviour, blocks: list) -> str:
    if behaviour.stop_reason is not None:
        return behaviour.stop_reason
    return "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"


def message_body(msg_id: str, model: str, blocks: list, stop_reason: str, stop_sequence, usage: dict) -> dict:
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": blocks,
            "stop_reason": stop_reason, "stop_sequence": stop_sequence, "usage": usage}


def error_body(error_type: str, message: str, request_id: str = "req_mock") -> dict:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


def text_pieces(value: str) -> list:
    """Text split into several deltas, in order: words with their leading space; a single word in two."""
    pieces = re.findall(r"\s*\S+|\s+$", value)
    if len(pieces) == 1 and len(value) > 1:
        middle = len(value) // 2
        pieces = [value[:middle], value[middle:]]
    return pieces


def json_pieces(value: str, parts: int = 3) -> list:
    """Tool input JSON as the API streams it: an empty first piece, then `parts` fragments."""
    size = max(1, -(-len(value) // parts))
    return [""] + [value[i:i + size] for i in range(0, len(value), size)]


def sse(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def stream_events(msg_id: str, model: str, blocks: list, stop_reason: str, stop_sequence, usage: dict,
                  delta_usage: str = "output") -> list:
    start_usage = dict(usage, output_tokens=1)
    events = [sse("message_start", {"type": "message_start", "message": message_body(
        msg_id, model, [], None, None, start_usage)})]
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                      "content_block": {"type": "text", "text": ""}}))
            if index == 0:
                events.append(sse("ping", {"type": "ping"}))
            for piece in text_pieces(block["text"]):
                events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                          "delta": {"type": "text_delta", "text": piece}}))
        elif kind == "tool_use":
            events.append(sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            if index == 0:
                events.append(sse("ping", {"type": "ping"}))
            for piece in json_pieces(json.dumps(block["input"])):
                events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                          "delta": {"type": "input_json_delta", "partial_json": piece}}))
        else:  # e.g. thinking: start with the whole block
            events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                      "content_block": block}))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {"output_tokens": usage["output_tokens"]}
    if delta_usage == "full":   # newer API versions repeat the (cumulative) input and cache counts here
        final = dict(usage)
    events.append(sse("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": stop_reason, "stop_sequence": stop_sequence}, "usage": final}))
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events


# ------------------------------------------------------------------------------------------- server

class _Handler(MockRequestHandler):
    server_version = "mock-anthropic/1.0"

    def _send_json(self, code: int, payload: dict, headers: Optional[dict] = None):
        data = json.dumps(payload).encode()
        request_id = payload.get("request_id") or f"req_mock{self.server.mock._next_id()}"
        self._send_body(code, data, [("Content-Type", "application/json"), ("request-id", request_id),
                                     *(headers or {}).items()])

    def _send_events(self, events: list, behaviour: Behaviour, tail: Optional[str] = None):
        if tail is not None:
            events = events[:behaviour.after or 0] + [tail]
        self._stream([("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"),
                      ("request-id", f"req_mock{self.server.mock._next_id()}")], events, behaviour)
        if tail is not None:
            self.close_connection = True

    def do_PUT(self):
        self._handle("PUT")

    def _record(self, method: str, path: str, headers: dict, body: Any, raw: bytes) -> Recorded:
        record = Recorded(method, path, headers, body, raw, time.time())
        try:
            check_request(method, path, headers, raw, self.server.mock.api_key)
        except Refusal as refusal:
            record.problem = str(refusal)
        return record

    def _respond(self, record: Recorded, behaviour: Behaviour):
        mock: AnthropicMock = self.server.mock
        if record.problem is not None:
            return self._send_json(400, error_body("invalid_request_error", record.problem))
        if not self._wait_turn(behaviour):
            return
        body = record.body   # checked: a JSON object with a model
        streamed = body.get("stream") is True
        if behaviour.kind == "error" or (behaviour.kind == "stream_error" and not streamed):
            return self._send_json(behaviour.status, error_body(
                behaviour.error_type, behaviour.message, f"req_mock{mock._next_id()}"), behaviour.headers)
        seq = mock._next_id()
        msg_id = f"msg_mock{seq:04d}"
        blocks = _blocks(behaviour, mock)
        usage = _usage(behaviour, mock)
        stop_reason = _stop_reason(behaviour, blocks)
        if streamed:
            events = stream_events(msg_id, body["model"], blocks, stop_reason, behaviour.stop_sequence, usage,
                                   behaviour.delta_usage)
            tail = None
            if behaviour.kind == "stream_error":
                tail = sse("error", {"type": "error", "error": {"type": behaviour.error_type,
                                                                "message": behaviour.message}})
            return self._send_events(events, behaviour, tail)
        self._send_json(200, message_body(msg_id, body["model"], blocks, stop_reason, behaviour.stop_sequence,
                                          usage), behaviour.headers)


# ------------------------------------------------------------------------------------------ the mock

class AnthropicMock(MockServer):
    """A threaded HTTP/1.1 (keep-alive) mock of POST /v1/messages; see the module docstring."""

    _handler = _Handler
    _queue_size = 256
    _thread_name = "anthropic-mock"
    _copy_behaviour = staticmethod(copy.deepcopy)

    def __init__(self, api_key: Optional[str] = "sk-ant-mock-key", host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key            # None: any x-api-key is accepted (still required)
        super().__init__(host, port)

    def _reset_settings(self):
        """Back to text answers with the default usage."""
        self.default = text()
        self.usage = dict(DEFAULT_USAGE)
        self.text = DEFAULT_TEXT

    @property
    def problems(self) -> list:
        with self._lock:
            return [r.problem for r in self.requests if r.problem is not None]

    def _takes_behaviour(self, record: Recorded) -> bool:
        return record.problem is None   # a refused request takes no behaviour from the queue


def main(argv=None):
    parser = standalone_parser("Mock of Anthropic's Messages API")
    parser.add_argument("--api-key", default="sk-ant-mock-key", help="the x-api-key to accept ('' accepts any)")
    args = parser.parse_args(argv)
    mock = AnthropicMock(args.api_key or None, args.host, args.port)
    mock._serve_standalone("anthropic mock")


if __name__ == "__main__":
    sys.exit(main())
