// mailflow console: plain JavaScript, no build step. Every value from the
// server is put into the page as text (never as HTML); a mail's HTML is
// shown only inside a sandboxed iframe.
"use strict";

const main = document.getElementById("main");
let graph = null;
let current = null; // {page, id, path, refresh, onParams}
let liveState = ""; // the last live event of the execution shown

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
function fmtAge(ms) {
  if (ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

// ---- foldable JSON ----

// jsonView shows a JSON value as a tree whose objects and arrays fold, with
// buttons to expand or collapse it all and to copy the raw JSON. A string
// that holds JSON itself (an SQS record's body) unfolds as JSON too.
function jsonView(value, label) {
  if (typeof value === "string") {
    try { value = JSON.parse(value); } catch (e) { return h("pre", { class: "json-text" }, value); }
  }
  const tree = h("div", { class: "json-tree" }, jsonNode(value, undefined, 0));
  const setAll = (open) => tree.querySelectorAll("details").forEach((d) => { d.open = open; });
  const copy = h("button", { type: "button", class: "small secondary json-copy", onclick: () => copyText(JSON.stringify(value, null, 2), copy) }, "Copy JSON");
  return h("div", { class: "json", "aria-label": label || "JSON" },
    h("div", { class: "json-tools" },
      h("button", { type: "button", class: "small secondary json-expand", onclick: () => setAll(true) }, "Expand all"),
      h("button", { type: "button", class: "small secondary json-collapse", onclick: () => setAll(false) }, "Collapse all"),
      copy),
    tree);
}

function jsonNode(v, key, depth) {
  const keyEl = key === undefined ? null : [h("span", { class: "k" }, typeof key === "number" ? String(key) : JSON.stringify(key)), ": "];
  if (typeof v === "string" && depth > 0 && /^\s*[[{]/.test(v)) {
    try {
      const inner = JSON.parse(v);
      if (inner && typeof inner === "object") {
        return h("details", { class: "node embedded", open: depth < 3 }, h("summary", {}, keyEl, h("span", { class: "muted" }, "JSON string ")),
          h("div", { class: "kids" }, jsonNode(inner, undefined, depth)));
      }
    } catch (e) { /* an ordinary string */ }
  }
  if (v !== null && typeof v === "object") {
    const arr = Array.isArray(v);
    const entries = arr ? v.map((x, i) => [i, x]) : Object.entries(v);
    const size = arr ? `[${entries.length}]` : `{${entries.length}}`;
    if (!entries.length) return h("div", { class: "leaf" }, keyEl, h("span", { class: "v" }, arr ? "[]" : "{}"));
    return h("details", { class: "node", open: depth < 3 }, h("summary", {}, keyEl, h("span", { class: "muted" }, size)),
      h("div", { class: "kids" }, entries.map(([k, x]) => jsonNode(x, k, depth + 1))));
  }
  return h("div", { class: "leaf" }, keyEl, h("span", { class: "v " + (v === null ? "null" : typeof v) }, JSON.stringify(v)));
}

async function copyText(text, btn) {
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
    // No clipboard permission: the selection-based copy still works.
    const ta = h("textarea", { class: "offscreen" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
    ta.remove();
  }
  btn.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => { btn.textContent = "Copy JSON"; }, 2000);
}

// ---- routing ----
// A page's filters and selection live in the hash's query (#/path?k=v), so a
// copied link opens the same view and back and forward step through it.

function parseHash() {
  const raw = (location.hash || "#/").slice(1) || "/";
  const q = raw.indexOf("?");
  return { path: q < 0 ? raw : raw.slice(0, q), params: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

function hashOf(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return "#" + path + (s ? "?" + s : "");
}

// setParams puts a page's view in the URL: a new history entry, so back
// returns to the previous view.
function setParams(params) {
  const next = hashOf(parseHash().path, params);
  if (next !== location.hash) location.hash = next;
}

const paramsObject = (p) => Object.fromEntries(p.entries());

function route() {
  const { path, params } = parseHash();
  if (current && current.path === path && current.onParams) { current.onParams(params); return; }
  const parts = path.slice(1).split("/");
  document.querySelectorAll("header nav a").forEach((a) => a.classList.remove("active"));
  let nav = "executions";
  if (parts[0] === "x" && parts[1]) showExecution(decodeURIComponent(parts.slice(1).join("/")), path, params);
  else if (parts[0] === "dlq") { nav = "dlq"; showDLQ(path, params); }
  else if (parts[0] === "mail" && parts[1]) showMailStatus(decodeURIComponent(parts.slice(1).join("/")));
  else if (parts[0] === "outbox" && parts[1]) { nav = "outbox"; showMail(decodeURIComponent(parts[1])); }
  else if (parts[0] === "outbox") { nav = "outbox"; showOutbox(); }
  else showList(path, params);
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
      liveState = `now: ${d.type} ${d.name || ""}`;
      if (live) live.textContent = liveState;
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

const listFilters = ["status", "outcome", "mailId", "since", "until"];

// toLocalInput shows a UTC time of the URL in a datetime-local input.
function toLocalInput(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function showList(path, params) {
  const rows = h("tbody");
  const more = h("div", {});
  let f = {};
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const next = { status: fd.get("status"), outcome: fd.get("outcome"), mailId: fd.get("mailId").trim() };
    for (const k of ["since", "until"]) if (fd.get(k)) next[k] = new Date(fd.get(k)).toISOString().replace(/\.\d+Z$/, "Z");
    setParams(next);
  } },
    h("label", {}, "Status", h("select", { name: "status" },
      ["", "failed", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING"].map((s) => h("option", { value: s }, s || "any")))),
    h("label", {}, "Item outcome", h("select", { name: "outcome" },
      ["", "sent", "already-sent", "dead-lettered", "retry-later", "unfinished"].map((s) => h("option", { value: s }, s || "any")))),
    h("label", {}, "Mail id", h("input", { name: "mailId", placeholder: "mailId" })),
    h("label", {}, "Since", h("input", { name: "since", type: "datetime-local" })),
    h("label", {}, "Until", h("input", { name: "until", type: "datetime-local" })),
    h("button", { type: "submit" }, "Filter"));
  const counts = h("div", { id: "delivery-counts", class: "card", hidden: true });
  setMain(h("h1", {}, "Executions"), counts, form,
    h("table", { id: "executions" }, h("thead", {}, h("tr", {}, ["Started (UTC)", "Status", "Items", "Outcomes", "Duration", "Name"].map((t) => h("th", {}, t)))), rows),
    more);
  function apply(p) {
    f = {};
    for (const k of listFilters) f[k] = p.get(k) || "";
    form.elements.status.value = f.status;
    form.elements.outcome.value = f.outcome;
    form.elements.mailId.value = f.mailId;
    form.elements.since.value = f.since ? toLocalInput(f.since) : "";
    form.elements.until.value = f.until ? toLocalInput(f.until) : "";
    load();
  }
  async function load(cursor) {
    const q = new URLSearchParams({ limit: "50" });
    for (const k of listFilters) if (f[k]) q.set(k, f[k]);
    if (cursor) q.set("cursor", cursor);
    let page;
    try { page = await api("/api/executions?" + q); } catch (e) { toast(e.message); return; }
    const trs = page.executions.map((x) => h("tr", { class: "clickable" + (x.failed ? " failed" : ""), "data-name": x.name, onclick: () => { location.hash = "#/x/" + encodeURIComponent(x.name); } },
      h("td", { class: "mono" }, fmtTime(x.startedAt)),
      h("td", {}, badge(x.status), x.failed && x.status === "SUCCEEDED" ? [" ", badge("items failed", "bad")] : null),
      h("td", {}, x.items.length),
      h("td", {}, outcomeBadges(x.items, x.status === "RUNNING")),
      h("td", {}, fmtDur(x.durationMs)),
      h("td", { class: "mono" }, h("a", { href: "#/x/" + encodeURIComponent(x.name) }, x.name))));
    if (cursor) rows.append(...trs); else rows.replaceChildren(...trs);
    if (!trs.length && !cursor) rows.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No executions match: send a mail (mailflow send) or change the filters.")));
    more.replaceChildren(page.nextCursor ? h("button", { class: "secondary", onclick: () => load(page.nextCursor) }, "More") : "");
  }
  current = { page: "list", path, onParams: apply, refresh: () => { load(); loadCounts(counts); } };
  apply(params);
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
// An unfinished item of a running execution is still running.
function outcomeBadges(items, running) {
  const counts = new Map();
  const errors = new Set();
  for (const it of items) {
    const o = itemOutcome(it, running);
    counts.set(o, (counts.get(o) || 0) + 1);
    if (it.error) errors.add(it.error);
  }
  return [[...counts].map(([o, n]) => [badge(`${o} ${n}`, o), " "]), errors.size ? [...errors].join(", ") : null];
}

const itemOutcome = (it, running) => running && it.outcome === "unfinished" ? "running" : it.outcome;

// ---- execution page ----

function runClass(run) {
  if (!run) return "";
  // An aborted run was cut short by the execution's end: not a success.
  if (run.status === "failed" || run.status === "aborted") return "failed";
  if (run.status === "running") return "running";
  if (run.retries > 0) return "retried";
  return "succeeded";
}

// drawGraph draws the definition with the path the execution took: the
// states it went through coloured by how they ended, the transitions taken
// drawn heavier, the Map's states those of the selected iteration.
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
  // Consecutive visits of a lane are the transitions it took.
  const taken = new Set();
  for (const lane of [topRuns.map((s) => s.name), iter ? iter.states.map((s) => s.name) : []]) {
    for (let i = 1; i < lane.length; i++) taken.add(lane[i - 1] + "→" + lane[i]);
  }
  for (const e of g.edges) {
    const a = nodes[e.from], b = nodes[e.to];
    if (!a || !b) continue;
    const x1 = a.x + a.w / 2, y1 = a.y + a.h, x2 = b.x + b.w / 2, y2 = b.y;
    const my = (y1 + y2) / 2;
    const d = y2 > y1 ? `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2 - 2}` : `M ${a.x + a.w} ${a.y + a.h / 2} C ${a.x + a.w + 40} ${a.y}, ${b.x + b.w + 40} ${b.y + b.h}, ${b.x + b.w} ${b.y + b.h / 2}`;
    const isTaken = taken.has(e.from + "→" + e.to);
    svg.append(h("path", { d, class: "edge " + e.kind + (isTaken ? " taken" : ""), "data-from": e.from, "data-to": e.to, "marker-end": "url(#arrow)" }));
  }
  for (const n of g.nodes.filter((n) => !n.frame)) {
    const r = byState[n.name];
    const cls = "state " + (r ? "visited " + runClass(r) : "") + (selectedState === n.name ? " selected" : "");
    const label = n.name + (r && r.retries ? ` ↻${r.retries}` : "") + (r && r.status === "failed" ? " ✕" : "");
    svg.append(h("g", { class: cls, "data-state": n.name, "data-outcome": r ? runClass(r) : "not-visited", onclick: () => r && onSelect(n.name) },
      h("title", {}, r ? `${n.name}: ${r.status}${r.error ? " — " + r.error : ""}` : `${n.name}: not visited`),
      h("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }),
      h("text", { x: n.x + n.w / 2, y: n.y + n.h / 2 + 4, "text-anchor": "middle" }, label)));
  }
  return svg;
}

const graphLegend = () => h("div", { class: "legend" }, [["succeeded", "succeeded"], ["failed", "failed"], ["retried", "retried"], ["running", "running"], ["", "not visited"]]
  .map(([c, t]) => h("span", { class: "key " + c }, t)), h("span", { class: "key path" }, "path taken"));

// isFailureEvent tells the history events a person looks for first.
const isFailureEvent = (type) => /Failed|TimedOut|Aborted/.test(type);

async function showExecution(id, path, params) {
  setMain(h("p", { class: "muted" }, "Loading…"));
  let p = params;
  let data = null;
  async function load() {
    let d;
    try { d = await api("/api/executions/" + encodeURIComponent(id)); } catch (e) { setMain(h("h1", {}, "Execution"), h("p", { class: "error-box" }, e.message)); return; }
    if (!graph) graph = await api("/api/graph");
    data = d;
    render();
  }
  // The view: the URL's choice, else the first failure, else the first.
  function view() {
    const tl = data.timeline;
    let iteration = p.has("iteration") ? Number(p.get("iteration")) : null;
    if (iteration === null || !tl.iterations.find((it) => it.index === iteration)) {
      const failed = tl.iterations.find((it) => it.status === "failed" || (it.outcome && it.outcome !== "sent" && it.outcome !== "already-sent"));
      iteration = failed ? failed.index : (tl.iterations[0] ? tl.iterations[0].index : null);
    }
    const iter = tl.iterations.find((it) => it.index === iteration) || null;
    const runs = iter ? iter.states : tl.states;
    let state = p.get("state");
    if (!state || !runs.find((r) => r.name === state)) {
      const f = runs.find((r) => r.status === "failed");
      state = f ? f.name : (runs[0] ? runs[0].name : null);
    }
    return { tab: p.get("tab") === "events" ? "events" : "graph", iteration, iter, runs, state, event: p.get("event") || "" };
  }
  const go = (change) => setParams({ ...paramsObject(p), ...change });
  function render() {
    const x = data.execution, tl = data.timeline;
    const v = view();
    const running = x.status === "RUNNING";
    const header = h("div", { class: "card" },
      h("h1", {}, "Execution ", h("span", { class: "mono" }, x.name), " ", badge(x.status), data.failed ? [" ", badge("has failed items", "bad")] : null,
        running ? [" ", h("span", { id: "live-state", class: "muted" }, liveState || "running…")] : null),
      h("div", { class: "meta" },
        h("span", { class: "muted" }, "ARN"), h("span", { class: "mono wrap" }, x.id),
        h("span", { class: "muted" }, "Started"), h("span", {}, fmtTime(x.startedAt) + " UTC"),
        h("span", { class: "muted" }, "Duration"), h("span", {}, running ? "running" : fmtDur(data.durationMs)),
        x.error ? [h("span", { class: "muted" }, "Error"), h("span", {}, x.error + ": " + causeText(x.cause))] : null),
      h("div", { class: "actions" },
        h("button", { id: "replay-failed", disabled: !data.failed, onclick: () => replay(true) }, "Replay failed items"),
        h("button", { id: "replay-all", class: "secondary", onclick: () => replay(false) }, "Replay all")),
      h("ul", { id: "replay-result", class: "notes" }, replayNotes));
    const dl = data.deliveries; // null: delivery feedback not configured
    const items = h("table", { id: "items" }, h("thead", {}, h("tr", {}, ["#", "Mail id", "Outcome", "Error", "Cause", dl ? "Delivery" : null].map((t) => t && h("th", {}, t)))),
      h("tbody", {}, x.items.map((it) => h("tr", { class: "clickable" + (it.index === v.iteration ? " selected" : ""), "data-item": it.index, onclick: () => go({ iteration: it.index, state: "" }) },
        h("td", {}, it.index),
        h("td", { class: "mono" }, it.mailId ? h("a", { href: "#/mail/" + encodeURIComponent(it.mailId), onclick: (e) => e.stopPropagation() }, it.mailId) : "-"),
        h("td", {}, badge(itemOutcome(it, running))), h("td", {}, it.error || ""), h("td", {}, it.cause || ""),
        dl ? h("td", { class: "delivery" }, deliveryCell(dl[it.mailId])) : null))));
    const tabs = h("div", { class: "tabs", id: "tabs", role: "tablist" },
      h("button", { role: "tab", "data-tab": "graph", class: v.tab === "graph" ? "active" : "secondary", onclick: () => go({ tab: "" }) }, "Graph and timeline"),
      h("button", { role: "tab", "data-tab": "events", class: v.tab === "events" ? "active" : "secondary", onclick: () => go({ tab: "events" }) }, `Events (${data.events.length})`));
    setMain(header, h("h2", {}, "Items"), items, tabs, v.tab === "events" ? eventsTab(x, v) : graphTab(tl, v));
  }
  function graphTab(tl, v) {
    const iter = v.iter, runs = v.runs;
    const failedRun = iter && iter.states.filter((r) => r.status === "failed").pop();
    const failBox = failedRun ? h("div", { class: "error-box", id: "failure" }, h("b", {}, `${failedRun.name} failed: ${failedRun.error}`), h("div", {}, causeText(failedRun.cause))) : null;
    const iterTabs = tl.iterations.length > 1 ? h("div", { class: "tabs", id: "iterations" }, h("span", { class: "muted" }, "Map iteration:"),
      tl.iterations.map((it) => h("button", { "data-iteration": it.index, class: it.index === v.iteration ? "active" : "secondary", onclick: () => go({ iteration: it.index, state: "" }) },
        `${it.index}` + (it.outcome ? ` · ${it.outcome}` : it.status === "running" ? " · running" : "")))) : null;
    const svg = drawGraph(graph, tl.states, iter, (name) => go({ state: name }), v.state);
    const t0 = runs.length ? new Date(runs[0].entered).getTime() : 0;
    const total = Math.max(1, ...runs.map((r) => new Date(r.exited || r.entered).getTime() - t0));
    const timeline = h("table", { id: "timeline" }, h("thead", {}, h("tr", {}, ["State", "Type", "Status", "Attempts", "Start", "Duration", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, [...tl.states.filter(() => iter === null), ...runs].map((r) => {
        const start = new Date(r.entered).getTime() - t0;
        const ms = r.durationNs / 1e6;
        return h("tr", { class: "clickable" + (r.name === v.state ? " selected" : ""), "data-state": r.name, onclick: () => go({ state: r.name }) },
          h("td", {}, r.name), h("td", {}, r.type), h("td", {}, badge(runClass(r), runClass(r))),
          h("td", {}, r.attempts ? `${r.attempts}` + (r.retries ? ` (${r.retries} retries)` : "") : ""),
          h("td", { class: "mono" }, "+" + fmtDur(start)), h("td", {}, fmtDur(ms)),
          h("td", { class: "barcell" }, h("div", { class: "bar" + (r.status === "failed" ? " failed" : ""), style: `margin-left:${(100 * start / total).toFixed(1)}%; width:${Math.max(0.5, 100 * ms / total).toFixed(1)}%` })));
      })));
    const run = runs.find((r) => r.name === v.state);
    const detail = run ? h("div", { class: "card", id: "state-detail" }, h("h2", {}, run.name, " ", badge(runClass(run), runClass(run))),
      run.failures && run.failures.length ? h("div", {}, run.failures.map((f, i) => h("div", { class: "error-box" }, h("b", {}, `attempt ${i + 1}: ${f.error}`), h("div", {}, causeText(f.cause))))) : null,
      h("h2", {}, "Input"), run.truncated ? h("p", { class: "muted" }, "truncated in the logs") : null,
      run.input ? jsonView(run.input, "input") : h("pre", {}, run.inputText || "(not recorded)"),
      h("h2", {}, "Output"), run.output ? jsonView(run.output, "output") : h("pre", {}, "(none)")) : null;
    return [failBox, iterTabs, h("div", { class: "cols" }, h("div", { class: "card" }, graphLegend(), svg), h("div", {}, h("div", { class: "scroll" }, timeline), detail))];
  }
  // eventsTab is the history as the AWS console lists it: each event with
  // its step and the time since the start, unfolding to its payloads.
  function eventsTab(x, v) {
    const t0 = x.startedAt ? new Date(x.startedAt).getTime() : (data.events[0] ? new Date(data.events[0].timestamp).getTime() : 0);
    const rows = [];
    // A task's events carry no state name: the step is the one the event
    // they follow (previousId) belongs to, as the AWS console shows it.
    const stepOf = new Map();
    for (const ev of data.events) {
      const prev = stepOf.get(ev.previousId) || {};
      stepOf.set(ev.id, { name: ev.name || prev.name || "", index: ev.index ?? prev.index });
    }
    for (const ev of data.events) {
      const step = stepOf.get(ev.id);
      const open = String(ev.id) === v.event;
      rows.push(h("tr", { class: "clickable" + (open ? " selected" : "") + (isFailureEvent(ev.type) ? " failed" : ""), "data-event": ev.id, "aria-expanded": open ? "true" : "false",
        onclick: () => go({ tab: "events", event: open ? "" : ev.id }) },
        h("td", {}, (open ? "▾ " : "▸ ") + ev.id), h("td", {}, ev.type),
        h("td", { class: "mono" }, step.name + (step.index !== undefined && step.index !== null ? ` [${step.index}]` : "")),
        h("td", { class: "mono" }, "+" + fmtDur(new Date(ev.timestamp).getTime() - t0)),
        h("td", { class: "mono" }, fmtTime(ev.timestamp))));
      if (open) {
        const parts = [];
        if (ev.error || ev.cause) parts.push(h("div", { class: "error-box" }, h("b", {}, ev.error || ""), h("div", {}, causeText(ev.cause))));
        for (const [k, label] of [["input", "Input"], ["parameters", "Parameters"], ["output", "Output"]]) {
          if (ev[k] !== undefined) parts.push(h("h3", {}, label), jsonView(ev[k], label));
        }
        if (ev.inputText) parts.push(h("h3", {}, "Input (truncated)"), h("pre", {}, ev.inputText));
        if (ev.outputText) parts.push(h("h3", {}, "Output (truncated)"), h("pre", {}, ev.outputText));
        if (ev.resource) parts.push(h("p", { class: "muted" }, `${ev.resourceType || "resource"}: ${ev.resource}`));
        if (!parts.length) parts.push(h("p", { class: "muted" }, "No details."));
        rows.push(h("tr", { class: "event-detail", "data-event-detail": ev.id }, h("td", { colspan: 5 }, parts)));
      }
    }
    return h("div", { class: "scroll" }, h("table", { id: "events" },
      h("thead", {}, h("tr", {}, ["ID", "Type", "Step", "Elapsed", "Timestamp (UTC)"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)));
  }
  let replayNotes = [];
  async function replay(failedOnly, retryPermanent) {
    const btns = [document.getElementById("replay-failed"), document.getElementById("replay-all")];
    btns.forEach((b) => { if (b) b.disabled = true; });
    try {
      const res = await post("/api/executions/" + encodeURIComponent(id) + "/replay", { failedOnly, retryPermanent: !!retryPermanent });
      replayNotes = res.results.map((r) => h("li", {}, `#${r.index} ${r.mailId || ""}: ${r.action}` + (r.newMessageId ? ` as ${r.newMessageId}` : "") + ` — ${r.note}`));
      // A permanent failure is skipped (it would fail again) until the
      // operator says its cause is fixed.
      if (res.results.some((r) => r.class === "permanent" && r.action === "skipped")) {
        replayNotes.push(h("li", {}, h("button", { id: "replay-anyway", class: "secondary", onclick: () => replay(failedOnly, true) }, "Cause fixed: replay the permanent failures anyway")));
      }
      const ul = document.getElementById("replay-result");
      if (ul) ul.replaceChildren(...replayNotes);
      toast(`Replay: ${res.results.filter((r) => r.action === "enqueued").length} item(s) re-enqueued`);
    } catch (e) { toast("Replay failed: " + e.message); }
    btns.forEach((b) => { if (b) b.disabled = false; });
  }
  current = { page: "execution", id, path, refresh: load, onParams: (np) => { p = np; if (data) render(); } };
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

const dlqFilterNames = [["error", "Error name", "Mail.InvalidMessage"], ["reason", "Reason contains", "not verified"],
  ["olderThan", "Older than", "24h"], ["mailId", "Mail id", "mailId"], ["recipientDomain", "Recipient domain", "example.com"]];

// recipientsOf reads a queue body's addresses leniently: a dead letter is
// often a message that failed validation.
function recipientsOf(body) {
  try {
    const m = JSON.parse(body);
    return ["to", "cc", "bcc"].flatMap((k) => Array.isArray(m[k]) ? m[k].map(String) : []);
  } catch (e) { return []; }
}

async function showDLQ(path, params) {
  const body = h("tbody");
  const form = h("form", { class: "filters", id: "dlq-filters", onsubmit: (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    setParams(Object.fromEntries(dlqFilterNames.map(([k]) => [k, fd.get(k).trim()])));
  } }, dlqFilterNames.map(([k, label, ph]) => h("label", {}, label, h("input", { name: k, placeholder: ph }))),
  h("button", { type: "submit" }, "Filter"), h("button", { type: "button", class: "secondary", onclick: () => setParams({}) }, "Clear"));
  const btn = h("button", { id: "redrive", onclick: () => redrive(false) }, "Redrive all to the source queue");
  const selBtn = h("button", { id: "redrive-selected", class: "secondary", disabled: true, onclick: () => redrive(true) }, "Redrive selected");
  const purgeBtn = h("button", { id: "purge", class: "danger", onclick: purge }, "Purge all");
  const summary = h("p", { id: "dlq-summary", class: "muted" });
  const result = h("div", { id: "dlq-result", role: "status" });
  const confirmBox = h("div", { id: "dlq-confirm", hidden: true });
  const all = h("input", { type: "checkbox", id: "dlq-select-all", "aria-label": "select all shown", onchange: () => {
    body.querySelectorAll("input.pick").forEach((c) => { c.checked = all.checked; });
    picked();
  } });
  setMain(h("h1", {}, "Dead-letter queue"), form,
    h("div", { class: "filters" }, btn, selBtn, purgeBtn, h("span", { id: "redrive-progress", class: "muted" })),
    confirmBox, result, summary,
    h("div", { class: "scroll" }, h("table", { id: "dlq" }, h("thead", {}, h("tr", {}, h("th", {}, all),
      ["Message", "Mail id", "Recipients", "Error", "Reason", "Age", "Execution", ""].map((t) => h("th", {}, t)))), body)));
  let f = {};
  const filtered = () => Object.values(f).some((v) => v);
  function picked() {
    const ids = [...body.querySelectorAll("input.pick:checked")].map((c) => c.value);
    selBtn.disabled = !ids.length || busy;
    selBtn.textContent = ids.length ? `Redrive ${ids.length} selected` : "Redrive selected";
    return ids;
  }
  function apply(p) {
    f = {};
    for (const [k] of dlqFilterNames) { f[k] = p.get(k) || ""; form.elements[k].value = f[k]; }
    btn.textContent = filtered() ? "Redrive the matching messages" : "Redrive all to the source queue";
    purgeBtn.textContent = filtered() ? "Purge the matching messages" : "Purge all";
    load();
  }
  async function load() {
    const q = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    let res;
    try { res = await api("/api/dlq?" + q); } catch (e) { summary.textContent = ""; result.replaceChildren(h("p", { class: "error-box" }, e.message)); body.replaceChildren(); return; }
    const now = new Date(res.now).getTime();
    all.checked = false;
    body.replaceChildren(...res.messages.flatMap((m) => {
      const name = m.executionId ? m.executionId.split(":")[7] : "";
      const rcpt = recipientsOf(m.body);
      return [h("tr", { "data-message": m.messageId },
        h("td", {}, h("input", { type: "checkbox", class: "pick", value: m.messageId, "aria-label": "select " + m.messageId, disabled: !res.selective, onchange: picked })),
        h("td", { class: "mono wrap" }, m.messageId), h("td", { class: "mono" }, m.mailId || "-"),
        h("td", { class: "mono wrap recipients" }, rcpt.length ? rcpt.join(", ") : "-"),
        h("td", {}, badge(m.error || "unknown", "bad")), h("td", { class: "wrap" }, m.cause || "", m.reasonFrom ? h("div", { class: "muted" }, "from " + m.reasonFrom) : null),
        h("td", { class: "age", title: fmtTime(m.sentAt) + " UTC" }, m.sentAt ? fmtAge(now - new Date(m.sentAt).getTime()) : "-"),
        h("td", { class: "mono" }, name ? h("a", { href: "#/x/" + encodeURIComponent(name) }, name) : "-"),
        h("td", {}, h("button", { class: "small secondary delete", disabled: !res.selective, onclick: () => remove(m) }, "Delete"))),
      h("tr", { class: "dlq-body", "data-body-of": m.messageId }, h("td", {}), h("td", { colspan: 8 },
        h("details", {}, h("summary", {}, "Body"), jsonView(m.body, "body"))))];
    }));
    if (!res.messages.length) body.append(h("tr", {}, h("td", { colspan: 9, class: "muted", id: "dlq-empty" }, filtered() ? "No message matches the filters." : "The dead-letter queue is empty.")));
    summary.textContent = filtered() ? `${res.messages.length} message(s) match, of ${res.scanned} read` + (res.more ? " (more follow: narrow the filters)" : "")
      : `${res.messages.length} message(s)` + (res.more ? " shown; more follow: narrow the filters" : "");
    btn.disabled = !res.messages.length || busy;
    purgeBtn.disabled = !res.messages.length || !res.selective || busy;
    if (!res.selective) purgeBtn.title = "needs the local queue store";
    picked();
  }
  // ask shows a confirmation in the page and resolves with the answer.
  function ask(text) {
    return new Promise((resolve) => {
      const done = (yes) => { confirmBox.hidden = true; confirmBox.replaceChildren(); resolve(yes); };
      confirmBox.replaceChildren(h("div", { class: "error-box" }, h("p", { id: "dlq-confirm-text" }, text),
        h("div", { class: "actions" }, h("button", { id: "dlq-confirm-yes", class: "danger", onclick: () => done(true) }, "Yes, go ahead"),
          h("button", { id: "dlq-confirm-no", class: "secondary", onclick: () => done(false) }, "Cancel"))));
      confirmBox.hidden = false;
    });
  }
  const say = (text, bad) => result.replaceChildren(h("p", { class: bad ? "error-box" : "card", id: "dlq-result-text" }, text));
  let busy = false; // a listing hides messages from a running move task: none during a redrive
  async function run(what, fn) {
    busy = true;
    [btn, selBtn, purgeBtn].forEach((b) => { b.disabled = true; });
    try { await fn(); } catch (e) { say(`${what} failed: ${e.message}`, true); }
    busy = false;
    load(); refreshDepths();
  }
  function redrive(selected) {
    const progress = document.getElementById("redrive-progress");
    return run("Redrive", async () => {
      if (selected) {
        const res = await post("/api/dlq/redrive", { messageIds: picked() });
        say(`Redrive: moved ${res.done.length} selected message(s) to the source queue, kept ${res.kept}.`);
      } else if (filtered()) {
        const res = await post("/api/dlq/redrive", { filter: f });
        say(`Redrive: moved ${res.done.length} matching message(s) to the source queue, kept ${res.kept}.`);
      } else {
        progress.textContent = "redriving…";
        const st = await post("/api/dlq/redrive", {});
        progress.textContent = `${st.status}: ${st.moved} message(s) moved`;
        say(`Redrive: ${st.moved} message(s) moved to the source queue (${st.status.toLowerCase()}).`);
      }
    });
  }
  async function purge() {
    let count;
    try { count = await post("/api/dlq/purge", { filter: f, dryRun: true }); } catch (e) { say("Purge failed: " + e.message, true); return; }
    const n = count.done.length;
    if (!(await ask(filtered() ? `Delete the ${n} matching message(s) for good? ${count.kept} other(s) stay.` : `Delete all ${n} message(s) of the dead-letter queue for good?`))) { say("Purge cancelled: nothing deleted."); return; }
    await run("Purge", async () => {
      const res = await post("/api/dlq/purge", { filter: f });
      say(`Purge: deleted ${res.done.length} message(s), kept ${res.kept}.`);
    });
  }
  async function remove(m) {
    if (!(await ask(`Delete message ${m.messageId}` + (m.mailId ? ` (mail ${m.mailId})` : "") + " for good?"))) return;
    await run("Delete", async () => {
      await post("/api/dlq/delete", { messageId: m.messageId });
      say(`Deleted message ${m.messageId}.`);
    });
  }
  current = { page: "dlq", path, onParams: apply, refresh: () => { if (!busy && confirmBox.hidden) load(); } };
  apply(params);
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
