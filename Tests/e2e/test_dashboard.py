"""The operator dashboard (`GET /dashboard`, SPEC §14) driven like a person in a real browser:
headless Chromium through selenium, against the real daemon. The page is served without a token
and with a strict Content-Security-Policy (its hashes match the inline style and script), loads
nothing from another origin, asks for the admin token (a wrong one is refused with a message),
keeps it in session storage across a reload and forgets it on logout, shows the agents with their
budget, rate use and state, the live activity feed, the denials, the in-flight calls, open
connections, the ledger head with a working "Verify ledger" button, plugins and tools; and every
value from the server is text. Agent names cannot carry markup (the CLI refuses
`<img src=x onerror=alert(1)>`), so the hostile strings enter through what a client sends: the
model names of two refused calls, which the ledger quotes in the denials' reasons.

Screenshots are kept in Tests/e2e/artifacts/dashboard-*.png."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TOKEN_KEY = "aex.admin_token"

HOSTILE_AGENT = "<img src=x onerror=alert(1)>"
HOSTILE_MODELS = ("<img src=x onerror=alert(1)>", "'\"><svg onload=window.__pwned=1><script>window.__pwned=2</script>")
HELLO = [{"role": "user", "content": "hello"}]


# ------------------------------------------------------------------------------------ helpers

def usd(micro):
    """The page's format: exact dollars, at least two decimals, thousands separated."""
    sign = "−" if micro < 0 else ""
    whole, fraction = divmod(abs(micro), 1_000_000)
    fraction = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}${whole:,}.{fraction}"


def fetch(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def chat(connection, token, model, **extra):
    body = json.dumps({"model": model, "messages": HELLO, **extra})
    connection.request("POST", "/v1/chat/completions", body=body,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def directives(policy):
    result = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            result[words[0]] = words[1:]
    return result


def sha256_source(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class Browser:
    """Headless Chromium, with the network and console logs kept for the checks at the end."""

    def __init__(self, origin):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.origin = origin
        self.requests = []      # (url, headers) of every request the page sent
        self.console = []

    def drain_logs(self):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                request = message["params"]["request"]
                self.requests.append((request["url"], {k.lower(): v for k, v in request.get("headers", {}).items()}))
        self.console += self.driver.get_log("browser")

    def wait(self, condition, timeout=10, message=""):
        # The page replaces rows and trims the feed while we look: a stale element means "look again".
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda _: condition(), message)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def shown(self, element_id):
        return self.driver.find_element(By.ID, element_id).is_displayed()

    def session_token(self):
        return self.driver.execute_script(f"return window.sessionStorage.getItem('{TOKEN_KEY}')")

    def screenshot(self, name, height=None):
        if height:
            self.driver.set_window_size(1400, height)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))
        if height:
            self.driver.set_window_size(1400, 1000)

    def no_alert(self):
        try:
            alert = self.driver.switch_to.alert
        except NoAlertPresentException:
            return True
        text = alert.text
        alert.dismiss()
        raise AssertionError(f"the page raised an alert: {text!r}")

    def quit(self):
        self.driver.quit()


def feed_seqs(browser, css="#feed li[data-seq]"):
    """The feed's seqs, top to bottom, read in one step (the page trims the feed as events arrive)."""
    script = "return Array.from(document.querySelectorAll(arguments[0]), (item) => item.getAttribute('data-seq'))"
    return [int(seq) for seq in browser.driver.execute_script(script, css)]


def agent_row(browser, name):
    rows = [row for row in browser.all("#agents tr[data-agent]") if row.get_attribute("data-agent") == name]
    return rows[0] if rows else None


# ------------------------------------------------------------------------------------ the page as served

