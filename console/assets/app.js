// keel console — the page's only script (served as /console/app.js; the page's CSP allows no inline
// script and no eval). It reads /console/api/session, logs in when the server asks for a token, and
// renders the snapshots that /console/events (SSE) pushes. Everything that agents wrote (names,
// reasons, proposals, journal payloads) goes into the page as text nodes: never innerHTML.
"use strict";
(() => {
  const CAPS = { resolve: "escalation.resolve", force: "lease.force", admin: "agent.admin" };
  const $ = (id) => document.getElementById(id);

  let session = null;   // the last /console/api/session answer
  let snap = null;      // the last state snapshot
  let skew = 0;         // server now_ms - local Date.now() when the snapshot arrived
  let source = null;    // the EventSource
  let retryTimer = 0;
  let seenSeq = 0;      // the newest journal seq already shown (to mark fresh ones)
  let filtered = null;  // {key, head, records, error?} of the journal filter's last answer
  let shownFor = "";    // the principal the escalation cards were built for

  // ------------------------------------------------------------------ DOM helpers
  // h("li", {class: "x", data: {leaseName: n}}, "text", child...): text children become text nodes.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "data") for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const show = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
  const oneLine = (v) => {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return s && s.length > 200 ? s.slice(0, 200) + "…" : s || "";
  };
  const can = (cap) => !!session && (session.capabilities || []).includes(cap);
  const serverNow = () => Date.now() + skew;
  function clock(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false });
  }
  function ago(ms) {
    if (!ms) return "";
    const s = Math.max(0, Math.round((serverNow() - ms) / 1000));
    return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
  }
  function left(expires) {
    const ms = expires - serverNow();
    if (ms <= 0) return "expired";
    const s = Math.ceil(ms / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
  }
  function empty(list, text) {
    if (!list.children.length) list.append(h(list.tagName === "TBODY" ? "tr" : "li", { class: "empty" },
      list.tagName === "TBODY" ? h("td", { colspan: 7 }, text) : text));
  }
  function notice(text) {
    $("notice").textContent = text || "";
    $("notice").hidden = !text;
  }

  // ------------------------------------------------------------------ requests
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-Keel-CSRF"] = (session && session.csrf) || "";
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    const res = await fetch(url, init);
    let data = null;
    try { data = await res.json(); } catch { /* 204 or not JSON */ }
    if (!res.ok) {
      const err = new Error((data && data.error) || `${res.status} ${res.statusText}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // ------------------------------------------------------------------ session and login
  async function refreshSession() {
    try {
      session = await api("GET", "/console/api/session");
    } catch (e) {
      setConn("offline", "offline");
      notice(`cannot reach keel: ${e.message}`);
      scheduleRetry();
      return;
    }
    applySession();
  }
  function applySession() {
    $("project").textContent = session.project || "";
    const inside = !!session.authenticated;
    if (shownFor !== `${session.principal}`) $("esc-pending").replaceChildren();  // buttons follow the capabilities
    shownFor = `${session.principal}`;
    $("login").hidden = inside || !session.auth_required;
    $("logout").hidden = !(inside && session.auth_required);
    $("main").hidden = !inside;
    $("who").textContent = inside ? `${session.principal} · ${(session.capabilities || []).join(", ") || "read only"}` : "";
    if (inside) {
      notice("");
      connect();
    } else {
      disconnect();
      setConn("offline", "logged out");
      notice("Log in with your keel token to watch the fleet.");
      $("token").focus();
    }
  }
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    $("login-error").textContent = "";
    $("login-submit").disabled = true;
    try {
      if (!session || !session.csrf) session = await api("GET", "/console/api/session");
      try {
        session = await api("POST", "/console/login", { token });
      } catch (e) {
        if (e.status === 401 || e.status === undefined) throw e;  // a wrong token, or keel unreachable
        // Not the token: the pre-login session expired (the page sat open) or its
        // CSRF token is stale. A new pre-login session, and the login once more.
        session = await api("GET", "/console/api/session");
        session = await api("POST", "/console/login", { token });
      }
      $("token").value = "";
      applySession();
    } catch (e) {
      $("login-error").textContent = e.status === 401 ? "wrong token" : e.message;
      if (e.status === 403) session = await api("GET", "/console/api/session").catch(() => session);
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/console/logout", {}); } catch { /* the cookie goes anyway */ }
    await refreshSession();
  });

  // ------------------------------------------------------------------ live updates
  function setConn(state, text) {
    $("conn").dataset.state = state;
    $("conn").textContent = text;
  }
  function disconnect() {
    if (source) source.close();
    source = null;
  }
  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(refreshSession, 2000);
  }
  function connect() {
    if (source) return;
    setConn("connecting", "connecting");
    source = new EventSource("/console/events");
    source.addEventListener("open", () => setConn("live", "live"));
    source.addEventListener("state", (ev) => {
      setConn("live", "live");
      try { render(JSON.parse(ev.data)); } catch (e) { notice(`bad update from keel: ${e.message}`); }
    });
    source.addEventListener("error", () => {
      // CONNECTING: the browser reconnects by itself. CLOSED: refused (logged out, server gone):
      // look at the session again in a moment and reopen.
      setConn("reconnecting", "reconnecting");
      if (source && source.readyState === EventSource.CLOSED) {
        disconnect();
        scheduleRetry();
      }
    });
  }

  // ------------------------------------------------------------------ rendering
  function render(s) {
    snap = s;
    skew = (s.now_ms || Date.now()) - Date.now();
    if (s.project) $("project").textContent = s.project;
    renderEscalations(s.escalations || { pending: [], resolved: [] });
    renderAgents(s.agents || []);
    renderLeases(s.leases || [], s.waiters || []);
    renderFanout(s.fanout || []);
    renderBreakers(s.fanout_breakers || []);
    renderHooks(s.hooks || []);
    renderVerify(s.verify);
    renderJournal();
  }

  function renderAgents(agents) {
    const list = $("agent-list");
    $("agent-count").textContent = String(agents.length);
    list.replaceChildren(...agents.map((a) => {
      const suspended = a.status === "suspended";
      const where = [a.client, a.host, a.pid ? `pid ${a.pid}` : ""].filter(Boolean).join(" · ");
      return h("li", { data: { agent: a.agent } },
        h("div", {}, h("strong", {}, a.agent), " ", a.status ? h("span", { class: `badge ${a.status}` }, a.status) : null,
          " ", h("span", { class: "muted", data: { seen: a.last_seen_ms || "" } }, ago(a.last_seen_ms))),
        where ? h("div", { class: "muted" }, where) : null,
        suspended && a.suspend_reason ? h("div", { class: "muted" }, `suspended: ${a.suspend_reason}`) : null,
        h("div", { class: "chips" }, (a.leases || []).length
          ? a.leases.map((n) => h("span", { class: "chip", data: { agentLease: n } }, n))
          : h("span", { class: "muted" }, "no leases")),
        can(CAPS.admin) ? h("div", { class: "actions" }, h("button", {
          type: "button", class: suspended ? "" : "danger",
          data: { action: suspended ? "resume" : "suspend", agent: a.agent },
        }, suspended ? "Resume" : "Suspend")) : null);
    }));
    empty(list, "no agents seen");
  }

  function renderLeases(leases, waiters) {
    const rows = $("lease-rows");
    $("lease-count").textContent = String(leases.length);
    const byName = new Map();
    for (const w of waiters) (byName.get(w.name) || byName.set(w.name, []).get(w.name)).push(w);
    const names = new Set(leases.map((l) => l.name));
    const waiting = (name) => (byName.get(name) || [h("span", { class: "muted" }, "—")]).map((w) => (w instanceof Node ? w
      : h("span", { class: "chip", data: { waiter: w.agent } }, `${w.agent} (${w.mode}${w.units > 1 ? ` ×${w.units}` : ""})`)));
    const row = (l) => h("tr", { data: { leaseName: l.name, holder: l.holder || "" } },
      h("td", { "data-label": "name", class: "mono" }, l.name),
      h("td", { "data-label": "holder" }, l.holder || "—"),
      h("td", { "data-label": "mode" }, l.mode ? `${l.mode}${l.units > 1 ? ` ×${l.units}` : ""}` : "—"),
      h("td", { "data-label": "token", class: "token" }, l.token === undefined ? "" : String(l.token)),
      h("td", { "data-label": "left", class: "left", data: { expires: l.expires_ms || "" } }, l.expires_ms ? left(l.expires_ms) : ""),
      h("td", { "data-label": "waiters" }, h("span", { class: "chips" }, waiting(l.name))),
      h("td", {}, can(CAPS.force) && l.holder ? h("button", { type: "button", class: "danger", data: { action: "release", name: l.name } }, "Release") : null));
    const orphans = [...byName.keys()].filter((n) => !names.has(n)).map((n) => row({ name: n }));
    rows.replaceChildren(...leases.map(row), ...orphans);
    empty(rows, "no leases held");
    tick();
  }

  // Pending cards are kept across snapshots (a MODIFY being typed must survive updates).
  function renderEscalations(esc) {
    const box = $("esc-pending");
    const pending = esc.pending || [];
    $("esc-count").textContent = `${pending.length} pending`;
    const keep = new Map();
    for (const el of box.querySelectorAll(":scope > [data-escalation-id]")) keep.set(el.dataset.escalationId, el);
    const wanted = pending.map((e) => keep.get(String(e.id)) || escalationCard(e));
    const ids = new Set(pending.map((e) => String(e.id)));
    for (const [id, el] of keep) if (!ids.has(id)) el.remove();
    box.querySelector(":scope > .empty")?.remove();
    wanted.forEach((el, i) => { if (box.children[i] !== el) box.insertBefore(el, box.children[i] || null); });
    if (!pending.length) box.append(h("p", { class: "empty" }, "nothing waits for a decision"));

    $("esc-resolved").replaceChildren(...(esc.resolved || []).map((e) =>
      h("li", { data: { escalationId: e.id, decision: e.decision || "" } },
        h("span", { class: `badge ${e.decision}` }, e.decision || "?"), " ",
        h("strong", {}, `#${e.id}`), " ", h("span", { class: "reason" }, e.reason), " ",
        h("span", { class: "muted" }, `— ${e.agent}; decided by `),
        h("span", { class: "resolved-by" }, e.resolved_by || "?"),
        h("span", { class: "muted" }, e.resolved_ms ? ` at ${clock(e.resolved_ms)}` : ""),
        e.resolved_via ? h("span", { class: "muted" }, ` via ${e.resolved_via}`) : null,
        e.resolution !== undefined && e.resolution !== null ? h("pre", { class: "resolution" }, show(e.resolution)) : null)));
    empty($("esc-resolved"), "none yet");
  }

  function escalationCard(e) {
    const card = h("article", { class: "esc", data: { escalationId: e.id } },
      h("div", { class: "head" }, h("strong", {}, `#${e.id}`), h("span", {}, e.agent),
        e.impact ? h("span", { class: `badge ${typeof e.impact === "string" ? e.impact : ""}` },
          typeof e.impact === "string" ? e.impact : "impact") : null,
        h("span", { class: "muted", data: { seen: e.created_ms || "" } }, ago(e.created_ms))),
      h("div", { class: "reason" }, e.reason),
      e.proposal !== undefined && e.proposal !== null ? [h("div", { class: "label" }, "proposal"), h("pre", { class: "proposal" }, show(e.proposal))] : null,
      e.context !== undefined && e.context !== null ? [h("div", { class: "label" }, "context"), h("pre", {}, show(e.context))] : null,
      e.impact !== undefined && typeof e.impact !== "string" ? [h("div", { class: "label" }, "impact"), h("pre", {}, show(e.impact))] : null,
      h("p", { class: "error", role: "alert", data: { role: "error" } }));
    if (can(CAPS.resolve)) {
      card.append(h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", data: { action: "decide", decision: "OVERRIDE" } }, "OVERRIDE"),
        h("button", { type: "button", data: { action: "modify" } }, "MODIFY"),
        h("button", { type: "button", class: "danger", data: { action: "decide", decision: "ABORT" } }, "ABORT")));
      const area = h("textarea", { spellcheck: "false", "aria-label": "modified proposal (JSON)", data: { role: "proposal-editor" } });
      area.value = e.proposal === undefined || e.proposal === null ? "{}" : JSON.stringify(e.proposal, null, 2);
      const err = h("span", { class: "error", data: { role: "json-error" } });
      const submit = h("button", { type: "button", class: "primary", data: { action: "submit-modify" } }, "Resolve with MODIFY");
      const check = () => {
        try { JSON.parse(area.value); err.textContent = ""; area.classList.remove("invalid"); submit.disabled = false; }
        catch (x) { err.textContent = `invalid JSON: ${x.message}`; area.classList.add("invalid"); submit.disabled = true; }
      };
      area.addEventListener("input", check);
      card.append(h("div", { class: "editor", hidden: true, data: { role: "editor" } }, area,
        h("div", { class: "actions" }, submit, h("button", { type: "button", data: { action: "cancel-modify" } }, "Cancel"), err)));
    }
    return card;
  }

  function renderFanout(runs) {
    $("fanout-list").replaceChildren(...runs.map((r) => h("li", { data: { fanoutId: r.id } },
      h("strong", { class: "mono" }, r.id), " ", h("span", { class: "muted" }, r.agent), " ",
      h("progress", { max: r.total || 1, value: (r.done || 0) + (r.failed || 0) }), " ",
      h("span", {}, `${r.done || 0}/${r.total || 0} done, ${r.failed || 0} failed, ${r.running || 0} running`),
      h("span", { class: "muted", data: { seen: r.started_ms || "", prefix: " · started " } }, ` · started ${ago(r.started_ms)}`))));
    empty($("fanout-list"), "no runs in progress");
  }

  // Fanout's breakers by provider: open ones refuse branches until their cooldown passed.
  function renderBreakers(breakers) {
    const badge = (state) => (state === "open" ? "bad" : state === "half_open" ? "ask" : "ok");
    $("breaker-list").replaceChildren(...breakers.map((b) => h("li", { data: { provider: b.provider } },
      h("span", { class: `badge ${badge(b.state)}` }, b.state), " ", h("strong", { class: "mono" }, b.provider), " ",
      h("span", { class: "muted" }, `${b.consecutive_failures} failures in a row, opened ${b.opened}×` +
        (b.opened_at_ms ? `, last ${ago(b.opened_at_ms)}` : "")))));
    empty($("breaker-list"), "no breaker recorded");
  }

  function renderHooks(hooks) {
    $("hook-list").replaceChildren(...hooks.map((d) => h("li", { data: { hookSeq: d.seq } },
      h("span", { class: `badge ${d.outcome}` }, d.outcome), " ", h("strong", {}, d.tool), " ",
      h("span", { class: "muted" }, `${d.agent} · ${clock(d.ts_ms)} · rule `), h("code", {}, d.rule || "—"),
      d.reason ? h("div", { class: "muted" }, d.reason) : null)));
    empty($("hook-list"), "no denials or asks");
  }

  function renderVerify(v) {
    const el = $("verify");
    if (!v) { el.textContent = ""; return; }
    el.className = `verify ${v.ok ? "ok" : "bad"}`;
    el.textContent = v.ok ? `verified ✓ ${v.records} records` : `verify FAILED${v.first_bad && v.first_bad.seq ? ` at seq ${v.first_bad.seq}` : ""}`;
    el.title = v.checked_ms ? `checked ${clock(v.checked_ms)}` : "";
  }

  // The journal: the snapshot's newest records, or (with a filter) /console/api/journal's answer.
  function filterKey() {
    const q = new URLSearchParams();
    for (const f of ["op", "subject", "agent"]) {
      const v = $(`f-${f}`).value.trim();
      if (v) q.set(f, v);
    }
    return q.toString();
  }
  let filterSeq = 0;
  let loading = false;
  async function loadFiltered() {
    const key = filterKey();
    const mine = ++filterSeq;
    if (!key) { filtered = null; loading = false; renderJournal(); return; }
    const head = snap && snap.journal ? snap.journal.head_seq : 0;
    loading = true;
    let next;
    try {
      const r = await api("GET", `/console/api/journal?${key}&limit=100`);
      next = { key, head, records: r.records || [] };
    } catch (e) {
      next = { key, head, records: [], error: e.message };
    }
    if (mine !== filterSeq) return;
    loading = false;
    filtered = next;
    renderJournal();
  }
  let filterTimer = 0;
  $("journal-filter").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(loadFiltered, 250); });
  $("journal-filter").addEventListener("reset", () => setTimeout(loadFiltered, 0));
  $("journal-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadFiltered(); });

  function renderJournal() {
    const journal = (snap && snap.journal) || { head_seq: 0, records: [] };
    const key = filterKey();
    const mine = key && filtered && filtered.key === key ? filtered : null;
    if (mine && mine.head !== journal.head_seq && !loading) loadFiltered();  // new records: ask again
    const records = key ? (mine ? mine.records : []) : journal.records || [];
    const newest = seenSeq;
    $("journal-list").replaceChildren(...records.map((r) => h("li", { class: newest && r.seq > newest ? "fresh" : "", data: { seq: r.seq, op: r.op, principal: r.principal } },
      h("span", { class: "muted" }, `#${r.seq}`), h("span", { class: "muted" }, clock(r.ts_ms)),
      h("span", {}, r.principal), h("span", { class: "op" }, r.op),
      h("span", { class: "what" }, h("span", { class: "subject" }, r.subject || ""), " ", h("span", { class: "payload" }, oneLine(r.payload))))));
    if (mine && mine.error) $("journal-list").append(h("li", { class: "error" }, mine.error));
    empty($("journal-list"), key ? (mine ? "no record matches" : "searching…") : "no records yet");
    for (const r of journal.records || []) seenSeq = Math.max(seenSeq, r.seq);
  }

  // Countdowns and "seen … ago", once a second, from the server's clock.
  function tick() {
    for (const el of document.querySelectorAll("[data-expires]")) {
      const at = Number(el.dataset.expires);
      if (!at) continue;
      el.textContent = left(at);
      el.classList.toggle("low", at - serverNow() < 10_000);
    }
    for (const el of document.querySelectorAll("[data-seen]")) {
      const at = Number(el.dataset.seen);
      if (at) el.textContent = (el.dataset.prefix || "") + ago(at);
    }
  }
  setInterval(tick, 1000);

  // ------------------------------------------------------------------ actions
  async function act(button, run) {
    const card = button.closest("[data-escalation-id]");
    const errEl = card ? card.querySelector('[data-role="error"]') : null;
    if (errEl) errEl.textContent = "";
    const buttons = (card || button.parentElement).querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    card?.classList.add("busy");
    try {
      await run();
    } catch (e) {
      if (errEl) errEl.textContent = e.message;
      else notice(e.message);
      if (e.status === 401) refreshSession();
    } finally {
      card?.classList.remove("busy");
      buttons.forEach((b) => { b.disabled = false; });
      card?.querySelector('[data-role="proposal-editor"]')?.dispatchEvent(new Event("input"));
    }
  }
  const resolve = (id, body) => api("POST", `/console/api/escalations/${encodeURIComponent(id)}/resolve`, body);
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const card = b.closest("[data-escalation-id]");
    const id = card && card.dataset.escalationId;
    const editor = card && card.querySelector('[data-role="editor"]');
    switch (b.dataset.action) {
      case "decide":
        act(b, () => resolve(id, { decision: b.dataset.decision }));
        break;
      case "modify":
        editor.hidden = false;
        editor.querySelector("textarea").dispatchEvent(new Event("input"));
        editor.querySelector("textarea").focus();
        break;
      case "cancel-modify":
        editor.hidden = true;
        break;
      case "submit-modify": {
        let proposal;
        try { proposal = JSON.parse(editor.querySelector("textarea").value); } catch { return; }
        act(b, () => resolve(id, { decision: "MODIFY", proposal }));
        break;
      }
      case "release":
        if (confirm(`Force-release every hold on ${b.dataset.name}?`)) act(b, () => api("POST", "/console/api/leases/release", { name: b.dataset.name }));
        break;
      case "suspend":
      case "resume":
        act(b, () => api("POST", `/console/api/agents/${encodeURIComponent(b.dataset.agent)}/${b.dataset.action}`, {}));
        break;
    }
  });

  refreshSession();
})();
