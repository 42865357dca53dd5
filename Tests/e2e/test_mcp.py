"""`/mcp`: AEX's governed tools for any MCP client, driven by the official `mcp` package's client over
streamable HTTP with nothing but the URL and an agent's token. Initialize (version negotiation,
server info, the tools capability, the session), tools/list (what GET /v1/tools lists, a disabled
plugin's tools gone at once), tools/call of every bundled tool (charged and recorded exactly as the
same calls through /v1/tools/execute), a refused tool, a paused agent, a budget exhausted mid-session,
tool failures as isError results; and, over raw HTTP, every malformed or out-of-protocol request:
a JSON-RPC error or a 4xx, no crash, no charge."""
import asyncio
import http.client
import json
import re

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from test_proxy import (  # noqa: F401  (fixtures)
    _stopping, _wait_for_stopping_daemons, dead_port, mock, mock_server,
)
from test_tools import (  # noqa: F401  (fixtures)
    execute, events, ledger_verifies, open_reservations, prices, proxy, rows, succeeded,
)
from test_tools_config import site, write_tools  # noqa: F401  (fixture)

LATEST = "2025-11-25"
CALLS = [("calculator", {"expression": "1/3 + 2"}), ("current_time", {"timezone": "UTC"})]


# ------------------------------------------------------------------------------------------- helpers

def run(proxy, token, body):
    """Runs `await body(session)` in an initialized MCP session of the official client; returns
    (what body returned, the InitializeResult)."""
    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http_client:
            async with streamable_http_client(f"http://127.0.0.1:{proxy.port}/mcp", http_client=http_client) as (read, write):
                async with ClientSession(read, write) as session:
                    initialized = await session.initialize()
                    return await body(session), initialized
    return asyncio.run(main())


def raw(proxy, method="POST", body=None, token=None, headers=None):
    """One raw request to /mcp: (status, lower-cased headers, parsed JSON body or None)."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        connection.request(method, "/mcp", body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        return response.status, found, (json.loads(payload) if payload else None)
    finally:
        connection.close()


def rpc(method, params=None, id_=1):
    message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def open_session(proxy, token, version=LATEST):
    status, headers, body = raw(proxy, body=rpc("initialize", {"protocolVersion": version, "capabilities": {},
                                                                "clientInfo": {"name": "raw", "version": "1"}}), token=token)
    assert status == 200 and "result" in body, body
    session = headers["mcp-session-id"]
    assert re.fullmatch(r"[0-9A-Za-z]{32}", session), session
    status, _, _ = raw(proxy, body={"jsonrpc": "2.0", "method": "notifications/initialized"}, token=token,
                       headers={"Mcp-Session-Id": session})
    assert status == 202
    return session, body["result"]


def in_session(proxy, token, session, body, version=LATEST):
    return raw(proxy, body=body, token=token, headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": version})


def ledger_story(proxy, agent):
    """The agent's ledger events with what differs between two agents removed (ids, times, names)."""
    story = []
    for row in rows(proxy, "SELECT type, payload FROM event_log WHERE agent_name = ? ORDER BY seq", agent):
        payload = json.loads(row["payload"])
        kept = {k: v for k, v in payload.items()
                if not re.search(r"(^|_)(id|at|time|micros|millis|ms|agent|name|token|prefix|seq)$", k) and k not in ("execution_id",)}
        story.append((row["type"], json.dumps(kept, sort_keys=True)))
    return story


def no_charge(proxy, agent):
    assert proxy.balance(agent)["spent_micro"] == 0 and proxy.balance(agent)["reserved_micro"] == 0
    assert open_reservations(proxy, agent) == []


# ----------------------------------------------------------------------------------------- the client

