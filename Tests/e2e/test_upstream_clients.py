"""Both provider clients: plain-HTTP providers at a numeric address are called by the event loop's
own HTTP/1.1 client by default (every other file runs on it); `AEX_UPSTREAM_CLIENT=curl` sends
every provider through libcurl instead. The transfer behaviours a client owns — answers, errors,
timeouts, closed connections, streams with pause, disconnect and silence — run here again with
libcurl, so both keep the same contract."""
import json

import pytest

from conftest import Aex
from test_proxy import (  # noqa: F401  (fixtures and helpers)
    MOCK_KEY, Proxy, _wait_for_stopping_daemons, chat, dead_port, mock, mock_server, running_proxy, settled,
    test_chat_is_forwarded_governed_and_settled_exactly as test_curl_chat_is_forwarded_governed_and_settled_exactly,
    test_dead_provider_is_502_and_releases as test_curl_dead_provider_is_502_and_releases,
    test_provider_closing_the_connection_is_502_and_releases as test_curl_provider_closing_the_connection_is_502_and_releases,
    test_provider_ending_idle_connections_costs_nothing_and_next_calls_reconnect as test_curl_provider_ending_idle_connections,
    test_provider_error_with_a_foreign_body_is_wrapped as test_curl_provider_error_with_a_foreign_body_is_wrapped,
    test_provider_timeout_is_504_and_releases as test_curl_provider_timeout_is_504_and_releases,
    test_streamed_chat_costs_the_same_and_hides_the_usage_chunk as test_curl_streamed_chat_costs_the_same,
)
from test_stream import (  # noqa: F401
    test_client_disconnect_after_first_chunk_releases_within_two_seconds as test_curl_client_disconnect_mid_stream,
    test_provider_silent_between_events_times_out_cleanly as test_curl_provider_silent_between_events_times_out,
    test_slow_reader_keeps_memory_bounded as test_curl_slow_reader_keeps_memory_bounded,
    test_stream_relays_chunks_as_they_arrive as test_curl_stream_relays_chunks_as_they_arrive,
    test_upstream_failure_mid_stream_ends_cleanly_with_an_error_event as test_curl_upstream_failure_mid_stream,
)


@pytest.fixture
def proxy(tmp_path, mock, dead_port):
    """The daemon of `test_proxy.proxy`, with every provider called through libcurl."""
    yield from running_proxy(tmp_path, mock, dead_port, {"AEX_UPSTREAM_CLIENT": "curl"})


def test_an_unknown_client_setting_stops_the_daemon(tmp_path):
    aex = Aex(tmp_path / "home", extra_env={"AEX_UPSTREAM_CLIENT": "wget"})
    aex.run("init", check=0)
    result = aex.run("daemon", "start", "--port", "0")
    assert result.returncode == 1
    assert "AEX_UPSTREAM_CLIENT must be 'loop' or 'curl', got 'wget'" in result.stderr + result.stdout


def test_the_setting_picks_the_client(proxy):
    """The daemon says which client it runs, and the provider sees it: libcurl adds its default
    `Accept: */*`, which the loop's client does not send."""
    records = [json.loads(line) for line in (proxy.aex.home / "logs" / "daemon.log").read_text().splitlines() if line.startswith("{")]
    assert [r["fields"]["upstream_client"] for r in records if r["msg"] == "daemon listening"][-1] == "curl"
    chat(proxy.client(proxy.agent("bot", "10")))
    assert proxy.mock.last().headers.get("accept") == "*/*"


def test_the_loop_client_is_the_default(tmp_path, mock, dead_port):
    aex = Aex(tmp_path / "home", extra_env={"MOCK_API_KEY": MOCK_KEY})
    aex.run("init", check=0)
    instance = Proxy(aex, mock, dead_port)
    instance.write_config()
    aex.start()
    try:
        chat(instance.client(instance.agent("bot", "10")))
        assert "accept" not in mock.last().headers
        assert mock.last().headers.get("host") == f"127.0.0.1:{mock.port}"
        settled(instance, "bot", 35)
    finally:
        aex.stop()
