// One function per page (the directory's are in directory.js). Each asks the admin API for what it
// shows — at most three requests per view — and lists page through the API's own cursors.
import { api, go, h, session } from "./app.js";
import { bars } from "./chart.js";
import { keys, teams, tenants, users } from "./directory.js";
import { counterSum, histograms, percentile } from "./metrics.js";
import { PAGE_SIZE, count, ms, pager, table, usd, when } from "./widgets.js";

async function overview(body) {
  const now = Math.floor(Date.now() / 1000);
  const [series, metrics] = await Promise.all([
    api(`/admin/spend?group_by=hour&from=${now - 24 * 3600}&limit=24`).catch((e) => ({ error: e })),
    session.readsGateway() ? api("/metrics").catch((e) => ({ error: e })) : Promise.resolve({ error: null }),
  ]);
  if (series.error) body.append(h("p.notice", {}, `Spend records: ${series.error.message}`));
  else {
    const total = series.total;
    body.append(h("div.stats", { id: "totals" },
      [["requests (24 h)", count(total.requests)], ["errors", count(total.errors)],
       ["tokens", count(total.prompt_tokens + total.completion_tokens)], ["cost", usd(total.cost_usd)]]
        .map(([label, value]) => h("div.stat", {}, h("b", {}, value), h("span", {}, label)))));
    const points = (field) => series.data.map((row) => ({ label: new Date(row.hour * 1000).toISOString().slice(11, 16),
                                                          value: row[field] }));
    body.append(h("div.grid", {},
      h("div.card", {}, h("h2", {}, "Traffic per hour"), bars(points("requests"), { format: count, title: "requests" })),
      h("div.card", {}, h("h2", {}, "Errors per hour"), bars(points("errors"), { format: count, kind: "bad", title: "errors" })),
      h("div.card", {}, h("h2", {}, "Cost per hour"), bars(points("cost_usd"), { format: usd, kind: "cost", title: "cost" }))));
  }
  if (typeof metrics === "string") {
    const latency = histograms(metrics, "switchyard_request_duration_seconds");
    const rows = Object.entries(latency).map(([alias, buckets]) => ({
      alias, count: buckets.length ? buckets[buckets.length - 1][1] : 0,
      p50: percentile(buckets, 0.5), p95: percentile(buckets, 0.95), p99: percentile(buckets, 0.99) }));
    body.append(h("div.card", {}, h("h2", {}, "Latency percentiles since start (bucket bounds)"),
      bars(rows.flatMap((r) => [["p50", r.p50], ["p95", r.p95], ["p99", r.p99]].map(([q, v]) =>
        ({ label: `${r.alias} ${q}`, value: v || 0 }))), { format: ms, title: "latency" }),
      table([{ title: "alias", cell: (r) => r.alias }, { title: "requests", num: true, cell: (r) => count(r.count) },
             { title: "p50 ≤", num: true, cell: (r) => ms(r.p50) }, { title: "p95 ≤", num: true, cell: (r) => ms(r.p95) },
             { title: "p99 ≤", num: true, cell: (r) => ms(r.p99) }], rows, "latency")));
  } else if (metrics.error) {
    body.append(h("p.notice", {}, `Latency: ${metrics.error.message}`));
  }
}

// -- spend explorer -------------------------------------------------------------------------------
const GROUPS = ["key", "team", "tenant", "user", "alias", "model", "deployment", "provider", "day", "hour"];
const FIGURES = ["requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd"];