def test_initialize_negotiates_and_lists_the_agents_tools(proxy):
    token = proxy.agent("bot", "1")

    async def body(session):
        return await session.list_tools(), await session.send_ping()
    (listed, _), initialized = run(proxy, token, body)
    assert initialized.protocol_version == LATEST
    assert initialized.server_info.name == "aex" and initialized.server_info.version
    assert initialized.capabilities.tools is not None
    listed_tools = {tool.name: tool for tool in listed.tools}
    via_rest = {item["function"]["name"]: item["function"] for item in
                proxy.http("GET", "/v1/tools", token=token)[2]["data"]}
    assert set(listed_tools) == set(via_rest) == {"calculator", "current_time"}, "http_get is off without hosts"
    for name, tool in listed_tools.items():
        assert tool.description == via_rest[name]["description"]
        assert tool.input_schema == via_rest[name]["parameters"]
    no_charge(proxy, "bot")


def test_every_bundled_tool_is_charged_and_recorded_as_through_tools_execute(proxy, site):
    assert write_tools(proxy, "version: 1\nhttp_get:\n  allowed_hosts:\n    - 127.0.0.1\n").returncode == 0
    calls = CALLS + [("http_get", {"url": site + "/text"})]
    mcp_token, rest_token = proxy.agent("viamcp", "1"), proxy.agent("viarest", "1")
    price = prices(proxy, rest_token)

    async def body(session):
        return [await session.call_tool(name, arguments) for name, arguments in calls]
    results, _ = run(proxy, mcp_token, body)
    rest_results = [succeeded(execute(proxy, rest_token, name, arguments), name, price[name]) for name, arguments in calls]

    for (name, _), result, rest in zip(calls, results, rest_results):
        assert result.is_error is False, result
        assert result.structured_content == rest or name == "current_time", (name, result.structured_content, rest)
        assert json.loads(result.content[0].text) == result.structured_content
        assert result.meta["aex/cost_micro"] == price[name]
        assert re.fullmatch(r"exec_[0-9a-f]+", result.meta["aex/execution_id"]), result.meta
    assert results[0].structured_content == {"result": "2.33333333333333333333333333333333"}
    assert results[2].structured_content["text"] == "hello from the site\n"
    spent = sum(price[name] for name, _ in calls)
    assert proxy.balance("viamcp")["spent_micro"] == proxy.balance("viarest")["spent_micro"] == spent
    story = ledger_story(proxy, "viamcp")
    assert [kind for kind, _ in story].count("reservation") == 3 and [kind for kind, _ in story].count("commit") == 3, story
    assert story == ledger_story(proxy, "viarest"), "the same events with the same amounts, in the same order"
    assert [e["payload"]["endpoint"] for e in events(proxy, "reservation", "viamcp")] == ["tools/execute"] * 3
    ledger_verifies(proxy)


def test_a_tool_failure_is_an_error_result_that_costs_nothing(proxy):
    token = proxy.agent("bot", "1")

    async def body(session):
        return await session.call_tool("current_time", {"timezone": "Nowhere/Atlantis"})
    result, _ = run(proxy, token, body)
    assert result.is_error is True, result
    assert "current_time" in result.content[0].text and "failed" in result.content[0].text, result.content
    no_charge(proxy, "bot")
    commits = events(proxy, "release", "bot")
    assert len(commits) == 1, "the reservation was released, as through /v1/tools/execute"


