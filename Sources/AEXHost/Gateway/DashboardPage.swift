import Foundation

/// `GET /dashboard`: the operator's page, one self-contained HTML document (SPEC §14).
///
/// The page asks for the admin token, keeps it in the tab's `sessionStorage` and sends it as
/// `Authorization: Bearer` on every data call, all made with `fetch` (the live feed reads the
/// `text/event-stream` of `/admin/activity?stream=1` through a streamed body, since `EventSource`
/// cannot send headers): `/admin/status` every 2 s (agents, in-flight calls, open connections, the
/// ledger head, tools), `/admin/activity` (latest events, then the live feed, reconnecting after the
/// last seq seen), `/admin/replay` (the verify button) and `/admin/plugins`.
///
/// Nothing outside the page is loaded: no CDN, font or image. The Content-Security-Policy allows only
/// the inline `<style>` and `<script>` below, by their SHA-256, and requests to the daemon itself, so
/// an injected tag, inline handler or `style` attribute does not run. The script also never builds
/// HTML from data: every value from the server (agent names, models, reasons, plugin fields) is
/// set with `textContent` or `createTextNode`, so it shows as the characters it is.
enum DashboardPage {
    /// The page's only style sheet; its SHA-256 is in the policy.
    static let style = #"""
    :root {
      --bg: #f5f6f8; --card: #ffffff; --line: #e2e5e9; --text: #1f2328; --muted: #667080;
      --accent: #2f5fb3; --spent: #3d5a80; --reserved: #d9a640; --left: #e7ebf0;
      --ok: #1d7a3a; --ok-bg: #e8f5ec; --bad: #b42330; --bad-bg: #fcebec; --warn: #8a5a00; --warn-bg: #fdf3df;
      --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
    }
    * { box-sizing: border-box; }
    [hidden] { display: none !important; }
    html { background: var(--bg); }
    body {
      margin: 0; color: var(--text); background: var(--bg);
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
    }
    code, .mono { font-family: var(--mono); font-size: 12.5px; }
    .muted { color: var(--muted); }
    .top {
      display: flex; align-items: center; justify-content: space-between; gap: 16px;
      padding: 12px 28px; background: var(--card); border-bottom: 1px solid var(--line);
    }
    .brand { display: flex; align-items: baseline; gap: 12px; }
    .mark { font-weight: 700; font-size: 18px; letter-spacing: 0.06em; color: var(--accent); }
    .title { font-weight: 600; }
    .top-right { display: flex; align-items: center; gap: 14px; }
    main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 48px; }
    .card {
      background: var(--card); border: 1px solid var(--line); border-radius: 8px;
      padding: 18px 20px; margin-bottom: 20px; min-width: 0;
    }
    h1 { font-size: 20px; margin: 0 0 8px; }
    h2 { font-size: 15px; margin: 0 0 14px; font-weight: 600; }
    .count { font-weight: 400; font-size: 13px; margin-left: 6px; }
    button {
      font: inherit; font-weight: 600; color: #fff; background: var(--accent);
      border: 1px solid var(--accent); border-radius: 6px; padding: 7px 14px; cursor: pointer;
    }
    button:hover { filter: brightness(1.08); }
    button:disabled { opacity: 0.6; cursor: default; }
    button.quiet { color: var(--text); background: var(--card); border-color: var(--line); font-weight: 500; }
    button:focus-visible, input:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
    .login { max-width: 520px; margin: 72px auto; padding: 28px; }
    .login label { display: block; font-weight: 600; margin: 18px 0 6px; }
    .login-row { display: flex; gap: 10px; }
    .login input {
      flex: 1; min-width: 0; font: inherit; font-family: var(--mono); padding: 7px 10px;
      border: 1px solid #c9ced6; border-radius: 6px; background: #fff; color: var(--text);
    }
    .error {
      margin: 16px 0 0; padding: 10px 12px; border-radius: 6px;
      color: var(--bad); background: var(--bad-bg); border: 1px solid #f3c7cb;
    }
    .notice {
      margin: 0 0 20px; padding: 10px 14px; border-radius: 6px;
      color: var(--warn); background: var(--warn-bg); border: 1px solid #f0dcb0;
    }
    .pill {
      display: inline-flex; align-items: center; gap: 6px; font-size: 12.5px; font-weight: 600;
      padding: 3px 10px; border-radius: 999px; background: var(--left); color: var(--muted);
    }
    .pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: #9aa3ae; }
    .pill.on { background: var(--ok-bg); color: var(--ok); }
    .pill.on::before { background: var(--ok); }
    .summary { display: grid; grid-template-columns: 1fr 1fr 2fr; gap: 20px; }
    .summary .card { margin-bottom: 20px; }
    .stat .label { color: var(--muted); font-size: 12.5px; text-transform: uppercase; letter-spacing: 0.04em; }
    .stat .value { font-size: 28px; font-weight: 600; margin-top: 4px; font-variant-numeric: tabular-nums; }
    .ledger .value { font-size: 20px; }
    .ledger .hash { display: block; font-family: var(--mono); font-size: 12px; font-weight: 400; color: var(--muted); word-break: break-all; margin-top: 2px; }
    .verify-row { display: flex; align-items: center; gap: 12px; margin-top: 12px; flex-wrap: wrap; }
    #verify-result { font-weight: 600; }
    #verify-result.ok { color: var(--ok); }
    #verify-result.bad { color: var(--bad); }
    .scroll { overflow-x: auto; }
    table { width: 100%; border-collapse: collapse; }
    th {
      text-align: left; font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase;
      letter-spacing: 0.04em; padding: 0 12px 8px 0; border-bottom: 1px solid var(--line); white-space: nowrap;
    }
    td { padding: 10px 12px 10px 0; border-bottom: 1px solid #eef0f3; vertical-align: top; }
    tbody tr:last-child td { border-bottom: none; }
    .num { text-align: right; font-variant-numeric: tabular-nums; }
    td.num { white-space: nowrap; }
    td.name { font-weight: 600; word-break: break-all; max-width: 260px; }
    td.empty { color: var(--muted); padding: 14px 0; }
    .budget-col { width: 38%; }
    .badge {
      display: inline-block; font-size: 12px; font-weight: 600; padding: 1px 8px; border-radius: 999px;
      background: var(--left); color: var(--muted); white-space: nowrap;
    }
    .badge.active, .badge.enabled { background: var(--ok-bg); color: var(--ok); }
    .badge.paused { background: var(--warn-bg); color: var(--warn); }
    .badge.disabled { background: var(--left); color: var(--muted); }
    .bar { display: flex; height: 10px; border-radius: 5px; overflow: hidden; background: var(--left); min-width: 160px; }
    .bar span { display: block; height: 100%; }
    .bar .spent { background: var(--spent); }
    .bar .reserved { background: var(--reserved); }
    .bar .left { background: var(--left); }
    .legend { font-size: 12.5px; color: var(--muted); margin-top: 6px; font-variant-numeric: tabular-nums; }
    .legend .item { white-space: nowrap; margin-right: 12px; }
    .legend .key { display: inline-block; width: 8px; height: 8px; border-radius: 2px; margin-right: 5px; }
    .key.spent { background: var(--spent); }
    .key.reserved { background: var(--reserved); }
    .key.left { background: #c4ccd6; }
    .rate { font-variant-numeric: tabular-nums; white-space: nowrap; }
    .rate .bar { height: 6px; min-width: 80px; margin-top: 6px; }
    .rate .bar .spent { background: var(--accent); }
    .rate.hot .bar .spent { background: var(--bad); }
    .columns { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px; }
    .events { list-style: none; margin: 0; padding: 0; max-height: 520px; overflow-y: auto; }
    .events:empty::before { content: attr(data-empty); color: var(--muted); }
    .events li {
      display: grid; grid-template-columns: 64px 118px minmax(0, 1fr); column-gap: 10px; row-gap: 2px;
      padding: 7px 0; border-bottom: 1px solid #eef0f3; font-size: 13px;
    }
    .events li:last-child { border-bottom: none; }
    .ev-time { color: var(--muted); font-variant-numeric: tabular-nums; }
    .ev-type { justify-self: start; }
    .ev-agent { font-weight: 600; word-break: break-all; }
    .ev-seq { color: var(--muted); font-size: 12px; margin-left: 6px; font-weight: 400; }
    .ev-text { grid-column: 3; color: #3a414b; word-break: break-word; }
    .badge.t-commit { background: #e7eefb; color: var(--accent); }
    .badge.t-reservation, .badge.t-release { background: #eef1f5; color: #4a5563; }
    .badge.t-denial, .badge.t-policy_refusal, .badge.t-rate_limited { background: var(--bad-bg); color: var(--bad); }
    .badge.t-recovery, .badge.t-process_killed { background: var(--warn-bg); color: var(--warn); }
    .sha { font-family: var(--mono); font-size: 12px; color: var(--muted); }
    @media (max-width: 980px) {
      .summary, .columns { grid-template-columns: 1fr; }
      main { padding: 16px; }
    }
    """#

    /// The page's only script; its SHA-256 is in the policy. No `innerHTML` anywhere: data is text.
    static let script = #"""
    'use strict';
    (() => {
      const KEY = 'aex.admin_token';
      const FEED_MAX = 200;
      const DENIALS_MAX = 100;
      const REFRESH_MS = 2000;
      const PLUGINS_EVERY = 15;
      const DENIAL_TYPES = new Set(['denial', 'policy_refusal', 'rate_limited']);
      const $ = (id) => document.getElementById(id);

      let token = null;
      let generation = 0;
      let streamAbort = null;
      let streamLive = false;
      let lastSeq = 0;
      const feedSeqs = new Set();
      const denialSeqs = new Set();
      const agentRows = new Map();

      class Unauthorized extends Error {}

      // ---------------------------------------------------------------- formatting (text only)

      function el(tag, className, text) {
        const node = document.createElement(tag);
        if (className) node.className = className;
        if (text !== undefined && text !== null) node.textContent = String(text);
        return node;
      }

      function isNumber(value) { return typeof value === 'number' && Number.isFinite(value); }

      function usd(micro) {
        if (!isNumber(micro)) return '–';
        const negative = micro < 0;
        const amount = Math.abs(Math.round(micro));
        const whole = Math.floor(amount / 1000000);
        let fraction = String(amount % 1000000).padStart(6, '0').replace(/0+$/, '');
        if (fraction.length < 2) fraction = fraction.padEnd(2, '0');
        return (negative ? '−$' : '$') + String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, ',') + '.' + fraction;
      }

      function duration(seconds) {
        if (!isNumber(seconds)) return null;
        if (seconds <= 0) return 'exhausted';
        if (seconds < 60) return 'under a minute';
        const minutes = Math.floor(seconds / 60);
        if (minutes < 60) return minutes + ' min';
        const hours = Math.floor(minutes / 60);
        if (hours < 48) return hours + ' h ' + (minutes % 60) + ' min';
        const days = Math.floor(hours / 24);
        return days + ' d ' + (hours % 24) + ' h';
      }

      function clock(date) {
        return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
      }

      function eventTime(ts) {
        const date = new Date(ts);
        return Number.isNaN(date.getTime()) ? String(ts ?? '') : clock(date);
      }

      function short(text, max) {
        const value = String(text);
        return value.length > max ? value.slice(0, max - 1) + '…' : value;
      }

      function percent(part, whole) {
        if (!isNumber(part) || !isNumber(whole) || whole <= 0 || part <= 0) return 0;
        return Math.min(100, (part / whole) * 100);
      }

      function summary(event) {
        const p = event.payload && typeof event.payload === 'object' && !Array.isArray(event.payload) ? event.payload : {};
        const parts = [];
        switch (event.type) {
          case 'reservation':
            parts.push('reserved ' + usd(p.amount_micro));
            if (p.model) parts.push(String(p.model));
            if (p.endpoint) parts.push(String(p.endpoint));
            if (p.run_id) parts.push('run ' + p.run_id);
            break;
          case 'commit':
            parts.push('charged ' + usd(p.cost_micro) + (isNumber(p.reserved_micro) ? ' (reserved ' + usd(p.reserved_micro) + ')' : ''));
            if (isNumber(p.prompt_tokens) || isNumber(p.completion_tokens)) {
              parts.push((p.prompt_tokens ?? '?') + ' prompt + ' + (p.completion_tokens ?? '?') + ' completion tokens');
            }
            if (p.estimated) parts.push('estimated');
            if (p.provider_fault) parts.push('provider fault: ' + p.provider_fault);
            if (p.reason) parts.push(String(p.reason));
            break;
          case 'release':
            parts.push('released ' + usd(p.released_micro));
            if (p.status) parts.push('status ' + p.status);
            if (p.reason) parts.push(String(p.reason));
            break;
          case 'denial':
          case 'policy_refusal':
          case 'rate_limited':
            parts.push([p.status, p.code].filter((x) => x !== undefined && x !== null && x !== '').join(' '));
            if (p.reason) parts.push(String(p.reason));
            if (p.endpoint) parts.push(String(p.endpoint));
            if (isNumber(p.unrecorded_before)) parts.push(p.unrecorded_before + ' earlier not recorded');
            break;
          case 'recovery':
            parts.push(String(p.decision ?? 'resolved') + ' ' + usd(p.amount_micro));
            if (p.reason) parts.push(String(p.reason));
            break;
          default:
            for (const key of Object.keys(p).sort()) {
              const value = p[key];
              if (value === null || value === undefined) continue;
              if (isNumber(value) && key.endsWith('_micro')) parts.push(key.slice(0, -6).replace(/_/g, ' ') + ' ' + usd(value));
              else if (Array.isArray(value) && value.every((x) => typeof x !== 'object')) parts.push(key.replace(/_/g, ' ') + ' ' + short(value.join(', '), 80));
              else if (typeof value === 'object') parts.push(key.replace(/_/g, ' ') + ' ' + short(JSON.stringify(value), 80));
              else parts.push(key.replace(/_/g, ' ') + ' ' + short(value, 80));
              if (parts.length >= 6) break;
            }
        }
        return parts.filter((x) => x).join(' · ');
      }

      // ---------------------------------------------------------------- the admin API

      async function api(path, options = {}) {
        const response = await fetch(path, {
          headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', signal: options.signal,
        });
        if (response.status === 401) throw new Unauthorized(await errorMessage(response));
        if (!response.ok) throw new Error('HTTP ' + response.status + ': ' + await errorMessage(response));
        return options.raw ? response : response.json();
      }

      async function errorMessage(response) {
        try {
          const body = await response.json();
          if (body && body.error && body.error.message) return String(body.error.message);
        } catch (_) { /* not JSON */ }
        return response.statusText || 'request failed';
      }

      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

      // ---------------------------------------------------------------- login and logout

      function showError(message) {
        const box = $('error');
        box.textContent = message || '';
        box.hidden = !message;
      }

      function showNotice(message) {
        const box = $('notice');
        box.textContent = message || '';
        box.hidden = !message;
      }

      function showLogin(message) {
        $('dashboard').hidden = true;
        $('logout').hidden = true;
        $('live').hidden = true;
        $('updated').textContent = '';
        $('login-panel').hidden = false;
        showError(message);
        const input = $('token');
        input.value = '';
        input.focus();
      }

      async function login(candidate, remembered) {
        candidate = candidate.trim();
        if (!candidate) return showError('Enter the admin token.');
        const button = $('login');
        button.disabled = true;
        showError('');
        token = candidate;
        try {
          const status = await api('/admin/status');
          sessionStorage.setItem(KEY, candidate);
          start(status, candidate);
        } catch (error) {
          token = null;
          if (error instanceof Unauthorized) {
            sessionStorage.removeItem(KEY);
            showLogin(remembered
              ? 'The saved token is no longer accepted (401). Enter the admin token again.'
              : 'That token was refused (401: ' + error.message.replace(/[.\s]+$/, '') + '). Paste the admin token of this AEX installation.');
          } else {
            showLogin('Cannot reach the AEX daemon: ' + error.message);
          }
        } finally {
          button.disabled = false;
        }
      }

      function stop() {
        generation += 1;
        if (streamAbort) streamAbort.abort();
        streamAbort = null;
        streamLive = false;
        token = null;
        lastSeq = 0;
        feedSeqs.clear();
        denialSeqs.clear();
        agentRows.clear();
        for (const id of ['agents', 'feed', 'denials', 'plugins', 'tools']) $(id).replaceChildren();
        for (const id of ['in-flight', 'connections', 'ledger-head']) $(id).textContent = '–';
        for (const id of ['verify-result', 'version', 'feed-count', 'denials-count']) $(id).textContent = '';
        showNotice('');
      }

      function logout(message) {
        sessionStorage.removeItem(KEY);
        stop();
        showLogin(message);
      }

      function failed(error, gen) {
        if (gen !== generation) return;
        if (error instanceof Unauthorized) {
          logout('The admin token is no longer accepted (401). Enter it again.');
        } else if (error.name !== 'AbortError') {
          showNotice('Cannot refresh: ' + error.message + '. Retrying.');
        }
      }

      function start(status, admitted) {
        stop();
        token = admitted;
        const gen = generation;
        $('login-panel').hidden = true;
        showError('');
        $('dashboard').hidden = false;
        $('logout').hidden = false;
        $('live').hidden = false;
        setLive(false);
        renderStatus(status);
        loadPlugins(gen);
        loadActivity(gen).then(() => streamLoop(gen));
        refreshLoop(gen);
      }

      // ---------------------------------------------------------------- status

      async function refreshLoop(gen) {
        let tick = 0;
        while (gen === generation) {
          await sleep(REFRESH_MS);
          if (gen !== generation) return;
          tick += 1;
          try {
            const status = await api('/admin/status');
            if (gen !== generation) return;
            renderStatus(status);
            showNotice('');
            if (!streamLive && lastSeq > 0) await pollActivity(gen);
            if (tick % PLUGINS_EVERY === 0) await loadPlugins(gen);
          } catch (error) {
            failed(error, gen);
          }
        }
      }

      function renderStatus(status) {
        $('version').textContent = status.version ? 'version ' + status.version : '';
        $('in-flight').textContent = isNumber(status.in_flight_calls) ? String(status.in_flight_calls) : '–';
        $('connections').textContent = isNumber(status.open_connections) ? String(status.open_connections) : '–';
        const head = $('ledger-head');
        head.replaceChildren();
        if (status.ledger_head && isNumber(status.ledger_head.seq)) {
          head.append(el('span', null, 'entry #' + status.ledger_head.seq));
          head.append(el('span', 'hash', status.ledger_head.hash || ''));
        } else {
          head.textContent = '–';
        }
        renderAgents(Array.isArray(status.agents) ? status.agents : []);
        renderTools(Array.isArray(status.tools) ? status.tools : []);
        $('updated').textContent = 'updated ' + clock(new Date());
      }

      function agentRow(name) {
        const row = el('tr');
        row.setAttribute('data-agent', name);
        const cells = {
          name: el('td', 'name', name),
          state: el('td'),
          budget: el('td'),
          rate: el('td', 'rate'),
          burn: el('td', 'num'),
          lasts: el('td', 'num'),
        };
        cells.stateBadge = el('span', 'badge');
        cells.state.append(cells.stateBadge);
        const bar = el('div', 'bar');
        cells.spentBar = el('span', 'spent');
        cells.reservedBar = el('span', 'reserved');
        bar.append(cells.spentBar, cells.reservedBar);
        cells.legend = el('div', 'legend');
        cells.budget.append(bar, cells.legend);
        cells.rateText = el('div');
        const rateBar = el('div', 'bar');
        cells.rateBar = el('span', 'spent');
        rateBar.append(cells.rateBar);
        cells.rate.append(cells.rateText, rateBar);
        row.append(cells.name, cells.state, cells.budget, cells.rate, cells.burn, cells.lasts);
        row.cells_ = cells;
        return row;
      }

      function legendItem(kind, text) {
        const item = el('span', 'item');
        item.append(el('span', 'key ' + kind), document.createTextNode(text));
        return item;
      }

      function renderAgents(agents) {
        const body = $('agents');
        const names = new Set();
        const sorted = agents.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
        for (const agent of sorted) {
          const name = String(agent.name);
          names.add(name);
          let row = agentRows.get(name);
          if (!row) { row = agentRow(name); agentRows.set(name, row); }
          const c = row.cells_;
          const state = String(agent.state ?? 'unknown');
          c.stateBadge.textContent = state;
          c.stateBadge.className = 'badge ' + (state === 'active' || state === 'paused' ? state : '');
          const budget = agent.budget_micro;
          c.spentBar.style.width = percent(agent.spent_micro, budget) + '%';
          c.reservedBar.style.width = Math.min(percent(agent.reserved_micro, budget), 100 - percent(agent.spent_micro, budget)) + '%';
          c.legend.replaceChildren(
            legendItem('spent', usd(agent.spent_micro) + ' spent'),
            legendItem('reserved', usd(agent.reserved_micro) + ' reserved'),
            legendItem('left', usd(agent.remaining_micro) + ' left of ' + usd(budget)));
          const rpm = agent.rpm;
          const used = agent.requests_last_minute;
          c.rateText.textContent = (isNumber(used) ? used : '–') + ' / ' + (isNumber(rpm) && rpm > 0 ? rpm + ' rpm' : 'no limit');
          c.rateBar.style.width = percent(used, rpm) + '%';
          c.rate.className = 'rate' + (percent(used, rpm) >= 80 ? ' hot' : '');
          c.burn.textContent = isNumber(agent.burn_rate_micro_per_hour) ? usd(agent.burn_rate_micro_per_hour) + ' / h' : '–';
          const lasts = duration(agent.budget_exhaustion_seconds);
          c.lasts.textContent = lasts ?? '—';
          c.lasts.title = lasts ? 'at the current burn rate' : 'nothing is being spent';
        }
        for (const [name, row] of agentRows) {
          if (!names.has(name)) { row.remove(); agentRows.delete(name); }
        }
        const order = sorted.map((a) => agentRows.get(String(a.name)));
        order.forEach((row, index) => { if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null); });
        const empty = body.querySelector('tr.empty-row');
        if (sorted.length === 0 && !empty) {
          const row = el('tr', 'empty-row');
          const cell = el('td', 'empty', 'No agents yet. Create one with: aex agent create NAME BUDGET RPM');
          cell.colSpan = 6;
          row.append(cell);
          body.append(row);
        } else if (sorted.length > 0 && empty) {
          empty.remove();
        }
      }

      function renderTools(tools) {
        const rows = tools.map((tool) => {
          const row = el('tr');
          row.setAttribute('data-tool', String(tool.name));
          const status = el('td');
          status.append(el('span', 'badge ' + (tool.enabled ? 'enabled' : 'disabled'), tool.enabled ? 'enabled' : 'disabled'));
          row.append(el('td', 'name', tool.name), el('td', null, tool.plugin ?? '–'), el('td', 'num', usd(tool.price_micro)), status);
          return row;
        });
        if (rows.length === 0) {
          const row = el('tr');
          const cell = el('td', 'empty', 'No tools.');
          cell.colSpan = 4;
          row.append(cell);
          rows.push(row);
        }
        $('tools').replaceChildren(...rows);
      }

      async function loadPlugins(gen) {
        try {
          const plugins = await api('/admin/plugins');
          if (gen !== generation) return;
          const list = Array.isArray(plugins) ? plugins : (plugins && Array.isArray(plugins.plugins) ? plugins.plugins : []);
          const rows = list.map((plugin) => {
            const row = el('tr');
            row.setAttribute('data-plugin', String(plugin.name));
            const name = el('td', 'name', plugin.name);
            if (plugin.bundled) name.append(el('span', 'ev-seq', 'bundled'));
            const status = el('td');
            status.append(el('span', 'badge ' + (plugin.enabled ? 'enabled' : 'disabled'), plugin.enabled ? 'enabled' : 'disabled'));
            const sha = el('td', 'sha', plugin.sha256 ? String(plugin.sha256).slice(0, 12) + '…' : '–');
            if (plugin.sha256) sha.title = String(plugin.sha256);
            const provides = Array.isArray(plugin.provides) ? plugin.provides.map(String).join(', ') : '';
            row.append(name, el('td', null, plugin.kind ?? '–'), el('td', null, plugin.version ?? '–'),
              el('td', null, provides || '–'), status, sha);
            return row;
          });
          $('plugins').replaceChildren(...rows);
        } catch (error) {
          failed(error, gen);
        }
      }

      // ---------------------------------------------------------------- ledger verification

      async function verify() {
        const gen = generation;
        const button = $('verify');
        const result = $('verify-result');
        button.disabled = true;
        result.className = '';
        result.removeAttribute('data-ok');
        result.textContent = 'Verifying…';
        try {
          const report = await api('/admin/replay');
          if (gen !== generation) return;
          const head = report.head && isNumber(report.head.seq) ? ' up to #' + report.head.seq : '';
          if (report.ok) {
            result.className = 'ok';
            result.textContent = 'OK: ' + report.events + ' entries chained' + head + ', balances match';
          } else {
            const problems = [];
            if (isNumber(report.first_bad_seq)) problems.push('first bad entry #' + report.first_bad_seq);
            if (Array.isArray(report.mismatched_agents) && report.mismatched_agents.length) {
              problems.push('balances differ for ' + report.mismatched_agents.map(String).join(', '));
            }
            result.className = 'bad';
            result.textContent = 'FAILED: ' + (problems.join('; ') || 'the ledger does not verify');
          }
          result.setAttribute('data-ok', report.ok ? 'true' : 'false');
          result.title = 'checked at ' + clock(new Date());
        } catch (error) {
          if (gen !== generation) return;
          result.className = 'bad';
          result.textContent = 'Could not verify: ' + error.message;
          failed(error, gen);
        } finally {
          button.disabled = false;
        }
      }

      // ---------------------------------------------------------------- activity

      function eventItem(event) {
        const item = el('li');
        item.setAttribute('data-seq', String(event.seq));
        item.setAttribute('data-type', String(event.type));
        const agent = el('span', 'ev-agent', event.agent ?? 'system');
        agent.append(el('span', 'ev-seq', '#' + event.seq));
        item.append(
          el('span', 'ev-time', eventTime(event.ts)),
          el('span', 'ev-type badge t-' + String(event.type).replace(/[^a-z_]/g, ''), String(event.type).replace(/_/g, ' ')),
          agent,
          el('span', 'ev-text', summary(event)));
        item.title = String(event.ts ?? '');
        return item;
      }

      function insertNewestFirst(list, item, seq, max, seqs) {
        let before = list.firstElementChild;
        while (before && Number(before.getAttribute('data-seq')) > seq) before = before.nextElementSibling;
        list.insertBefore(item, before);
        while (list.children.length > max) {
          const last = list.lastElementChild;
          seqs.delete(Number(last.getAttribute('data-seq')));
          last.remove();
        }
      }

      function addEvent(event) {
        if (!event || !isNumber(event.seq)) return;
        lastSeq = Math.max(lastSeq, event.seq);
        if (!feedSeqs.has(event.seq)) {
          feedSeqs.add(event.seq);
          insertNewestFirst($('feed'), eventItem(event), event.seq, FEED_MAX, feedSeqs);
        }
        if (DENIAL_TYPES.has(event.type) && !denialSeqs.has(event.seq)) {
          denialSeqs.add(event.seq);
          insertNewestFirst($('denials'), eventItem(event), event.seq, DENIALS_MAX, denialSeqs);
        }
        $('feed-count').textContent = feedSeqs.size ? feedSeqs.size + ' shown, newest first' : '';
        $('denials-count').textContent = denialSeqs.size ? String(denialSeqs.size) : '';
      }

      function addEvents(body) {
        const events = body && Array.isArray(body.events) ? body.events : [];
        for (const event of events.slice().reverse()) addEvent(event);
      }

      async function loadActivity(gen) {
        try {
          const body = await api('/admin/activity?limit=' + FEED_MAX);
          if (gen === generation) addEvents(body);
        } catch (error) {
          failed(error, gen);
        }
      }

      async function pollActivity(gen) {
        const body = await api('/admin/activity?limit=' + FEED_MAX + '&after_seq=' + lastSeq);
        if (gen === generation) addEvents(body);
      }

      function setLive(on) {
        streamLive = on;
        const pill = $('live');
        pill.textContent = on ? 'Live' : 'Reconnecting';
        pill.className = 'pill' + (on ? ' on' : '');
        pill.title = on ? 'receiving ledger events as they are written' : 'the live feed is reconnecting; activity is polled meanwhile';
      }

      function handleMessage(block) {
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
        if (data.length === 0) return;
        try {
          addEvent(JSON.parse(data.join('\n')));
        } catch (_) { /* not an event */ }
      }

      async function streamLoop(gen) {
        let backoff = 500;
        while (gen === generation) {
          const controller = new AbortController();
          streamAbort = controller;
          try {
            const query = lastSeq > 0 ? '&after_seq=' + lastSeq : '';
            const response = await api('/admin/activity?stream=1' + query, { signal: controller.signal, raw: true });
            if (!response.body) throw new Error('this browser cannot read a streamed response');
            const reader = response.body.getReader();
            const decoder = new TextDecoder();
            let buffer = '';
            setLive(true);
            backoff = 500;
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
              let end;
              while ((end = buffer.indexOf('\n\n')) >= 0) {
                handleMessage(buffer.slice(0, end));
                buffer = buffer.slice(end + 2);
              }
            }
          } catch (error) {
            if (gen !== generation) return;
            if (error instanceof Unauthorized) return failed(error, gen);
          }
          if (gen !== generation) return;
          setLive(false);
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
        }
      }

      // ---------------------------------------------------------------- wiring

      $('login-form').addEventListener('submit', (event) => {
        event.preventDefault();
        login($('token').value, false);
      });
      $('logout').addEventListener('click', () => logout(''));
      $('verify').addEventListener('click', verify);

      const saved = sessionStorage.getItem(KEY);
      if (saved) {
        $('login-panel').hidden = true;
        login(saved, true);
      } else {
        showLogin('');
      }
    })();
    """#

    /// The markup; the script fills the elements named by `id` (stable, for the browser test).
    static let body = #"""
    <header class="top">
      <div class="brand">
        <span class="mark">AEX</span>
        <span class="title">Operator dashboard</span>
        <span id="version" class="muted"></span>
      </div>
      <div class="top-right">
        <span id="live" class="pill" hidden></span>
        <span id="updated" class="muted"></span>
        <button id="logout" type="button" class="quiet" hidden>Forget token</button>
      </div>
    </header>
    <main>
      <section id="login-panel" class="card login">
        <h1>Admin token</h1>
        <p class="muted">Paste the admin token (the <code>admin.token</code> file in AEX_HOME). It stays in this browser tab only, in session storage, and is sent with each request.</p>
        <form id="login-form" autocomplete="off">
          <label for="token">Token</label>
          <div class="login-row">
            <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="aexadmin_…" required>
            <button id="login" type="submit">Open dashboard</button>
          </div>
        </form>
        <p id="error" class="error" role="alert" hidden></p>
      </section>
      <div id="dashboard" hidden>
        <p id="notice" class="notice" role="status" hidden></p>
        <section class="summary">
          <div class="card stat">
            <div class="label">In-flight calls</div>
            <div id="in-flight" class="value">–</div>
          </div>
          <div class="card stat">
            <div class="label">Open connections</div>
            <div id="connections" class="value">–</div>
          </div>
          <div class="card stat ledger">
            <div class="label">Ledger head</div>
            <div id="ledger-head" class="value">–</div>
            <div class="verify-row">
              <button id="verify" type="button">Verify ledger</button>
              <span id="verify-result" role="status"></span>
            </div>
          </div>
        </section>
        <section class="card">
          <h2>Agents</h2>
          <div class="scroll">
            <table class="agents">
              <thead>
                <tr><th>Agent</th><th>State</th><th class="budget-col">Budget</th><th>Requests, last minute</th><th class="num">Burn rate</th><th class="num">Budget lasts</th></tr>
              </thead>
              <tbody id="agents"></tbody>
            </table>
          </div>
        </section>
        <div class="columns">
          <section class="card">
            <h2>Live activity <span id="feed-count" class="muted count"></span></h2>
            <ol id="feed" class="events" data-empty="No activity yet."></ol>
          </section>
          <section class="card">
            <h2>Denials <span id="denials-count" class="muted count"></span></h2>
            <ol id="denials" class="events" data-empty="No denials seen."></ol>
          </section>
        </div>
        <div class="columns">
          <section class="card">
            <h2>Plugins</h2>
            <div class="scroll">
              <table>
                <thead><tr><th>Plugin</th><th>Kind</th><th>Version</th><th>Provides</th><th>Status</th><th>SHA-256</th></tr></thead>
                <tbody id="plugins"></tbody>
              </table>
            </div>
          </section>
          <section class="card">
            <h2>Tools</h2>
            <div class="scroll">
              <table>
                <thead><tr><th>Tool</th><th>Plugin</th><th class="num">Price per call</th><th>Status</th></tr></thead>
                <tbody id="tools"></tbody>
              </table>
            </div>
          </section>
        </div>
      </div>
    </main>
    """#

    /// The policy: nothing by default; the inline style and script by hash; fetches to this origin.
    static let contentSecurityPolicy: String = {
        func hash(_ text: String) -> String { "'sha256-" + Data(SHA256.digest(Array(text.utf8))).base64EncodedString() + "'" }
        return "default-src 'none'; script-src \(hash(script)); style-src \(hash(style)); connect-src 'self'; "
            + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }()

    /// The whole document.
    static let html: String = #"""
        <!doctype html><html lang="en"><head><meta charset="utf-8">\#
        <meta name="viewport" content="width=device-width, initial-scale=1">\#
        <meta name="color-scheme" content="light"><link rel="icon" href="data:,"><title>AEX</title>\#
        <style>\#(style)</style></head><body>\#(body)<script>\#(script)</script></body></html>
        """#

    /// The page and its headers, built once.
    static let response: HTTPResponse = HTTPResponse(
        status: 200,
        headers: [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", contentSecurityPolicy),
        ],
        body: Array(html.utf8))
}