function csv(rows, columns) {
  const cell = (v) => (v == null ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

async function spend(body, params) {
  const groupBy = params.get("group_by") || "key";
  const filters = h("form.inline", { id: "spend-form", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    go("spend", { group_by: data.get("group_by"), from: data.get("from"), to: data.get("to") });
  } },
    h("label", {}, "group by", h("select", { name: "group_by" }, GROUPS.map((g) =>
      h("option", { value: g, selected: g === groupBy }, g)))),
    h("label", {}, "from", h("input", { name: "from", type: "date", value: params.get("from") || "" })),
    h("label", {}, "to", h("input", { name: "to", type: "date", value: params.get("to") || "" })),
    h("button", { type: "submit" }, "Show"));
  body.append(filters);
  const query = new URLSearchParams({ group_by: groupBy, limit: 500 });
  if (params.get("from")) query.set("from", `${params.get("from")}T00:00:00Z`);
  if (params.get("to")) query.set("to", `${params.get("to")}T00:00:00Z`);
  const report = await api(`/admin/spend?${query}`);
  const time = groupBy === "day" || groupBy === "hour";
  const label = (row) => (time ? when(row[groupBy]) : row[groupBy] ?? "(none)");
  const columns = [groupBy, ...FIGURES];
  body.append(
    h("p", {}, h("button.quiet", { id: "export", onclick: () => {
      const link = h("a", { href: URL.createObjectURL(new Blob([csv(report.data, columns)], { type: "text/csv" })),
                            download: `spend-by-${groupBy}.csv` });
      link.click();
      URL.revokeObjectURL(link.href);
    } }, "Export CSV"), " ", h("span.muted", {}, `total ${usd(report.total.cost_usd)} over ${count(report.total.requests)} requests`)),
    h("div.card", {}, bars(report.data.slice(0, 40).map((r) => ({ label: String(label(r)).slice(0, 16), value: r.cost_usd })),
                           { format: usd, kind: "cost", title: "cost" })),
    table([{ title: groupBy, cell: label }, ...FIGURES.map((f) => ({ title: f.replace("_", " "), num: true,
      cell: (r) => (f === "cost_usd" ? usd(r[f]) : count(r[f])) }))], report.data, "spend-table"));
}

// -- deployments and health -----------------------------------------------------------------------
async function deployments(body) {
  const [detail, slo] = await Promise.all([api("/admin/deployments"), api("/admin/slo").catch((e) => ({ error: e }))]);
  body.append(table([
    { title: "deployment", cell: (d) => d.id }, { title: "alias", cell: (d) => d.alias },
    { title: "provider / model", cell: (d) => `${d.provider} / ${d.model}` }, { title: "region", cell: (d) => d.region || "" },
    { title: "available", cell: (d) => h("span", { class: d.available ? "ok" : "bad" }, d.available ? "yes" : "no") },
    { title: "breaker", cell: (d) => (d.breaker ? h("span", { class: `state-${d.breaker.state}` }, d.breaker.state) : "off") },
    { title: "latency", num: true, cell: (d) => (d.latency_ms == null ? "–" : `${d.latency_ms.toFixed(1)} ms`) },
    { title: "ok / failed", num: true, cell: (d) => `${count(d.successes)} / ${count(d.failures)}` },
  ], detail.deployments, "deployments-table"));
  body.append(h("h2", {}, "Service level objectives"));
  if (slo.error) body.append(h("p.muted", {}, slo.error.message));
  else body.append(table([
    { title: "objective", cell: (o) => o.name }, { title: "state", cell: (o) => h("span", { class: o.state === "ok" ? "ok" : o.state === "no_data" ? "muted" : "bad" }, o.state) },
    { title: "value", num: true, cell: (o) => (o.value == null ? "–" : o.value.toFixed(4)) },
    { title: "target", num: true, cell: (o) => o.target }, { title: "budget left", num: true, cell: (o) => `${((o.budget_remaining ?? 0) * 100).toFixed(1)} %` },
    { title: "events", num: true, cell: (o) => count(o.events) },
  ], slo.objectives, "slo-table"));
}

// -- caches ---------------------------------------------------------------------------------------
async function cache(body) {
  const [metrics, semantic] = await Promise.all([api("/metrics").catch((e) => ({ error: e })),
                                                 api("/admin/cache/semantic?limit=50").catch((e) => ({ error: e }))]);
  body.append(h("h2", {}, "Response cache"));
  if (typeof metrics === "string") {
    const hits = counterSum(metrics, "switchyard_cache_requests_total", { result: "hit" });
    const lookups = counterSum(metrics, "switchyard_cache_requests_total");
    body.append(h("div.stats", { id: "cache-stats" },
      [["lookups", count(lookups)], ["hits", count(hits)], ["hit rate", lookups ? `${((hits / lookups) * 100).toFixed(1)} %` : "–"],
       ["saved", usd(counterSum(metrics, "switchyard_cache_saved_usd_total"))]]
        .map(([label, value]) => h("div.stat", {}, h("b", {}, value), h("span", {}, label)))));
  } else body.append(h("p.muted", {}, `Figures need metrics.enabled: ${metrics.error.message}`));
  body.append(h("h2", {}, "Semantic cache"));
  if (semantic.error) { body.append(h("p.muted", {}, semantic.error.message)); return; }
  body.append(h("p.muted", {}, `${count(semantic.entries)} of ${count(semantic.max_entries)} entries · embedder ${semantic.embedder}` +
                                (semantic.shared ? " · shared by every replica" : "")));
  body.append(table([
    { title: "partition", cell: (p) => p.partition }, { title: "alias", cell: (p) => p.alias },
    { title: "entries", num: true, cell: (p) => count(p.entries) }, { title: "hits", num: true, cell: (p) => count(p.hits) },
    { title: "", cell: (p) => (["owner", "admin"].includes(session.who.role)
      ? h("button.danger", { class: "danger purge", onclick: async () => {
        if (!confirm(`Purge ${p.partition} / ${p.alias}?`)) return;
        await api(`/admin/cache/semantic?${new URLSearchParams({ partition: p.partition, alias: p.alias })}`, { method: "DELETE" });
        go("cache", { at: Date.now() });
      } }, "Purge") : "") },
  ], semantic.groups, "semantic-table"));
}

// -- guardrails (the audit log's guard entries) ---------------------------------------------------
async function guard(body, params) {
  const query = new URLSearchParams({ kind: "guard", limit: PAGE_SIZE });
  if (params.get("after")) query.set("after", params.get("after"));
  const page = await api(`/admin/audit?${query}`);
  const findings = (entry) => Object.entries(entry.detail?.detections || {}).flatMap(([direction, categories]) =>
    Object.entries(categories).map(([category, actions]) =>
      `${direction} ${category}: ${Object.entries(actions).map(([a, n]) => `${a} ×${n}`).join(", ")}`)).join("; ");
  body.append(table([
    { title: "when", cell: (e) => when(e.at) }, { title: "action", cell: (e) => e.action }, { title: "alias", cell: (e) => e.target },
    { title: "by", cell: (e) => e.actor }, { title: "policy", cell: (e) => e.detail?.policy || "" }, { title: "found", cell: findings },
  ], page.data, "guard-table"),
  pager("guard", params, { has_more: page.next_after != null, last_id: page.next_after }));
}

// -- batches --------------------------------------------------------------------------------------
async function download(fileId, name) {
  const response = await api(`/v1/files/${fileId}/content`, { raw: true });
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: name });
  link.click();
  URL.revokeObjectURL(link.href);
}