def test_refused_tool_paused_agent_and_exhausted_budget_are_json_rpc_errors(proxy):
    price = prices(proxy, proxy.agent("probe", "1"))["calculator"]
    token = proxy.agent("bot", f"0.{price * 2:06d}", "100000", "--tools", "calculator")

    async def body(session):
        outcomes = []
        for _ in range(3):  # the budget pays for two
            try:
                outcomes.append(await session.call_tool("calculator", {"expression": "2*3"}))
            except MCPError as error:
                outcomes.append(error)
        try:
            await session.call_tool("current_time", {})
        except MCPError as error:
            outcomes.append(error)
        return outcomes
    outcomes, _ = run(proxy, token, body)
    assert [o.is_error for o in outcomes[:2]] == [False, False]
    exhausted, refused = outcomes[2], outcomes[3]
    assert isinstance(exhausted, MCPError) and exhausted.error.code == -32001, exhausted
    assert exhausted.error.message.startswith("budget_exceeded: "), exhausted.error.message
    assert exhausted.error.data["status"] == 402 and exhausted.error.data["code"] == "budget_exceeded"
    assert isinstance(refused, MCPError) and refused.error.message.startswith("policy_violation: "), refused
    assert "current_time" in refused.error.message and refused.error.data["status"] == 403
    assert proxy.balance("bot")["spent_micro"] == 2 * price and proxy.balance("bot")["reserved_micro"] == 0

    proxy.aex.run("agent", "pause", "bot", check=0)

    async def paused(session):
        try:
            return await session.call_tool("calculator", {"expression": "1"})
        except MCPError as error:
            return error
    error, _ = run(proxy, token, paused)
    assert isinstance(error, MCPError), f"a paused agent's call ran: {error}"
    assert error.error.message.startswith("agent_paused: ") and error.error.data["status"] == 423, error.error
    assert proxy.balance("bot")["spent_micro"] == 2 * price
    codes = [json.loads(r["payload"]).get("code") for r in rows(
        proxy, "SELECT payload FROM event_log WHERE type IN ('denial', 'policy_refusal') AND agent_name = 'bot' ORDER BY seq")]
    assert {"budget_exceeded", "policy_violation", "agent_paused"} <= set(codes), codes


def test_a_disabled_plugin_leaves_the_next_list_in_the_same_session(proxy):
    token = proxy.agent("bot", "1")

    async def body(session):
        before = {tool.name for tool in (await session.list_tools()).tools}
        proxy.aex.run("plugin", "disable", "aex-tools", check=0)
        after = {tool.name for tool in (await session.list_tools()).tools}
        try:
            await session.call_tool("calculator", {"expression": "1"})
            called = "ran"
        except MCPError as error:
            called = error.error.message
        return before, after, called
    (before, after, called), _ = run(proxy, token, body)
    assert before == {"calculator", "current_time"} and after == set()
    assert called.startswith("tool_not_found: "), called
    no_charge(proxy, "bot")


# ------------------------------------------------------------------------------------ the transport

def test_versions_sessions_and_batches_follow_the_negotiated_version(proxy):
    token = proxy.agent("bot", "1")
    for asked, agreed in [("2025-06-18", "2025-06-18"), ("2024-11-05", "2024-11-05"), ("1999-01-01", LATEST)]:
        _, result = open_session(proxy, token, asked)
        assert result["protocolVersion"] == agreed and result["capabilities"]["tools"] == {"listChanged": False}

    modern, _ = open_session(proxy, token)
    batch = [rpc("ping", id_=1), {"jsonrpc": "2.0", "method": "notifications/progress"}, rpc("tools/list", id_=2)]
    status, _, body = in_session(proxy, token, modern, batch)
    assert status == 400 and body["error"]["code"] == -32600 and "batch" in body["error"]["message"], body

    older, _ = open_session(proxy, token, "2025-03-26")
    status, _, body = in_session(proxy, token, older, batch + [rpc("tools/call", {"name": "calculator",
                                                                                  "arguments": {"expression": "2+2"}}, id_=3)],
                                 version="2025-03-26")
    assert status == 200 and [answer["id"] for answer in body] == [1, 2, 3], body
    assert body[0]["result"] == {} and {t["name"] for t in body[1]["result"]["tools"]} == {"calculator", "current_time"}
    assert body[2]["result"]["structuredContent"] == {"result": "4"}
    status, _, body = in_session(proxy, token, older, [{"jsonrpc": "2.0", "method": "notifications/initialized"}],
                                 version="2025-03-26")
    assert status == 202 and body is None
    status, _, body = in_session(proxy, token, older, [], version="2025-03-26")
    assert status == 400 and body["error"]["code"] == -32600
    status, _, body = in_session(proxy, token, older, [rpc("initialize", {"protocolVersion": LATEST})], version="2025-03-26")
    assert status == 200 and body[0]["error"]["code"] == -32600, body

    status, _, body = in_session(proxy, token, modern, rpc("ping"), version="2025-06-18")
    assert status == 400 and "MCP-Protocol-Version" in body["error"]["message"], body
    status, _, _ = raw(proxy, "DELETE", token=token, headers={"Mcp-Session-Id": modern})
    assert status == 204
    status, _, body = in_session(proxy, token, modern, rpc("ping"))
    assert status == 404 and body["error"]["code"] == -32600, "an ended session is gone"
    other = proxy.agent("other", "1")
    mine, _ = open_session(proxy, token)
    status, _, _ = in_session(proxy, other, mine, rpc("ping"))
    assert status == 404, "a session belongs to the agent that opened it"
    assert proxy.balance("bot")["spent_micro"] == prices(proxy, token)["calculator"]


