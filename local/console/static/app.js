// mailflow console: plain JavaScript, no build step. Every value from the
// server is put into the page as text (never as HTML); a mail's HTML is
// shown only inside a sandboxed iframe.
"use strict";

const main = document.getElementById("main");
let graph = null;
let current = null; // {page, id, refresh}

function h(tag, attrs, ...children) {
  const el = tag === "svg" || ["g", "rect", "text", "path", "marker", "defs", "title"].includes(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike style attributes
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setMain(...children) {
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
}

async function api(path, opts) {
  const res = await fetch(path, opts);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Mailflow-Console": "1" },
    body: JSON.stringify(body || {}),
  });
}

function toast(text) {
  const t = h("div", { class: "toast", role: "status" }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 6000);
}

const fmtTime = (s) => s ? new Date(s).toISOString().replace("T", " ").replace("Z", "").slice(0, 23) : "";
function fmtDur(ms) {
  if (ms === undefined || ms === null) return "";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}
const badge = (text, cls) => h("span", { class: "badge " + (cls || text) }, text);
function causeText(c) {
  if (!c) return "";
  try { const o = JSON.parse(c); if (o && o.errorMessage) return o.errorMessage; } catch (e) { /* plain text */ }
  return c;
}
function pretty(v) {
  if (v === undefined || v === null) return "";
  try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
}

// ---- routing ----

function route() {
  const hash = location.hash || "#/";
  const parts = hash.slice(2).split("/");
  document.querySelectorAll("header nav a").forEach((a) => a.classList.remove("active"));
  let nav = "executions";
  if (parts[0] === "x" && parts[1]) showExecution(decodeURIComponent(parts.slice(1).join("/")));
  else if (parts[0] === "dlq") { nav = "dlq"; showDLQ(); }
  else if (parts[0] === "mail" && parts[1]) showMailStatus(decodeURIComponent(parts.slice(1).join("/")));
  else if (parts[0] === "outbox" && parts[1]) { nav = "outbox"; showMail(decodeURIComponent(parts[1])); }
  else if (parts[0] === "outbox") { nav = "outbox"; showOutbox(); }
  else showList();
  const a = document.querySelector(`header nav a[data-nav="${nav}"]`);
  if (a) a.classList.add("active");
}
window.addEventListener("hashchange", route);

// ---- queue depths ----

async function refreshDepths() {
  try {
    const qs = await api("/api/queues");
    const box = document.getElementById("depths");
    box.replaceChildren(...qs.map((q) => h("span", { "data-queue": q.queue },
      q.deadLetter ? "dead letters " : "queue ", h("b", {}, q.visible), q.inFlight ? ` (+${q.inFlight} in flight)` : "")));
  } catch (e) { /* the runtime may be stopping */ }
}

// ---- live updates (server-sent events) ----

function connectLive() {
  const es = new EventSource("/api/live");
  const dot = document.getElementById("live");
  es.onopen = () => dot.classList.remove("off");
  es.onerror = () => dot.classList.add("off");
  let pending = null;
  const soon = () => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; if (current && current.refresh) current.refresh(); refreshDepths(); }, 150);
  };
  es.addEventListener("execution", (e) => {
    const d = JSON.parse(e.data);
    if (!current) return;
    if (current.page === "list" || current.page === "outbox" || current.page === "dlq" || (current.page === "execution" && current.id && (d.id === current.id || d.name === current.id))) soon();
  });
  es.addEventListener("event", (e) => {
    const d = JSON.parse(e.data);
    if (current && current.page === "list" && d.type === "ExecutionStarted") soon();
    const live = document.getElementById("live-state");
    if (current && current.page === "execution" && current.id && d.executionId.includes(current.id)) {
      if (live) live.textContent = `now: ${d.type} ${d.name || ""}`;
      soon(); // the history so far, as the runtime has it
    }
  });
  es.addEventListener("redrive", (e) => {
    const d = JSON.parse(e.data);
    const p = document.getElementById("redrive-progress");
    // The last event may arrive after the redrive's own answer: once the task
    // has ended, say what that answer says, so the order does not matter.
    if (p) p.textContent = d.status === "RUNNING" ? `${d.status}: ${d.moved} of ${d.toMove} moved` : `${d.status}: ${d.moved} message(s) moved`;
  });
}

// ---- executions list ----

const filters = { status: "", outcome: "", mailId: "" };