def test_dashboard_is_served_without_a_token_with_a_strict_policy(daemon):
    status, headers, body = fetch(daemon.port, "/dashboard")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    html = body.decode()
    assert html.startswith("<!doctype html>")

    # One inline style sheet and one inline script, allowed by their SHA-256 and nothing else.
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(styles) == 1 and len(scripts) == 1
    assert html.count("<style") == 1 and html.count("<script") == 1
    policy = directives(headers["content-security-policy"])
    assert policy == {
        "default-src": ["'none'"],
        "script-src": [sha256_source(scripts[0])],
        "style-src": [sha256_source(styles[0])],
        "connect-src": ["'self'"],
        "img-src": ["data:"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }

    # Self-contained: no address of another origin, every src/href is inline data.
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for reference in re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html):
        assert reference.startswith("data:"), reference
    # Data is never parsed as HTML by the page.
    assert "innerHTML" not in scripts[0] and "outerHTML" not in scripts[0]
    assert "insertAdjacentHTML" not in scripts[0] and "document.write" not in scripts[0]

    # The data calls still need the admin token.
    assert fetch(daemon.port, "/admin/status")[0] == 401
    assert fetch(daemon.port, "/admin/status", token="aexadmin_" + "x" * 40)[0] == 401
    assert fetch(daemon.port, "/admin/status", token=daemon.admin_token)[0] == 200


# ------------------------------------------------------------------------------------ the page in a browser