def test_malformed_and_out_of_protocol_requests_cost_nothing(proxy):
    token = proxy.agent("bot", "1")
    session, _ = open_session(proxy, token)

    def check(status_expected, code_expected, body, headers=None, method="POST", with_session=True):
        sent = {"Mcp-Session-Id": session} if with_session else {}
        sent.update(headers or {})
        status, _, answer = raw(proxy, method, body=body, token=token, headers=sent)
        assert status == status_expected, (body, status, answer)
        if code_expected is not None:
            assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == code_expected, (body, answer)
        return answer

    check(400, -32700, b"{not json")
    check(400, -32700, b"")
    check(400, -32600, {"id": 1, "method": "ping"})                      # no "jsonrpc"
    check(400, -32600, {"jsonrpc": "1.0", "id": 1, "method": "ping"})
    check(400, -32600, {"jsonrpc": "2.0", "id": 1, "method": 7})
    check(400, -32600, {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"})
    check(400, -32600, "just a string")
    assert check(200, -32601, rpc("resources/list"))["id"] == 1
    assert check(200, -32601, rpc("sampling/createMessage", id_="abc"))["id"] == "abc"
    check(200, -32602, rpc("tools/call", {}))
    check(200, -32602, rpc("tools/call", {"name": "calculator", "arguments": [1]}))
    invalid = check(200, -32602, rpc("tools/call", {"name": "calculator", "arguments": {"expression": 5}}))
    assert "invalid_request" in invalid["error"]["message"] and "expression" in invalid["error"]["message"], invalid
    check(200, -32602, rpc("tools/call", {"name": "no_such_tool"}))
    check(200, -32602, rpc("initialize", {}), with_session=False)
    check(400, -32600, rpc("ping"), with_session=False)
    check(404, -32600, rpc("ping"), headers={"Mcp-Session-Id": "A" * 32})
    check(403, -32600, rpc("ping"), headers={"Origin": "https://evil.example"})
    check(200, None, rpc("ping"), headers={"Origin": "http://localhost:8080"})
    answer = check(405, -32600, None, method="GET")
    check(405, -32600, None, method="PUT")
    status, headers, _ = raw(proxy, "GET", token=token, headers={"Mcp-Session-Id": session})
    assert status == 405 and "POST" in headers.get("allow", "")
    status, _, body = raw(proxy, body=rpc("ping"), token="aex_not_a_token")
    assert status == 401, body
    status, _, body = raw(proxy, body=rpc("ping"))
    assert status == 401, body
    big = rpc("tools/call", {"name": "calculator", "arguments": {"expression": "1+" * 3000 + "1"}})
    status, _, body = raw(proxy, body=big, token=token, headers={"Mcp-Session-Id": session})
    assert status == 200 and ("error" in body or body["result"]["isError"] is True), body
    no_charge(proxy, "bot")
    assert check(200, None, rpc("ping"))["result"] == {}, "the session still works"
    ledger_verifies(proxy)