function showList() {
  const rows = h("tbody");
  const more = h("div", {});
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(); } },
    h("label", {}, "Status", h("select", { name: "status" },
      ["", "failed", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING"].map((s) => h("option", { value: s, selected: filters.status === s }, s || "any")))),
    h("label", {}, "Item outcome", h("select", { name: "outcome" },
      ["", "sent", "already-sent", "dead-lettered", "retry-later", "unfinished"].map((s) => h("option", { value: s, selected: filters.outcome === s }, s || "any")))),
    h("label", {}, "Mail id", h("input", { name: "mailId", value: filters.mailId, placeholder: "mailId" })),
    h("label", {}, "Since", h("input", { name: "since", type: "datetime-local" })),
    h("label", {}, "Until", h("input", { name: "until", type: "datetime-local" })),
    h("button", { type: "submit" }, "Filter"));
  const counts = h("div", { id: "delivery-counts", class: "card", hidden: true });
  setMain(h("h1", {}, "Executions"), counts, form,
    h("table", { id: "executions" }, h("thead", {}, h("tr", {}, ["Started (UTC)", "Status", "Items", "Outcomes", "Duration", "Name"].map((t) => h("th", {}, t)))), rows),
    more);
  async function load(cursor) {
    const fd = new FormData(form);
    filters.status = fd.get("status"); filters.outcome = fd.get("outcome"); filters.mailId = fd.get("mailId").trim();
    const q = new URLSearchParams({ limit: "50" });
    if (filters.status) q.set("status", filters.status);
    if (filters.outcome) q.set("outcome", filters.outcome);
    if (filters.mailId) q.set("mailId", filters.mailId);
    for (const k of ["since", "until"]) if (fd.get(k)) q.set(k, new Date(fd.get(k)).toISOString().replace(/\.\d+Z$/, "Z"));
    if (cursor) q.set("cursor", cursor);
    let page;
    try { page = await api("/api/executions?" + q); } catch (e) { toast(e.message); return; }
    const trs = page.executions.map((x) => h("tr", { class: "clickable" + (x.failed ? " failed" : ""), "data-name": x.name, onclick: () => { location.hash = "#/x/" + encodeURIComponent(x.name); } },
      h("td", { class: "mono" }, fmtTime(x.startedAt)),
      h("td", {}, badge(x.status), x.failed && x.status === "SUCCEEDED" ? [" ", badge("items failed", "bad")] : null),
      h("td", {}, x.items.length),
      h("td", {}, outcomeBadges(x.items)),
      h("td", {}, fmtDur(x.durationMs)),
      h("td", { class: "mono" }, h("a", { href: "#/x/" + encodeURIComponent(x.name) }, x.name))));
    if (cursor) rows.append(...trs); else rows.replaceChildren(...trs);
    if (!trs.length && !cursor) rows.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No executions yet: send a mail (mailflow send) and it shows up here.")));
    more.replaceChildren(page.nextCursor ? h("button", { class: "secondary", onclick: () => load(page.nextCursor) }, "More") : "");
  }
  current = { page: "list", refresh: () => { load(); loadCounts(counts); } };
  load();
  loadCounts(counts);
}

// The order the dashboard lists delivery states in: ends first.
const deliveryOrder = ["delivered", "bounced", "complained", "delayed", "dead-lettered", "rejected", "rendering-failed", "sent", "accepted"];

// loadCounts fills the dashboard's mails by delivery state; the section
// stays hidden when delivery feedback is not configured.
async function loadCounts(box) {
  let c;
  try { c = await api("/api/delivery/counts"); } catch (e) { return; }
  if (!c.enabled) { box.hidden = true; return; }
  const by = c.byState || {};
  const states = [...deliveryOrder.filter((k) => k in by), ...Object.keys(by).filter((k) => !deliveryOrder.includes(k))];
  box.replaceChildren(h("h2", {}, "Mails by delivery state"),
    h("div", { class: "counts" }, states.length ? states.map((k) => h("span", { class: "count", "data-state": k }, badge(k, deliveryClass(k)), " ", h("b", {}, by[k]),
      k === "dead-lettered" && c.suppressed ? h("span", { class: "muted", "data-state": "suppressed" }, ` (${c.suppressed} suppressed)`) : null)) : h("span", { class: "muted" }, "No delivery record yet.")));
  box.hidden = false;
}

// deliveryClass colours a delivery state's badge.
function deliveryClass(state) {
  if (state === "delivered") return "ok";
  if (state === "delayed" || state === "sent" || state === "accepted") return "warn";
  return "bad";
}

// outcomeBadges counts a list of items by outcome, with their errors.
function outcomeBadges(items) {
  const counts = new Map();
  const errors = new Set();
  for (const it of items) {
    counts.set(it.outcome, (counts.get(it.outcome) || 0) + 1);
    if (it.error) errors.add(it.error);
  }
  return [[...counts].map(([o, n]) => [badge(`${o} ${n}`, o), " "]), errors.size ? [...errors].join(", ") : null];
}

// ---- execution page ----

function runClass(run) {
  if (!run) return "";
  // An aborted run was cut short by the execution's end: not a success.
  if (run.status === "failed" || run.status === "aborted") return "failed";
  if (run.status === "running") return "running";
  if (run.retries > 0) return "retried";
  return "succeeded";
}

function drawGraph(g, topRuns, iter, onSelect, selectedState) {
  const byState = {};
  for (const r of topRuns) byState[r.name] = r;
  for (const r of (iter ? iter.states : [])) byState[r.name] = r; // last visit wins
  const nodes = {};
  g.nodes.forEach((n) => { nodes[n.name] = n; });
  const svg = h("svg", { viewBox: `0 0 ${g.width} ${g.height}`, role: "img", "aria-label": "state graph", id: "graph" });
  const defs = h("defs", {}, h("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    h("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a949e" })));
  svg.append(defs);
  for (const n of g.nodes.filter((n) => n.frame)) {
    const r = byState[n.name];
    svg.append(h("g", { class: "frame " + runClass(r), "data-state": n.name },
      h("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 8 }),
      h("text", { x: n.x + 10, y: n.y + 18 }, `${n.name} (Map)` + (iter ? ` · iteration ${iter.index}` : ""))));
  }
  const order = iter ? iter.states.map((s) => s.name) : [];
  const taken = new Set();
  for (let i = 1; i < order.length; i++) taken.add(order[i - 1] + "→" + order[i]);
  for (const e of g.edges) {
    const a = nodes[e.from], b = nodes[e.to];
    if (!a || !b || a.frame || b.frame) continue;
    const x1 = a.x + a.w / 2, y1 = a.y + a.h, x2 = b.x + b.w / 2, y2 = b.y;
    const my = (y1 + y2) / 2;
    const d = y2 > y1 ? `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2 - 2}` : `M ${a.x + a.w} ${a.y + a.h / 2} C ${a.x + a.w + 40} ${a.y}, ${b.x + b.w + 40} ${b.y + b.h}, ${b.x + b.w} ${b.y + b.h / 2}`;
    svg.append(h("path", { d, class: "edge " + e.kind + (taken.has(e.from + "→" + e.to) ? " taken" : ""), "marker-end": "url(#arrow)" }));
  }
  for (const n of g.nodes.filter((n) => !n.frame)) {
    const r = byState[n.name];
    const cls = "state " + (r ? "visited " + runClass(r) : "") + (selectedState === n.name ? " selected" : "");
    const label = n.name + (r && r.retries ? ` ↻${r.retries}` : "");
    svg.append(h("g", { class: cls, "data-state": n.name, "data-outcome": r ? runClass(r) : "not-visited", onclick: () => r && onSelect(n.name) },
      h("title", {}, r ? `${n.name}: ${r.status}${r.error ? " — " + r.error : ""}` : `${n.name}: not visited`),
      h("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }),
      h("text", { x: n.x + n.w / 2, y: n.y + n.h / 2 + 4, "text-anchor": "middle" }, label)));
  }
  return svg;
}

async function showExecution(id) {
  setMain(h("p", { class: "muted" }, "Loading…"));
  let sel = { iteration: null, state: null };
  async function load() {
    let data;
    try { data = await api("/api/executions/" + encodeURIComponent(id)); } catch (e) { setMain(h("h1", {}, "Execution"), h("p", { class: "error-box" }, e.message)); return; }
    if (!graph) graph = await api("/api/graph");
    const x = data.execution, tl = data.timeline;
    if (sel.iteration === null) {
      const failed = tl.iterations.find((it) => it.status === "failed" || (it.outcome && it.outcome !== "sent" && it.outcome !== "already-sent"));
      sel.iteration = failed ? failed.index : (tl.iterations[0] ? tl.iterations[0].index : null);
    }
    render(x, tl, data);
  }
  function render(x, tl, data) {
    const iter = tl.iterations.find((it) => it.index === sel.iteration) || null;
    const runs = iter ? iter.states : tl.states;
    if (!sel.state || !runs.find((r) => r.name === sel.state)) {
      const f = runs.find((r) => r.status === "failed");
      sel.state = f ? f.name : (runs[0] ? runs[0].name : null);
    }
    const header = h("div", { class: "card" },
      h("h1", {}, "Execution ", h("span", { class: "mono" }, x.name), " ", badge(x.status), data.failed ? [" ", badge("has failed items", "bad")] : null,
        x.status === "RUNNING" ? [" ", h("span", { id: "live-state", class: "muted" }, "running…")] : null),
      h("div", { class: "meta" },
        h("span", { class: "muted" }, "ARN"), h("span", { class: "mono" }, x.id),
        h("span", { class: "muted" }, "Started"), h("span", {}, fmtTime(x.startedAt) + " UTC"),
        h("span", { class: "muted" }, "Duration"), h("span", {}, fmtDur(data.durationMs)),
        x.error ? [h("span", { class: "muted" }, "Error"), h("span", {}, x.error + ": " + causeText(x.cause))] : null),
      h("div", { class: "actions" },
        h("button", { id: "replay-failed", disabled: !data.failed, onclick: () => replay(true) }, "Replay failed items"),
        h("button", { id: "replay-all", class: "secondary", onclick: () => replay(false) }, "Replay all")),
      h("ul", { id: "replay-result", class: "notes" }));
    const dl = data.deliveries; // null: delivery feedback not configured
    const items = h("table", { id: "items" }, h("thead", {}, h("tr", {}, ["#", "Mail id", "Outcome", "Error", "Cause", dl ? "Delivery" : null].map((t) => t && h("th", {}, t)))),
      h("tbody", {}, x.items.map((it) => h("tr", { class: "clickable" + (it.index === sel.iteration ? " selected" : ""), onclick: () => { sel.iteration = it.index; sel.state = null; render(x, tl, data); } },
        h("td", {}, it.index),
        h("td", { class: "mono" }, it.mailId ? h("a", { href: "#/mail/" + encodeURIComponent(it.mailId), onclick: (e) => e.stopPropagation() }, it.mailId) : "-"),
        h("td", {}, badge(it.outcome)), h("td", {}, it.error || ""), h("td", {}, it.cause || ""),
        dl ? h("td", { class: "delivery" }, deliveryCell(dl[it.mailId])) : null))));
    const failedRun = iter && iter.states.filter((r) => r.status === "failed").pop();
    const failBox = failedRun ? h("div", { class: "error-box", id: "failure" }, h("b", {}, `${failedRun.name} failed: ${failedRun.error}`), h("div", {}, causeText(failedRun.cause))) : null;
    const iterTabs = tl.iterations.length > 1 ? h("div", { class: "tabs", id: "iterations" }, h("span", { class: "muted" }, "Map iteration:"),
      tl.iterations.map((it) => h("button", { class: it.index === sel.iteration ? "active" : "secondary", onclick: () => { sel.iteration = it.index; sel.state = null; render(x, tl, data); } },
        `${it.index}` + (it.outcome ? ` · ${it.outcome}` : "")))) : null;
    const svg = drawGraph(graph, tl.states, iter, (name) => { sel.state = name; render(x, tl, data); }, sel.state);
    const t0 = runs.length ? new Date(runs[0].entered).getTime() : 0;
    const total = Math.max(1, ...runs.map((r) => new Date(r.exited || r.entered).getTime() - t0));
    const timeline = h("table", { id: "timeline" }, h("thead", {}, h("tr", {}, ["State", "Type", "Status", "Attempts", "Start", "Duration", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, [...tl.states.filter(() => iter === null), ...runs].map((r) => {
        const start = new Date(r.entered).getTime() - t0;
        const ms = r.durationNs / 1e6;
        return h("tr", { class: "clickable" + (r.name === sel.state ? " selected" : ""), "data-state": r.name, onclick: () => { sel.state = r.name; render(x, tl, data); } },
          h("td", {}, r.name), h("td", {}, r.type), h("td", {}, badge(runClass(r), runClass(r))),
          h("td", {}, r.attempts ? `${r.attempts}` + (r.retries ? ` (${r.retries} retries)` : "") : ""),
          h("td", { class: "mono" }, "+" + fmtDur(start)), h("td", {}, fmtDur(ms)),
          h("td", { class: "barcell" }, h("div", { class: "bar" + (r.status === "failed" ? " failed" : ""), style: `margin-left:${(100 * start / total).toFixed(1)}%; width:${Math.max(0.5, 100 * ms / total).toFixed(1)}%` })));
      })));
    const run = runs.find((r) => r.name === sel.state);
    const detail = run ? h("div", { class: "card", id: "state-detail" }, h("h2", {}, run.name, " ", badge(runClass(run), runClass(run))),
      run.failures && run.failures.length ? h("div", {}, run.failures.map((f, i) => h("div", { class: "error-box" }, h("b", {}, `attempt ${i + 1}: ${f.error}`), h("div", {}, causeText(f.cause))))) : null,
      h("h2", {}, "Input"), run.truncated ? h("p", { class: "muted" }, "truncated in the logs") : null,
      h("pre", {}, run.input ? pretty(run.input) : (run.inputText || "(not recorded)")),
      h("h2", {}, "Output"), h("pre", {}, run.output ? pretty(run.output) : "(none)")) : null;
    setMain(header, h("h2", {}, "Items"), items, failBox || "", iterTabs || "",
      h("div", { class: "cols" }, h("div", { class: "card" }, svg), h("div", {}, timeline, detail || "")));
  }
  async function replay(failedOnly, retryPermanent) {
    const btns = [document.getElementById("replay-failed"), document.getElementById("replay-all")];
    btns.forEach((b) => { if (b) b.disabled = true; });
    try {
      const res = await post("/api/executions/" + encodeURIComponent(id) + "/replay", { failedOnly, retryPermanent: !!retryPermanent });
      const ul = document.getElementById("replay-result");
      ul.replaceChildren(...res.results.map((r) => h("li", {}, `#${r.index} ${r.mailId || ""}: ${r.action}` + (r.newMessageId ? ` as ${r.newMessageId}` : "") + ` — ${r.note}`)));
      // A permanent failure is skipped (it would fail again) until the
      // operator says its cause is fixed.
      if (res.results.some((r) => r.class === "permanent" && r.action === "skipped")) {
        ul.append(h("li", {}, h("button", { id: "replay-anyway", class: "secondary", onclick: () => replay(failedOnly, true) }, "Cause fixed: replay the permanent failures anyway")));
      }
      toast(`Replay: ${res.results.filter((r) => r.action === "enqueued").length} item(s) re-enqueued`);
    } catch (e) { toast("Replay failed: " + e.message); }
    btns.forEach((b) => { if (b) b.disabled = false; });
  }
  current = { page: "execution", id, refresh: load };
  await load();
}

// ---- one mail ----

async function showMailStatus(mailId) {
  current = { page: "mail-status", refresh: () => showMailStatus(mailId) };
  let st;
  try { st = await api("/api/mail/" + encodeURIComponent(mailId)); } catch (e) { setMain(h("p", { class: "error-box" }, e.message)); return; }
  const l = st.lock;
  const lock = !l ? h("p", {}, "No lock: never sent, or released after a failure.")
    : h("div", { class: "meta" },
      h("span", { class: "muted" }, "Lock"), h("span", {}, badge(l.status, l.status === "SENT" ? "ok" : "warn"), l.expired ? " (expired: the dedup window is over)" : ""),
      l.sesMessageId ? [h("span", { class: "muted" }, "SES message id"), h("span", { class: "mono" }, h("a", { href: "#/outbox/" + encodeURIComponent(l.sesMessageId) }, l.sesMessageId))] : null,
      l.sentAt ? [h("span", { class: "muted" }, "Sent at"), h("span", {}, fmtTime(l.sentAt) + " UTC")] : null,
      l.status !== "SENT" ? [h("span", { class: "muted" }, "Held by"), h("span", { class: "mono" }, l.owner), h("span", { class: "muted" }, "Lease until"), h("span", {}, fmtTime(l.leaseUntil) + " UTC"), h("span", { class: "muted" }, "Send attempts"), h("span", {}, String(l.sendAttempts || 0))] : null);
  setMain(h("h1", {}, "Mail ", h("span", { class: "mono" }, st.mailId)), h("div", { class: "card", id: "mail-status" }, lock),
    deliverySection(st),
    h("h2", {}, "Executions that touched it"),
    h("table", { id: "mail-executions" }, h("thead", {}, h("tr", {}, ["Started (UTC)", "Outcome", "Error", "Execution"].map((t) => h("th", {}, t)))),
      h("tbody", {}, st.executions.map((e) => {
        const name = e.executionId.split(":")[7] || e.executionId;
        return h("tr", { class: "clickable", onclick: () => { location.hash = "#/x/" + encodeURIComponent(name); } },
          h("td", { class: "mono" }, fmtTime(e.startedAt)), h("td", {}, badge(e.item.outcome)), h("td", {}, e.item.error || ""), h("td", { class: "mono" }, name));
      }))));
}

// deliveryCell sums up an item's delivery record on the execution page.
function deliveryCell(d) {
  if (!d) return h("span", { class: "muted" }, "no record");
  const by = new Map();
  for (const r of d.recipients || []) by.set(r.state, (by.get(r.state) || 0) + 1);
  return [d.summary ? badge(d.summary, deliveryClass(d.summary)) : null, d.suppressed ? [" ", badge("suppressed", "bad")] : null,
    by.size ? h("span", { class: "muted" }, " " + [...by].map(([k, n]) => `${k} ${n}`).join(", ")) : null];
}

// deliverySection is the mail page's delivery record: the whole mail, each
// recipient, and the event history.
function deliverySection(st) {
  const d = st.delivery;
  if (!d) return h("div", { class: "card", id: "delivery" }, h("h2", {}, "Delivery"), h("p", { class: "muted", id: "delivery-note" }, st.deliveryNote || ""));
  return h("div", { class: "card", id: "delivery" }, h("h2", {}, "Delivery ", d.summary ? badge(d.summary, deliveryClass(d.summary)) : null, d.suppressed ? [" ", badge("suppressed", "bad")] : null),
    h("div", { class: "meta" },
      h("span", { class: "muted" }, "Mail"), h("span", {}, d.state ? `${d.state} at ${fmtTime(d.stateAt)} UTC` : "no whole-mail event yet"),
      d.sesMessageId ? [h("span", { class: "muted" }, "SES message id"), h("span", { class: "mono" }, d.sesMessageId)] : null),
    h("table", { id: "delivery-recipients" }, h("thead", {}, h("tr", {}, ["Recipient", "State", "At (UTC)", "Detail", "Suppressed"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.recipients.map((r) => h("tr", { "data-recipient": r.address },
        h("td", { class: "mono" }, r.address), h("td", {}, badge(r.state, deliveryClass(r.state))), h("td", { class: "mono" }, fmtTime(r.at)),
        h("td", { class: "detail" }, recipientDetail(r)),
        h("td", {}, r.suppressed ? `${r.suppressed.reason} since ${fmtTime(r.suppressed.at)}` : ""))))),
    h("h2", {}, "Events"),
    h("table", { id: "delivery-history" }, h("thead", {}, h("tr", {}, ["Time (UTC)", "Type", "Recipient", "Detail"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.history.map((e) => h("tr", { "data-event": e.id },
        h("td", { class: "mono" }, fmtTime(e.time)), h("td", {}, badge(e.type, deliveryClass(e.type))), h("td", { class: "mono" }, e.recipient || "-"), h("td", { class: "detail" }, e.detail || ""))))));
}

function recipientDetail(r) {
  if (r.bounce) return `${r.bounce.type}/${r.bounce.subType}` + (r.bounce.diagnosticCode ? `: ${r.bounce.diagnosticCode}` : "");
  if (r.complaint) return r.complaint.feedbackType ? `feedback type ${r.complaint.feedbackType}` : "no feedback type";
  return "";
}

// ---- dead letters ----

async function showDLQ() {
  const body = h("tbody");
  const btn = h("button", { id: "redrive", onclick: redrive }, "Redrive all to the source queue");
  setMain(h("h1", {}, "Dead-letter queue"),
    h("div", { class: "filters" }, btn, h("span", { id: "redrive-progress", class: "muted" })),
    h("table", { id: "dlq" }, h("thead", {}, h("tr", {}, ["Message", "Mail id", "Error", "Cause", "Execution", "Dead-lettered"].map((t) => h("th", {}, t)))), body));
  async function load() {
    let msgs;
    try { msgs = await api("/api/dlq"); } catch (e) { toast(e.message); return; }
    body.replaceChildren(...msgs.map((m) => {
      const name = m.executionId ? m.executionId.split(":")[7] : "";
      return h("tr", { "data-message": m.messageId },
        h("td", { class: "mono" }, m.messageId), h("td", { class: "mono" }, m.mailId || "-"),
        h("td", {}, badge(m.error || "unknown", "bad")), h("td", {}, m.cause || ""),
        h("td", { class: "mono" }, name ? h("a", { href: "#/x/" + encodeURIComponent(name) }, name) : "-"),
        h("td", { class: "mono" }, fmtTime(m.sentAt)));
    }));
    if (!msgs.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted", id: "dlq-empty" }, "The dead-letter queue is empty.")));
    btn.disabled = !msgs.length;
  }
  let busy = false; // a listing hides messages from a running move task: none during a redrive
  async function redrive() {
    busy = true;
    btn.disabled = true;
    document.getElementById("redrive-progress").textContent = "redriving…";
    try {
      const st = await post("/api/dlq/redrive");
      document.getElementById("redrive-progress").textContent = `${st.status}: ${st.moved} message(s) moved`;
    } catch (e) { toast("Redrive failed: " + e.message); }
    busy = false;
    load(); refreshDepths();
  }
  current = { page: "dlq", refresh: () => { if (!busy) load(); } };
  load();
}

// ---- outbox ----

async function showOutbox() {
  const body = h("tbody");
  setMain(h("h1", {}, "Outbox"), h("table", { id: "outbox" },
    h("thead", {}, h("tr", {}, ["Date (UTC)", "Subject", "To", "From", "Size"].map((t) => h("th", {}, t)))), body));
  async function load() {
    let res;
    try { res = await api("/api/outbox"); } catch (e) { toast(e.message); return; }
    if (!res.enabled) { body.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "Mail is relayed to SMTP: there is no outbox."))); return; }
    body.replaceChildren(...res.mails.map((m) => h("tr", { class: "clickable", "data-name": m.name, onclick: () => { location.hash = "#/outbox/" + encodeURIComponent(m.name); } },
      h("td", { class: "mono" }, fmtTime(m.date)), h("td", {}, m.subject), h("td", {}, m.to), h("td", {}, m.from), h("td", {}, `${m.size} B`))));
    if (!res.mails.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No mail delivered yet.")));
  }
  current = { page: "outbox", refresh: load };
  load();
}

async function showMail(name) {
  current = { page: "mail" };
  let m;
  try { m = await api("/api/outbox/" + encodeURIComponent(name)); } catch (e) { setMain(h("p", { class: "error-box" }, e.message)); return; }
  const base = "/api/outbox/" + encodeURIComponent(name);
  setMain(h("p", {}, h("a", { href: "#/outbox" }, "← Outbox")),
    h("div", { class: "card", id: "mail" }, h("h1", {}, m.subject || "(no subject)"),
      h("div", { class: "meta" }, ...m.headers.filter(([k]) => ["From", "To", "Cc", "Date", "Message-Id", "Reply-To"].includes(k)).flatMap(([k, v]) => [h("span", { class: "muted" }, k), h("span", {}, v)]),
        h("span", { class: "muted" }, "SES message id"), h("span", { class: "mono" }, m.name))),
    m.hasHtml ? [h("h2", {}, "HTML"), h("iframe", { class: "mail", sandbox: "", src: base + "/html", title: "HTML body", referrerpolicy: "no-referrer" })] : null,
    m.text ? [h("h2", {}, "Text"), h("pre", { id: "mail-text" }, m.text)] : null,
    h("h2", {}, "Attachments"),
    m.attachments.length ? h("ul", { id: "attachments" }, m.attachments.map((a) => h("li", {}, h("a", { href: `${base}/parts/${a.index}`, download: a.filename }, a.filename), ` ${a.contentType}, ${a.size} B` + (a.inline ? " (inline)" : ""))))
      : h("p", { class: "muted" }, "none"),
    h("h2", {}, "Headers"), h("pre", {}, m.headers.map(([k, v]) => `${k}: ${v}`).join("\n")));
}

refreshDepths();
setInterval(refreshDepths, 5000);
connectLive();
route();
