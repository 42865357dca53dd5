"""`config/tools.yaml` and the bundled `http_get` tool end to end: `http_get` is off until the
operator lists hosts; it fetches text over GET from a listed host only (here a test server on
loopback), follows no redirect to another host, refuses non-text answers and cuts long bodies;
tools.yaml's price and timeout overrides apply at once on `aex models reload`, and an invalid file
is refused with the previous configuration kept."""
import http.server
import threading

import pytest

from test_proxy import (  # noqa: F401  (fixtures)
    _stopping, _wait_for_stopping_daemons, dead_port, mock, mock_server, proxy,
)
from test_tools import execute, failed, listing, prices, succeeded


class Site(http.server.BaseHTTPRequestHandler):
    """/text (text/plain), /big (400 KiB of text), /binary (image/png), /away (302 to another host)."""

    def do_GET(self):
        if self.path == "/away":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/text")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, kind = {"/text": (b"hello from the site\n", "text/plain; charset=utf-8"),
                      "/big": (b"x" * (400 * 1024), "text/plain"),
                      "/binary": (b"\x89PNG\r\n\x1a\n", "image/png")}.get(self.path, (b"nothing here", "text/plain"))
        self.send_response(200 if self.path in ("/text", "/big", "/binary") else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def write_tools(proxy, text):
    (proxy.aex.home / "config" / "tools.yaml").write_text(text)
    return proxy.aex.run("models", "reload")


def test_http_get_is_off_until_hosts_are_listed(proxy, site):
    token = proxy.agent("bot", "1")
    assert "http_get" not in prices(proxy, token)
    failed(execute(proxy, token, "http_get", {"url": site + "/text"}), 404, "tool_not_found")
    assert proxy.balance("bot")["spent_micro"] == 0


def test_http_get_fetches_text_from_a_listed_host_only(proxy, site):
    token = proxy.agent("bot", "1")
    assert write_tools(proxy, "version: 1\nhttp_get:\n  allowed_hosts:\n    - 127.0.0.1\n").returncode == 0
    price = prices(proxy, token)["http_get"]
    result = succeeded(execute(proxy, token, "http_get", {"url": site + "/text"}), "http_get", price)
    assert result == {"status": 200, "content_type": "text/plain; charset=utf-8", "text": "hello from the site\n", "truncated": False}
    big = succeeded(execute(proxy, token, "http_get", {"url": site + "/big"}), "http_get", price)
    assert big["truncated"] is True and len(big["text"]) == 256 * 1024
    spent = proxy.balance("bot")["spent_micro"]
    assert spent == 2 * price

    failed(execute(proxy, token, "http_get", {"url": site.replace("127.0.0.1", "localhost") + "/text"}), 502, "tool_failed", "not listed")
    failed(execute(proxy, token, "http_get", {"url": site + "/away"}), 502, "tool_failed", "redirect")
    failed(execute(proxy, token, "http_get", {"url": site + "/binary"}), 502, "tool_failed", "not text")
    failed(execute(proxy, token, "http_get", {"url": "ftp://127.0.0.1/x"}), 502, "tool_failed", "http")
    failed(execute(proxy, token, "http_get", {"url": 5}), 400, "invalid_request", "arguments.url")
    assert proxy.balance("bot")["spent_micro"] == spent, "failed fetches cost nothing"


def test_overrides_apply_on_reload_and_an_invalid_file_keeps_the_previous_configuration(proxy):
    token = proxy.agent("bot", "1")
    assert prices(proxy, token)["calculator"] == 10
    assert write_tools(proxy, "version: 1\ntools:\n  calculator:\n    price_micro: 25\n    timeout_ms: 500\n").returncode == 0
    assert prices(proxy, token)["calculator"] == 25
    succeeded(execute(proxy, token, "calculator", {"expression": "6*7"}), "calculator", 25)
    assert proxy.balance("bot")["spent_micro"] == 25

    for bad in ("version: 1\ntools:\n  nosuch:\n    price_micro: 1\n", "version: 1\ntools:\n  calculator:\n    price_micro: -1\n",
                "version: 2\n", "version: 1\nhttp_get:\n  allowed_hosts: example.com\n", "version: 1\nextra: 1\n"):
        reloaded = write_tools(proxy, bad)
        assert reloaded.returncode == 1 and "tools.yaml" in reloaded.stderr, (bad, reloaded.stderr)
        assert prices(proxy, token)["calculator"] == 25, "the previous configuration stays in force"
        doctor = proxy.aex.run("doctor")
        assert doctor.returncode == 1 and "FAIL tools.yaml" in doctor.stdout, doctor.stdout
    for item in listing(proxy, token):
        assert item["function"]["name"] != "http_get"
