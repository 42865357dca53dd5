"""What a new user hits first, end to end through the official openai SDK: a governed stream from the
offline echo provider, embeddings on a model whose file names no capabilities, both refusals at once,
and the tokens-per-minute window after a provider that reports more than was admitted."""
import openai

from mock_provider import normal
from test_proxy import (  # noqa: F401  (fixtures)
    HELLO, _wait_for_stopping_daemons, chat, cost, dead_port, mock, mock_server, proxy, refused, reservation, settled,
)


def test_echo_streams_chat_and_responses_at_the_cost_of_the_plain_call(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    messages = [{"role": "user", "content": "hello from a newcomer who wants to see a stream"}]
    plain = client.chat.completions.with_raw_response.create(model="echo-1", messages=messages)
    plain_cost = int(plain.headers["x-aex-cost-micro"])
    reply = plain.parse().choices[0].message.content

    chunks = list(client.chat.completions.create(model="echo-1", messages=messages, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2, "several chunks"
    assert "".join(pieces) == reply
    assert all(c.model == "echo-1" for c in chunks)
    assert all(c.usage is None for c in chunks), "no usage chunk unless asked"
    settled(proxy, "bot", 2 * plain_cost)

    with_usage = list(client.chat.completions.create(model="echo-1", messages=messages, stream=True,
                                                     stream_options={"include_usage": True}))
    usage = with_usage[-1].usage
    assert cost(usage.prompt_tokens, usage.completion_tokens, 1, 1) == plain_cost
    settled(proxy, "bot", 3 * plain_cost)

    plain_response = client.responses.with_raw_response.create(model="echo-1", input="hello again")
    response_cost = int(plain_response.headers["x-aex-cost-micro"])
    events = list(client.responses.create(model="echo-1", input="hello again", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 2 and "".join(deltas) == plain_response.parse().output_text
    assert events[-1].type == "response.completed"
    settled(proxy, "bot", 3 * plain_cost + 2 * response_cost)
    assert proxy.mock.count == 0, "offline"


def test_embeddings_on_a_model_whose_file_names_no_capabilities(proxy):
    proxy.write_config(extra_models="""  bare-model:
    provider: mock
    provider_model: mock-embed-v1
    pricing:
      input_micro: 1
      output_micro: 1
    limits:
      max_tokens: 100
""")
    proxy.aex.run("models", "reload", check=0)
    client = proxy.client(proxy.agent("bot", "10"))
    result = client.embeddings.create(model="bare-model", input="hello")
    assert len(result.data) == 1
    assert proxy.mock.last().path == "/v1/embeddings"
    settled(proxy, "bot", 10)


def test_when_rate_limit_and_budget_both_refuse_the_answer_is_429(proxy):
    one_call = reservation(HELLO, 50)
    client = proxy.client(proxy.agent("bot", f"0.{one_call:06d}", "1"))
    chat(client, max_tokens=50)                      # spends 35 of 184: no room for a second reservation
    error = refused(proxy, "bot", lambda: chat(client, max_tokens=50), openai.RateLimitError, 429, "rate_limit_exceeded")
    assert int(error.response.headers["retry-after"]) >= 1


def test_tokens_per_minute_are_corrected_upwards_at_settlement(proxy):
    client = proxy.client(proxy.agent("bot", "10", "100", "--tpm", "500"))
    proxy.mock.push(normal(usage={"prompt_tokens": 10, "completion_tokens": 500}))
    chat(client, max_tokens=3)                       # admitted for 17 + 3 tokens, reported 510
    error = refused(proxy, "bot", lambda: chat(client, max_tokens=3), openai.RateLimitError, 429, "rate_limit_exceeded")
    assert int(error.response.headers["retry-after"]) >= 50, "the minute is used up"