def test_dashboard_in_a_browser(daemon):
    aex, port = daemon, daemon.port
    origin = f"http://127.0.0.1:{port}"

    # Agents: markup is not a valid agent name, so hostile text comes in through refused calls.
    refused = aex.run("agent", "create", HOSTILE_AGENT, "1", "60")
    assert refused.returncode != 0 and "agent name" in refused.stderr
    research = aex.json("agent", "create", "research-bot", "0.0002", "60", "--max-tokens", "8")["token"]
    aex.json("agent", "create", "quiet-bot", "1.50", "30")
    aex.run("agent", "pause", "quiet-bot", check=0)
    batch = aex.json("agent", "create", "batch-bot", "1", "600", "--max-tokens", "8")["token"]

    browser = Browser(origin)
    try:
        driver = browser.driver
        driver.get(f"{origin}/dashboard")
        assert driver.title == "AEX"

        # It asks for the token.
        browser.wait(lambda: browser.shown("token"))
        assert browser.find("#token").get_attribute("type") == "password"
        assert not browser.shown("dashboard") and not browser.shown("error")
        assert browser.session_token() is None
        browser.screenshot("login")

        # A wrong token: a clear error, and it keeps asking.
        browser.find("#token").send_keys("aexadmin_" + "w" * 40)
        browser.find("#login").click()
        browser.wait(lambda: browser.shown("error"), message="no error for a wrong token")
        error = browser.find("#error").text
        assert "401" in error and "refused" in error, error
        assert browser.shown("token") and not browser.shown("dashboard")
        assert browser.session_token() is None
        browser.screenshot("wrong-token")

        # The right one (typed, then Enter): the agents appear.
        browser.find("#token").send_keys(aex.admin_token, Keys.ENTER)
        browser.wait(lambda: len(browser.all("#agents tr[data-agent]")) == 3, message="the agents did not appear")
        assert not browser.shown("error") and not browser.shown("login-panel") and browser.shown("logout")
        assert browser.session_token() == aex.admin_token
        names = [row.get_attribute("data-agent") for row in browser.all("#agents tr[data-agent]")]
        assert sorted(names) == ["batch-bot", "quiet-bot", "research-bot"]
        quiet = agent_row(browser, "quiet-bot")
        assert "paused" in quiet.text and usd(1_500_000) in quiet.text and "0 / 30 rpm" in quiet.text
        assert "active" in agent_row(browser, "research-bot").text

        # The live feed is connected and shows the latest events, newest first.
        browser.wait(lambda: browser.find("#live").text == "Live", message="the live feed did not connect")
        browser.drain_logs()
        browser.wait(lambda: len(feed_seqs(browser)) > 0)
        seqs = feed_seqs(browser)
        assert seqs == sorted(seqs, reverse=True)
        assert any("quiet-bot" in item.text for item in browser.all("#feed li[data-type=agent_paused]"))

        # A governed call through the proxy (offline echo model) is in the feed within 2 s...
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        before = max(feed_seqs(browser))
        status, _ = chat(connection, research, "echo-1")
        assert status == 200
        called = time.monotonic()
        browser.wait(lambda: any(int(item.get_attribute("data-seq")) > before and "research-bot" in item.text
                                 for item in browser.all("#feed li[data-type=commit]")),
                     timeout=2.0, message="the call was not in the feed within 2 s")
        assert time.monotonic() - called <= 2.0
        commit = browser.all("#feed li[data-type=commit]")[0]
        assert usd(12) in commit.text, commit.text   # 6 prompt + 3 completion tokens at 1 and 2 micro-USD
        assert any("echo-1" in item.text for item in browser.all("#feed li[data-type=reservation]"))

        # ... and the budget moves (status every 2 s): spent, reserved, remaining of the budget, rate use.
        assert chat(connection, research, "echo-1")[0] == 200
        spent = aex.json("agent", "inspect", "research-bot")["spent_micro"]
        assert spent == 24
        browser.wait(lambda: f"{usd(spent)} spent" in agent_row(browser, "research-bot").text, timeout=5,
                     message="the spent amount did not update")
        row = agent_row(browser, "research-bot")
        assert f"{usd(200 - spent)} left of {usd(200)}" in row.text and f"{usd(0)} reserved" in row.text, row.text
        width = row.find_element(By.CSS_SELECTOR, ".bar .spent").value_of_css_property("width")
        bar = row.find_element(By.CSS_SELECTOR, ".bar").value_of_css_property("width")
        assert abs(float(width[:-2]) / float(bar[:-2]) - spent / 200) < 0.02, (width, bar)
        assert re.search(r"\b[2-9] / 60 rpm\b", row.text), row.text
        assert "/ h" in row.text

        # Denials: two calls naming hostile "models"; the reasons show as the characters sent.
        for model in HOSTILE_MODELS:
            status, body = chat(connection, research, model)
            assert status == 403 and json.loads(body)["error"]["code"] == "model_not_allowed"
        for model in HOSTILE_MODELS:
            browser.wait(lambda: any(model in item.text for item in browser.all("#denials li[data-seq]")), timeout=3,
                         message=f"the denial of {model!r} did not show")
        denial = browser.all("#denials li[data-seq]")[0]
        assert "model_not_allowed" in denial.text and "research-bot" in denial.text
        assert denial.get_attribute("data-type") == "denial"
        assert any(HOSTILE_MODELS[0] in item.text for item in browser.all("#feed li[data-type=denial]"))
        # Nothing ran: no element made from the text, no alert, no marker set.
        assert browser.all("img") == [] and browser.all("svg") == [] and len(browser.all("script")) == 1
        browser.no_alert()
        assert driver.execute_script("return typeof window.__pwned") == "undefined"
        driver.execute_script("document.getElementById('denials').scrollIntoView()")
        browser.screenshot("hostile", height=1700)
        driver.execute_script("window.scrollTo(0, 0)")

        # More than the feed keeps: at most 200 items, newest first, the newest being the ledger head.
        for _ in range(105):
            assert chat(connection, batch, "echo-1")[0] == 200
        browser.drain_logs()
        head_seq = int(aex.run("ledger", "head", check=0).stdout.strip().split(":")[0])
        browser.wait(lambda: feed_seqs(browser)[:1] == [head_seq], timeout=5, message="the feed did not reach the head")
        seqs = feed_seqs(browser)
        assert len(seqs) == 200 and seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
        connection.close()

        # In-flight calls, open connections, the ledger head.
        head = aex.run("ledger", "head", check=0).stdout.strip()
        head_seq, head_hash = head.split(":")
        browser.wait(lambda: head_hash in browser.find("#ledger-head").text, timeout=5,
                     message="the ledger head did not update")
        assert f"#{head_seq}" in browser.find("#ledger-head").text
        assert browser.find("#in-flight").text == "0"
        assert int(browser.find("#connections").text) >= 1   # the page's own live feed at least
        browser.wait(lambda: f"{usd(105 * 12)} spent" in agent_row(browser, "batch-bot").text, timeout=5)
        browser.screenshot("agents", height=1700)

        # Plugins and tools, as the admin API lists them.
        _, _, body = fetch(port, "/admin/plugins", token=aex.admin_token)
        plugins = {plugin["name"] for plugin in json.loads(body)}
        assert {row.get_attribute("data-plugin") for row in browser.all("#plugins tr[data-plugin]")} == plugins
        assert "echo" in plugins
        _, _, body = fetch(port, "/admin/status", token=aex.admin_token)
        tools = {tool["name"] for tool in json.loads(body)["tools"]}
        assert {row.get_attribute("data-tool") for row in browser.all("#tools tr[data-tool]")} == tools

        # Verify ledger.
        browser.find("#verify").click()
        browser.wait(lambda: browser.find("#verify-result").get_attribute("data-ok") is not None, timeout=10)
        result = browser.find("#verify-result")
        assert result.get_attribute("data-ok") == "true" and result.text.startswith("OK"), result.text
        assert f"#{head_seq}" in result.text
        browser.screenshot("verified")

        # A reload keeps the token (session storage): no login, the agents come back.
        driver.refresh()
        browser.wait(lambda: len(browser.all("#agents tr[data-agent]")) == 3, message="the reload lost the token")
        assert not browser.shown("login-panel") and browser.session_token() == aex.admin_token
        browser.wait(lambda: len(feed_seqs(browser)) > 0)

        # Logout forgets it, and a reload then asks again.
        browser.find("#logout").click()
        browser.wait(lambda: browser.shown("token"))
        assert browser.session_token() is None
        assert not browser.shown("dashboard") and browser.all("#agents tr") == [] and feed_seqs(browser) == []
        assert browser.find("#token").get_attribute("value") == ""
        driver.refresh()
        browser.wait(lambda: browser.shown("token"))
        time.sleep(0.5)
        assert not browser.shown("dashboard") and browser.session_token() is None

        # Over the whole visit: nothing left for another origin, every data call carried the token,
        # no policy violation, no alert.
        browser.no_alert()
        assert driver.execute_script("return typeof window.__pwned") == "undefined"
        browser.drain_logs()
        assert browser.requests
        for url, headers in browser.requests:
            assert url.startswith(origin + "/") or url.startswith("data:"), f"a request left for {url}"
            if url.startswith(origin + "/admin/"):
                assert headers.get("authorization", "").startswith("Bearer "), url
        paths = {url[len(origin):].split("?")[0] for url, _ in browser.requests if url.startswith(origin)}
        assert {"/dashboard", "/admin/status", "/admin/activity", "/admin/plugins", "/admin/replay"} <= paths
        assert any("stream=1" in url for url, _ in browser.requests)
        violations = [entry["message"] for entry in browser.console if "Content Security Policy" in entry["message"]]
        assert violations == []
        errors = [entry["message"] for entry in browser.console
                  if entry["level"] == "SEVERE" and "401" not in entry["message"]]
        assert errors == []
    finally:
        browser.quit()