async function batches(body, params) {
  const query = new URLSearchParams({ limit: PAGE_SIZE });
  if (params.get("after")) query.set("after", params.get("after"));
  const page = await api(`/v1/batches?${query}`);
  body.append(table([
    { title: "batch", cell: (b) => b.id }, { title: "status", cell: (b) => b.status }, { title: "endpoint", cell: (b) => b.endpoint },
    { title: "progress", cell: (b) => {
      const c = b.request_counts || {}, done = (c.completed || 0) + (c.failed || 0);
      return h("span", {}, h("span.progress", { title: `${done} / ${c.total || 0}` },
        h("i", { style: null, dataset: { share: c.total ? done / c.total : 0 } })), ` ${done} / ${c.total || 0}` +
        (c.failed ? ` (${c.failed} failed)` : ""));
    } },
    { title: "created", cell: (b) => when(b.created_at) },
    { title: "", cell: (b) => h("span", {},
      b.output_file_id ? h("button.quiet", { onclick: () => download(b.output_file_id, `${b.id}-output.jsonl`) }, "Output") : "", " ",
      b.error_file_id ? h("button.quiet", { onclick: () => download(b.error_file_id, `${b.id}-errors.jsonl`) }, "Errors") : "") },
  ], page.data, "batches-table"), pager("batches", params, page));
  // widths set through the DOM (the style policy allows no inline style attributes)
  for (const bar of body.querySelectorAll(".progress i")) bar.style.width = `${Number(bar.dataset.share) * 100}%`;
}

// -- flows and agent runs -------------------------------------------------------------------------
// An agent run on the flows engine is the flow "agent:<name>": its model and tool calls are steps.
const clip = (value, most = 160) => {
  const text = value == null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return text.length > most ? `${text.slice(0, most)}…` : text;
};
const stats = (id, pairs) => h("div.stats", { id }, pairs.map(([label, value]) =>
  h("div.stat", {}, h("b", {}, value), h("span", {}, label))));

async function flows(body, params) {
  const run = params.get("run");
  if (run) return flowRun(body, run);
  const page = await api(`/admin/flows/runs?limit=${PAGE_SIZE}`);
  body.append(h("p.muted", {}, "The latest runs of durable flows (an agent run on the flows engine is the flow agent:<name>)."),
    table([
      { title: "run", cell: (r) => h("a", { href: `#/flows?run=${encodeURIComponent(r.run_id)}` }, r.run_id) },
      { title: "flow", cell: (r) => r.flow }, { title: "status", cell: (r) => r.status },
      { title: "started", cell: (r) => when(r.created_ms / 1000) },
      { title: "model calls", num: true, cell: (r) => count(r.outcome?.totals?.model_calls) },
      { title: "tokens", num: true, cell: (r) => count(r.outcome?.totals?.tokens) },
      { title: "cost", num: true, cell: (r) => usd(r.outcome?.totals?.usd) },
    ], page.data.map((r) => ({ ...r, id: r.run_id })), "flows-table"));
}

async function flowRun(body, runId) {
  const id = encodeURIComponent(runId);
  const [status, journal] = await Promise.all([api(`/admin/flows/runs/${id}`), api(`/admin/flows/journal/${id}`)]);
  const totals = status.outcome?.totals || {};
  const result = (step) => (step.output && typeof step.output === "object" && "value" in step.output
    ? step.output.value : step.output);  // a step's journaled value (beside what it used)
  const lastPrompt = (step) => {
    const messages = result(step)?.request?.messages;
    return messages ? clip(messages[messages.length - 1]?.content) : "";
  };
  body.append(h("p", {}, h("a", { href: "#/flows" }, "← all runs")),
    stats("run-totals", [["status", status.status], ["flow", status.flow], ["model calls", count(totals.model_calls)],
                         ["tokens", count(totals.tokens)], ["cost", usd(totals.usd)]]),
    table([
      { title: "#", num: true, cell: (s) => s.step }, { title: "step", cell: (s) => s.name },
      { title: "time", num: true, cell: (s) => (s.finished_ms && s.started_ms ? ms((s.finished_ms - s.started_ms) / 1000) : "") },
      { title: "prompt", cell: lastPrompt },
      { title: "answer or result", cell: (s) => (s.error ? h("span.bad", {}, clip(s.error))
        : result(s)?.response ? clip(result(s).response.choices?.[0]?.message?.content) : clip(result(s))) },
      { title: "cost", num: true, cell: (s) => (result(s)?.usd != null ? usd(result(s).usd) : "") },
    ], journal.data.filter((s) => !s.name.startsWith("DBOS.")), "journal-table"));  // the engine's own bookkeeping
}

// -- MCP ------------------------------------------------------------------------------------------
async function mcp(body) {
  const data = await api("/admin/mcp");
  body.append(table([
    { title: "server", cell: (s) => s.name },
    { title: "connected", cell: (s) => h("span", { class: s.connected ? "ok" : "bad" }, s.connected ? "yes" : `no ${s.error || ""}`) },
    { title: "tools", cell: (s) => s.tools.join(", ") },
  ], data.servers, "mcp-table"));
  const access = data.access;
  const rules = [["every key", access.default], ...Object.entries(access.keys).map(([k, v]) => [`key ${k}`, v]),
    ...Object.entries(access.teams).map(([k, v]) => [`team ${k}`, v]), ...Object.entries(access.tags).map(([k, v]) => [`tag ${k}`, v])];
  body.append(h("h2", {}, "Tool permissions"), table([{ title: "who", cell: (r) => r[0] }, { title: "tools", cell: (r) => r[1].join(", ") || "none" }],
    rules, "mcp-access"), h("h2", {}, "Tool rate limits"),
  table([{ title: "tools", cell: (l) => l.tool }, { title: "rpm", num: true, cell: (l) => l.rpm }, { title: "per", cell: (l) => l.per }],
    data.rate_limits, "mcp-limits"));
}

// -- playground -----------------------------------------------------------------------------------
async function playground(body) {
  const models = await api("/v1/models");
  const prompt = h("textarea", { id: "prompt", placeholder: "Say something to the model" });
  const answer = h("pre", { id: "answer" });
  const choice = h("select", { id: "model" }, models.data.map((m) => h("option", { value: m.id }, m.id)));
  body.append(h("form.card", { id: "playground-form", onsubmit: async (event) => {
    event.preventDefault();
    answer.textContent = "…";
    const started = performance.now();
    try {
      const reply = await api("/v1/chat/completions", { method: "POST",
        body: { model: choice.value, messages: [{ role: "user", content: prompt.value }] } });
      const u = reply.usage || {};
      answer.textContent = `${reply.choices[0].message.content}\n\n— ${reply.model}, ${u.prompt_tokens} + ${u.completion_tokens} tokens, ` +
        `${Math.round(performance.now() - started)} ms`;
    } catch (error) { answer.textContent = `error: ${error.message}`; }
  } }, h("label", {}, "model", choice), h("label", {}, "message", prompt), h("p", {}, h("button", { type: "submit", id: "send" }, "Send"))),
  answer);
}

// gateway: true — pages that read the gateway's own state (owner, admin, viewer only).
export const PAGES = [
  { path: "overview", title: "Overview", render: overview },
  { path: "keys", title: "Keys", render: keys },
  { path: "teams", title: "Teams", render: teams },
  { path: "tenants", title: "Tenants", render: tenants },
  { path: "users", title: "Users", render: users },
  { path: "spend", title: "Spend", render: spend },
  { path: "deployments", title: "Deployments", render: deployments, gateway: true },
  { path: "cache", title: "Cache", render: cache, gateway: true },
  { path: "guard", title: "Guardrails", render: guard, gateway: true },
  { path: "batches", title: "Batches", render: batches },
  { path: "flows", title: "Flows & agents", render: flows, gateway: true },
  { path: "mcp", title: "MCP", render: mcp, gateway: true },
  { path: "playground", title: "Playground", render: playground },
];