def test_dashboard_reconnects_after_a_daemon_restart(daemon):
    """The live feed and the status come back by themselves when the daemon comes back (here after
    being killed, then started again on the same port): the stream is read again from the last seq
    seen, and the tab keeps its token."""
    aex, port = daemon, daemon.port
    origin = f"http://127.0.0.1:{port}"
    token = aex.json("agent", "create", "night-bot", "1", "60")["token"]
    browser = Browser(origin)
    try:
        browser.driver.get(f"{origin}/dashboard")
        browser.wait(lambda: browser.shown("token"))
        browser.find("#token").send_keys(aex.admin_token, Keys.ENTER)
        browser.wait(lambda: browser.find("#live").text == "Live", message="the live feed did not connect")
        before = max(feed_seqs(browser))

        os.kill(aex.state["pid"], signal.SIGKILL)
        browser.wait(lambda: browser.find("#live").text == "Reconnecting", timeout=5)
        browser.wait(lambda: browser.shown("notice"), timeout=5, message="no notice while the daemon is away")
        assert browser.shown("dashboard") and not browser.shown("login-panel")
        browser.screenshot("reconnecting")
        aex.run("daemon", "start", "--port", str(port), check=0)
        assert aex.port == port

        browser.wait(lambda: browser.find("#live").text == "Live", timeout=10, message="the live feed did not come back")
        browser.wait(lambda: not browser.shown("notice"), timeout=5)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert chat(connection, token, "echo-1")[0] == 200
        connection.close()
        browser.wait(lambda: any(seq > before for seq in feed_seqs(browser, "#feed li[data-type=commit]")),
                     timeout=2.0, message="a call after the restart was not in the feed within 2 s")
        seqs = feed_seqs(browser)
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
        assert browser.session_token() == aex.admin_token
        browser.no_alert()
    finally:
        browser.quit()
