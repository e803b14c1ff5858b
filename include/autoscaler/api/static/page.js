// The autoscaler page: five views over the plugin's REST API, with the same Airflow session.
// Charts are ECharts (served from the package). Every number comes from the API; the page only
// formats it. Each chart keeps the points the API returned, one for one (the browser test counts).
"use strict";

const API = document.body.dataset.api;
const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const state = {accounts: [], currency: "USD", sort: "spend", order: "desc", entityPage: 1, actionsPage: 1, entity: null, charts: {}, clockSkew: 0, approvals: []};

// ---- formatting ------------------------------------------------------------------------------

function money(value, currency = state.currency, signed = false) {
  if (value == null || value === "") return "–";
  const formatted = new Intl.NumberFormat("en", {style: "currency", currency, currencyDisplay: "code", signDisplay: signed ? "exceptZero" : "auto"}).format(Number(value));
  return formatted.replace(/\u00a0/g, " ");
}
const roas = (v) => v == null ? "–" : `${Number(v).toFixed(2)}x`;
const pct = (v) => v == null ? "–" : `${v > 0 ? "+" : ""}${Number(v).toFixed(1)}%`;
const when = (t) => t ? new Date(t).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "";
const day = (t) => new Date(t).toISOString().slice(0, 10);
const change = (a) => a.status_after === "PAUSED" ? "pause" : a.status_after === "ACTIVE" && a.action_type === "resume" ? "resume" : a.action_type;
function holderName(r) {
  const campaign = r.campaign_name || (r.level === "adset" || r.entity_level === "adset" ? `campaign ${r.campaign_id}` : "");
  const own = r.name || r.entity_name || r.entity_id;
  const label = campaign && campaign !== own ? `<span class="campaign">${esc(campaign)} › </span>${esc(own)}` : esc(own);
  return `<span class="name">${label}</span><div class="ids">${esc(r.entity_id)}</div>`;
}

function banner(text, kind) { const b = $("#banner"); b.textContent = text; b.className = kind; }

async function api(path, options = {}) {
  const response = await fetch(API + path, {credentials: "same-origin", headers: {"Content-Type": "application/json"}, ...options});
  if (response.status === 401) { window.top.location.href = "/auth/login/?next=" + encodeURIComponent(window.top.location.href); throw new Error("not logged in"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const detail = Array.isArray(body?.detail) ? body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ") : body?.detail;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, v);
  return q.toString();
}

// ---- theme: follow the Airflow UI around the page --------------------------------------------

function parentTheme() {
  try {  // same origin: the Airflow UI sets class "dark" or "light" on its <html> (next-themes)
    const classes = window.parent !== window ? window.parent.document.documentElement.classList : null;
    if (classes?.contains("dark")) return "dark";
    if (classes?.contains("light")) return "light";
  } catch (e) { /* not embedded, or not reachable: fall through */ }
  const stored = localStorage.getItem("theme");  // Airflow's stored choice: light, dark or system
  if (stored === "dark" || stored === "light") return stored;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme() {
  const theme = parentTheme();
  if (document.documentElement.dataset.theme === theme) return;
  document.documentElement.dataset.theme = theme;
  for (const id of Object.keys(state.charts)) { state.charts[id].dispose(); delete state.charts[id]; }
  if (document.body.dataset.ready === "true") render();
}

function chart(id) {
  const el = document.getElementById(id);
  if (!state.charts[id]) state.charts[id] = echarts.init(el, document.documentElement.dataset.theme === "dark" ? "dark" : null, {renderer: "canvas"});
  return state.charts[id];
}
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
function base() {
  return {
    backgroundColor: "transparent",
    textStyle: {fontFamily: "Inter, -apple-system, 'Segoe UI', Roboto, sans-serif"},
    grid: {left: 72, right: 64, top: 40, bottom: 48},
    tooltip: {trigger: "axis", confine: true},
    legend: {top: 0, textStyle: {color: cssVar("--muted")}},
  };
}
window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));

// ---- account, window, kill switch ------------------------------------------------------------

const account = () => $("#account").value;

async function loadAccounts() {
  state.accounts = await api("/accounts");
  $("#account").innerHTML = state.accounts.map((a) => `<option value="${esc(a.account_id)}">${esc(a.name || a.account_id)} · ${esc(a.account_id)} (${esc(a.currency)})</option>`).join("");
}

function windowParams() { return {start_date: $("#start").value, end_date: $("#end").value}; }

function renderSwitch(overview) {
  const on = overview.switches.filter((s) => s.paused);
  const last = overview.switches[0];
  $("#switch").innerHTML = overview.variable_paused
    ? `<span class="paused" id="switch-state">Paused by the Airflow Variable kill switch (every account): decisions are simulated, nothing is written to Meta</span>`
    : on.length
    ? `<span class="paused" id="switch-state">Paused by ${esc(on[0].changed_by)} at ${when(on[0].changed_at)} (${esc(on[0].scope)}: ${esc(on[0].reason)}): decisions are simulated, nothing is written to Meta</span>`
    : `<span id="switch-state">Running live${last ? ` <span class="muted small">(last resumed by ${esc(last.changed_by)} at ${when(last.changed_at)})</span>` : ""}</span>`;
}

// ---- overview --------------------------------------------------------------------------------

async function loadOverview() {
  const o = await api(`/overview?${query({account_id: account(), ...windowParams()})}`);
  state.currency = o.account.currency;
  const platform = $("#platform");
  platform.hidden = !o.account.platform; platform.textContent = o.account.platform || "";
  if (!$("#start").value) { $("#start").value = day(o.period_start); $("#end").value = day(new Date(o.period_end).getTime() - 1); }
  renderSwitch(o);
  const live = o.live;
  const kpis = [
    ["Spend", money(o.spend)], ["Revenue tracked", money(o.revenue_tracked)],
    ["Revenue − ad spend", `<span class="${Number(o.profit) >= 0 ? "up" : "down"}">${money(o.profit, undefined, true)}</span>`], ["Average ROAS", roas(o.avg_roas)],
    ["Live actions", live.total_actions], ["Execution rate", `${(100 * live.execution_rate).toFixed(1)}%`],
    ["Budget increase", `<span class="up">${money(live.budget_increase)}</span>`], ["Budget decrease", `<span class="down">${money(live.budget_decrease)}</span>`],
    ["Net budget change", money(live.budget_net, undefined, true)],
  ];
  $("#kpis").innerHTML = kpis.map(([label, value]) => `<div class="kpi"><div class="label">${label}</div><div class="value">${value}</div></div>`).join("");
  const types = Object.entries(live.action_breakdown);
  $("#by-type tbody").innerHTML = types.length ? types.map(([t, n]) => `<tr><td>${esc(t)}</td><td class="num">${n}</td></tr>`).join("") : `<tr><td class="muted">No live actions in this window.</td></tr>`;
  $("#split tbody").innerHTML = [live, ...o.shadow].map((f) => `<tr data-kind="${esc(f.kind)}"><td>${esc(f.kind === "live" ? "live (written to Meta)" : `shadow: ${f.kind} (would have)`)}</td><td class="num">${f.total_actions}</td><td class="num">${f.executed}</td><td class="num">${f.pending}</td><td class="num">${money(f.budget_increase)}</td><td class="num">${money(f.budget_decrease)}</td><td class="num">${money(f.budget_net, undefined, true)}</td></tr>`).join("");
  state.overview = o;
  drawOverview(o);
}

function drawOverview(o) {
  const days = o.days.map((d) => d.day);
  const acted = o.days.map((d) => Object.values(d.actions).reduce((a, b) => a + b, 0));
  const c = chart("overview-chart");
  c.setOption({
    ...base(),
    tooltip: {trigger: "axis", confine: true, formatter: (ps) => {
      const d = o.days[ps[0].dataIndex];
      const acts = Object.entries(d.actions).map(([t, n]) => `${esc(t)} ${n}`).join(", ");
      return `<b>${esc(d.day)}</b><br>spend ${money(d.spend)}<br>revenue ${money(d.revenue)}<br>profit ${money(d.profit, undefined, true)}<br>ROAS ${roas(d.roas)}<br>live actions: ${acts || "none"}${d.shadow_actions ? `<br>shadow decisions: ${d.shadow_actions}` : ""}`;
    }},
    xAxis: {type: "category", data: days},
    yAxis: [{type: "value", name: state.currency, nameLocation: "middle", nameGap: 56, axisLabel: {formatter: (v) => v.toLocaleString("en")}},
            {type: "value", name: "ROAS", nameLocation: "middle", nameGap: 40, splitLine: {show: false}, axisLabel: {formatter: (v) => `${v}x`}}],
    series: [
      {name: "Spend", type: "bar", data: o.days.map((d) => Number(d.spend)), itemStyle: {color: "#94a3b8"}},
      {name: "Revenue", type: "bar", data: o.days.map((d) => Number(d.revenue)), itemStyle: {color: "#2563eb"}},
      {name: "Revenue − ad spend", type: "line", data: o.days.map((d) => Number(d.profit)), itemStyle: {color: "#16a34a"}},
      {name: "ROAS", type: "line", yAxisIndex: 1, data: o.days.map((d) => d.roas), itemStyle: {color: "#f59e0b"}, lineStyle: {type: "dashed"}},
      {name: "Actions", type: "scatter", yAxisIndex: 1, symbol: "pin", symbolSize: (v, p) => 14 + Math.min(16, acted[p.dataIndex]),
       data: o.days.map((d, i) => acted[i] ? [d.day, 0, acted[i]] : null).filter(Boolean), itemStyle: {color: "#7c3aed"}},
    ],
  }, true);
}

// ---- entity table ----------------------------------------------------------------------------

function spark(points) {
  const budgets = points.map((p) => p.budget == null ? null : Number(p.budget));
  const ratios = points.map((p) => p.roas);
  const W = 120, H = 28, n = Math.max(1, points.length - 1);
  const known = budgets.filter((v) => v != null), r = ratios.filter((v) => v != null);
  const [b0, b1] = [Math.min(...known), Math.max(...known)], [r0, r1] = [Math.min(...r), Math.max(...r)];
  const y = (v, lo, hi) => (H - 3 - (H - 6) * (hi > lo ? (v - lo) / (hi - lo) : 0.5)).toFixed(1);
  const line = budgets.map((v, i) => v == null ? "" : `${(W * i / n).toFixed(1)},${y(v, b0, b1)}`).filter(Boolean).join(" ");
  const dots = ratios.map((v, i) => v == null ? "" : `<circle cx="${(W * i / n).toFixed(1)}" cy="${y(v, r0, r1)}" r="1.6" fill="#f59e0b"/>`).join("");
  const title = points.map((p) => `${p.day}: ${money(p.budget)} · ${roas(p.roas)}`).join("\n");
  return `<svg class="spark" width="${W}" height="${H}" data-points="${points.length}"><title>${esc(title)}</title>${line ? `<polyline points="${line}" fill="none" stroke="#2563eb" stroke-width="1.5"/>` : ""}${dots}</svg>`;
}

async function loadEntities() {
  const params = {account_id: account(), ...windowParams(), q: $("#entity-q").value.trim(), status: $("#entity-status").value, sort: state.sort, order: state.order, page: state.entityPage, page_size: 25};
  const t = await api(`/entities/table?${query(params)}`);
  $("#entity-total").textContent = `${t.total} budget holders · window ${when(t.window_start)} – ${when(t.window_end)}`;
  $$("#entities th[data-sort]").forEach((th) => th.className = `${th.classList.contains("num") ? "num " : ""}${th.dataset.sort === state.sort ? `sorted ${state.order}` : ""}`);
  $("#entities tbody").innerHTML = t.items.length ? t.items.map((r) => `
    <tr class="link" data-entity="${esc(r.entity_id)}">
      <td>${holderName(r)}</td><td class="num">${money(r.daily_budget, t.currency)}</td>
      <td class="num">${money(r.spend, t.currency)}</td><td class="num">${roas(r.roas)}</td>
      <td class="num">${r.marginal_roas == null ? "–" : `${roas(r.marginal_roas)} · ${roas(r.target_marginal_roas)}`}</td>
      <td class="num">${money(r.target_budget, t.currency)}</td>
      <td><span class="status ${esc(r.status)}">${esc(r.status || "")}</span>${r.locked ? ' <span class="badge">locked</span>' : ""}</td>
      <td>${r.last_action_type ? `${esc(r.last_action_type)} <span class="status ${esc(r.last_action_status)}">${esc(r.last_action_status)}</span><div class="ids">${when(r.last_action_at)}${r.last_action_mode === "shadow" ? " · shadow" : ""}</div>` : '<span class="muted">none</span>'}</td>
      <td>${spark(r.spark)}</td>
    </tr>`).join("") : `<tr><td colspan="9" class="muted">No budget holder matches.</td></tr>`;
  pager("#entities-pager", t.total, t.page, t.page_size, (p) => { state.entityPage = p; loadEntities().catch(fail); });
}

function pager(sel, total, page, size, go) {
  const pages = Math.max(1, Math.ceil(total / size));
  const el = $(sel);
  el.innerHTML = `<button data-go="${page - 1}" ${page <= 1 ? "disabled" : ""}>‹ Previous</button><span class="muted">page ${page} of ${pages} · ${total} rows</span><button data-go="${page + 1}" ${page >= pages ? "disabled" : ""}>Next ›</button>`;
  el.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => go(Number(b.dataset.go))));
}

// ---- one entity ------------------------------------------------------------------------------

async function loadEntityChoices() {
  const rows = await api(`/entities?account_id=${encodeURIComponent(account())}`);
  $("#entity").innerHTML = rows.map((e) => `<option value="${esc(e.entity_id)}">${esc(e.name || e.entity_id)} · ${esc(e.entity_id)}${e.locked ? " (locked)" : ""}</option>`).join("");
  if (state.entity && rows.some((e) => e.entity_id === state.entity)) $("#entity").value = state.entity;
}

async function loadEntity() {
  const id = $("#entity").value; if (!id) return;
  state.entity = id;
  const h = await api(`/entities/${id}/history?days=${$("#entity-days").value}`);
  state.history = h;
  const backfilled = h.hours.filter((x) => x.budget_source === "evaluation").length;
  $("#entity-note").innerHTML = `${holderName(h)} · ${money(h.daily_budget, h.currency)}/day now · ${esc(h.status || "")} · ${h.actions.length} actions${backfilled ? ` · ${backfilled} backfilled hours (budget as their run decided with it)` : ""}`;
  drawBudget(h); drawDelivery(h);
  // Asked for only when they exist (a lifetime budget has no curve; a new holder no profile):
  // the page makes no request it knows will fail.
  const [curve, profile] = await Promise.allSettled([
    h.daily_budget != null && h.hours.length ? api(`/entities/${id}/curve?as_of=${encodeURIComponent(h.window_end)}`) : Promise.reject(new Error("No curve: the holder has no daily budget or no hours yet.")),
    h.profile_computed_at ? api(`/time-optimization/report/${id}`) : Promise.reject(new Error("No profile yet: the daily DAG learns it from complete local days.")),
  ]);
  if (curve.status === "fulfilled") drawCurve(curve.value); else { chart("curve-chart").clear(); $("#curve-note").textContent = curve.reason.message; }
  if (profile.status === "fulfilled") drawHeatmap(profile.value); else { chart("heatmap").clear(); $("#heatmap-note").textContent = profile.reason.message; }
}

function actionColour(a) {
  if (a.status_after === "PAUSED") return "#dc2626";
  return a.budget_after != null && Number(a.budget_after) < Number(a.budget_before) ? "#ea580c" : "#16a34a";
}

function drawBudget(h) {
  const read = h.hours.map((x) => [x.hour_start, x.budget_source === "snapshot" ? Number(x.daily_budget) : null]);
  const back = h.hours.map((x) => [x.hour_start, x.budget_source === "evaluation" ? Number(x.daily_budget) : null]);
  const marks = h.actions.map((a) => ({
    value: [a.effective_at, Number(a.budget_after ?? a.budget_before)], action: a,
    itemStyle: {color: a.status === "executed" ? actionColour(a) : "transparent", borderColor: actionColour(a), borderWidth: 2},
  }));
  chart("budget-chart").setOption({
    ...base(),
    xAxis: {type: "time"},
    yAxis: {type: "value", name: `${h.currency} per day`, nameLocation: "middle", nameGap: 56, scale: true, axisLabel: {formatter: (v) => v.toLocaleString("en")}},
    dataZoom: [{type: "inside"}, {type: "slider", height: 16, bottom: 8}],
    grid: {left: 72, right: 24, top: 40, bottom: 64},
    // Item tooltips: each action marker tells its own story; the line's hours show on the axis.
    tooltip: {trigger: "item", confine: true, formatter: (p) => p.seriesName === "Actions" ? "" : `${when(p.value[0])}<br>${esc(p.seriesName)}: ${money(p.value[1], h.currency)}/day`},
    series: [
      {name: "Budget (read that hour)", type: "line", step: "end", showSymbol: false, data: read, lineStyle: {width: 2, color: "#2563eb"}, itemStyle: {color: "#2563eb"}},
      {name: "Budget (backfilled hour, as its run decided)", type: "line", step: "end", showSymbol: false, data: back, lineStyle: {width: 2, type: "dashed", color: "#64748b"}, itemStyle: {color: "#64748b"}},
      {name: "Actions", type: "scatter", symbolSize: 11, data: marks, z: 5,
       tooltip: {trigger: "item", formatter: (p) => { const a = p.data.action; return `<b>#${a.action_id} ${esc(change(a))}</b> · ${esc(a.status)} · ${esc(a.mode)}<br>${money(a.budget_before, h.currency)} → ${money(a.budget_after, h.currency)}<br>for ${when(a.effective_at)}${a.decided_by ? `<br>decided by ${esc(a.decided_by)}${a.decision_reason ? `: ${esc(a.decision_reason)}` : ""}` : ""}<br><span style="white-space:normal;display:inline-block;max-width:360px">${esc(a.reasoning)}</span>`; }}},
    ],
  }, true);
}

function drawDelivery(h) {
  const hourly = $("#delivery-grain").value === "hour";
  const rows = hourly ? h.hours.map((x) => ({at: x.hour_start, spend: x.spend, revenue: x.revenue})) : h.days.map((d) => ({at: d.day, spend: d.spend, revenue: d.revenue}));
  chart("delivery-chart").setOption({
    ...base(),
    tooltip: {trigger: "axis", confine: true, valueFormatter: (v) => money(v, h.currency)},
    xAxis: {type: "category", data: rows.map((r) => hourly ? when(r.at).slice(5, 16) : r.at)},
    yAxis: {type: "value", name: h.currency, nameLocation: "middle", nameGap: 56},
    series: [
      {name: "Spend", type: "bar", data: rows.map((r) => Number(r.spend)), itemStyle: {color: "#94a3b8"}},
      {name: "Revenue", type: "bar", data: rows.map((r) => Number(r.revenue)), itemStyle: {color: "#2563eb"}},
    ],
  }, true);
}

function drawCurve(c) {
  const pts = c.points.map((p) => [Number(p.budget), Number(p.revenue), Number(p.revenue_low), Number(p.revenue_high), p.marginal_roas]);
  const current = Number(c.current_budget), target = Number(c.target_budget);
  chart("curve-chart").setOption({
    ...base(),
    tooltip: {trigger: "axis", confine: true, formatter: (ps) => { const p = pts[ps[0].dataIndex]; return `budget ${money(p[0], c.currency)}/day<br>revenue ${money(p[1], c.currency)} (${money(p[2], c.currency)} – ${money(p[3], c.currency)})<br>marginal ROAS ${roas(p[4])}`; }},
    xAxis: {type: "value", name: `daily budget (${c.currency})`, nameLocation: "middle", nameGap: 28, scale: true},
    yAxis: {type: "value", name: `daily revenue (${c.currency})`, nameLocation: "middle", nameGap: 56, scale: true},
    series: [
      // The band as one polygon (low edge out, high edge back): stacking areas on a value x axis
      // would stack the budgets too.
      {name: "80% band", type: "custom", data: pts.map((p) => [p[0], p[2], p[3]]), encode: {x: 0, y: [1, 2]}, itemStyle: {color: "rgba(37,99,235,0.25)"}, z: 1,
       renderItem: (params, api) => params.dataIndex !== 0 ? null : ({type: "polygon", shape: {points: [...pts.map((p) => api.coord([p[0], p[2]])), ...pts.slice().reverse().map((p) => api.coord([p[0], p[3]]))]}, style: {fill: "rgba(37,99,235,0.18)"}})},
      {name: "Revenue", type: "line", data: pts.map((p) => [p[0], p[1]]), symbol: "none", lineStyle: {width: 2, color: "#2563eb"},
       markLine: {symbol: "none", label: {formatter: (m) => m.name, color: cssVar("--fg")}, data: [
         {name: `now ${money(current, c.currency)}`, xAxis: current, lineStyle: {color: "#64748b"}},
         {name: `target ${money(target, c.currency)}`, xAxis: target, lineStyle: {color: "#16a34a", type: "dashed"}}]}},
      {name: "Break-even (revenue = budget)", type: "line", data: pts.map((p) => [p[0], p[0]]), symbol: "none", lineStyle: {width: 1, type: "dotted", color: "#dc2626"}},
    ],
  }, true);
  $("#curve-note").textContent = `Elasticity ${c.elasticity} (${c.elasticity_interval.join(" – ")}) from ${c.purchases} purchases; ROAS ${roas(c.roas_at_budget)} and marginal ROAS ${roas(c.marginal_roas)} at ${money(current, c.currency)}/day; the goal marginal ROAS ${roas(c.goal_marginal_roas)} is reached at ${money(target, c.currency)}/day.${c.changepoint ? " A change point reset the fit." : ""}`;
}

function drawHeatmap(r) {
  const values = r.hours.map((h) => [h.local_hour, 0, h.roas]);
  const ratios = r.hours.map((h) => h.roas);
  chart("heatmap").setOption({
    ...base(),
    grid: {left: 56, right: 24, top: 16, bottom: 88},
    legend: {show: false},
    tooltip: {trigger: "item", confine: true, formatter: (p) => { const h = r.hours[p.data[0]]; return `${h.local_hour}:00 local · ROAS ${roas(h.roas)} · index ${h.index}<br>spend ${money(h.spend, r.currency)} (${h.spend_share_pct}% of the day) · ${h.conversions} purchases${h.mark ? `<br><b>${h.mark}</b>` : ""}`; }},
    xAxis: {type: "category", data: r.hours.map((h) => String(h.local_hour)), name: `local hour (${r.timezone})`, nameLocation: "middle", nameGap: 24, splitArea: {show: true}},
    yAxis: {type: "category", data: ["ROAS"]},
    visualMap: {type: "continuous", min: Math.min(...ratios), max: Math.max(...ratios, Math.min(...ratios) + 0.01), calculable: true, orient: "horizontal", left: "center", bottom: 0, itemHeight: 160,
                text: ["high ROAS", "low"], textStyle: {color: cssVar("--muted")}, inRange: {color: ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]}},
    series: [{name: "ROAS by hour", type: "heatmap", data: values,
      label: {show: true, formatter: (p) => { const h = r.hours[p.data[0]]; return `${h.roas.toFixed(1)}${h.mark === "peak" ? "\n▲" : h.mark === "valley" ? "\n▼" : ""}`; }, color: "#fff", textBorderColor: "#000", textBorderWidth: 2, fontSize: 10},
      itemStyle: {borderColor: cssVar("--panel"), borderWidth: 1}}],
  }, true);
  $("#heatmap-note").textContent = `${r.days_observed} days up to ${r.window_end.slice(0, 10)}; confidence ${r.confidence.toFixed(2)}; ▲ peak and ▼ valley hours: distinguishable from the entity's average.`;
}

// ---- actions ---------------------------------------------------------------------------------

function actionParams() {
  const start = $("#f-start").value, end = $("#f-end").value;
  return {account_id: account(), mode: $("#f-mode").value, status: $("#f-status").value, action_type: $("#f-type").value,
          entity_id: $("#f-entity").value.trim(), start: start ? `${start}T00:00:00Z` : "",
          end: end ? new Date(new Date(`${end}T00:00:00Z`).getTime() + 86400000).toISOString() : "",
          order: "changed", page: state.actionsPage, page_size: 50};
}

async function loadActions() {
  const params = actionParams();
  const page = await api(`/actions/history?${query(params)}`);
  $("#csv").href = `${API}/actions/history.csv?${query(params)}`;
  $("#actions-total").textContent = `${page.total} actions`;
  $("#history tbody").innerHTML = page.items.length ? page.items.map((a) => `
    <tr data-history="${a.action_id}">
      <td>${a.action_id}</td><td>${a.run_hour ? when(new Date(new Date(a.run_hour).getTime() + 3600000)) : when(a.executed_at || a.created_at)}<div class="ids">recorded ${when(a.created_at)}</div></td><td>${holderName(a)}</td><td>${esc(change(a))}</td>
      <td class="num">${money(a.budget_before, a.currency)} → ${money(a.budget_after, a.currency)}</td>
      <td>${esc(a.mode)}</td><td><span class="status ${esc(a.status)}">${esc(a.status)}</span></td><td>${esc(a.decided_by || "")}</td>
      <td>${esc(a.reasoning)}${a.decision_reason ? `<br><span class="muted">${esc(a.decided_by)}: ${esc(a.decision_reason)}</span>` : ""}${a.error_message ? `<br><span class="muted">${esc(a.error_message)}</span>` : ""}</td>
    </tr>`).join("") : `<tr><td colspan="9" class="muted">No action matches.</td></tr>`;
  pager("#actions-pager", page.total, page.page, page.page_size, (p) => { state.actionsPage = p; loadActions().catch(fail); });
}

// ---- approvals -------------------------------------------------------------------------------

async function loadApprovals() {
  const found = await api(`/approvals?${query({account_id: account(), entity_id: $("#a-entity").value.trim(), action_type: $("#a-type").value})}`);
  state.approvals = found.items;
  state.clockSkew = new Date(found.now).getTime() - Date.now();  // deadlines are on this clock
  $("#pending-count").textContent = found.items.length || "";
  $("#pending tbody").innerHTML = found.items.length ? found.items.map((a) => `
    <tr data-action="${a.action_id}" data-account="${esc(a.account_id)}">
      <td><input type="checkbox" class="pick" value="${a.action_id}" aria-label="select #${a.action_id}"></td>
      <td>${a.action_id}</td><td>${holderName(a)}</td><td>${esc(change(a))}</td>
      <td class="num">${approvalChange(a)}</td>
      <td class="num ${Number(a.change) < 0 ? "down" : "up"}">${money(a.change, a.currency, true)}<div class="ids">${pct(a.change_percent)}</div></td>
      <td>${esc(a.reasoning)}</td>
      <td><span class="countdown" data-deadline="${esc(a.approval_deadline || "")}"></span><div class="ids">${when(a.approval_deadline)}</div></td>
      <td style="white-space:nowrap"><button class="approve" data-id="${a.action_id}" data-approve="true">Approve</button>
          <button class="reject" data-id="${a.action_id}" data-approve="false">Reject</button></td>
    </tr>`).join("") : `<tr><td colspan="9" class="muted">Nothing waiting for approval.</td></tr>`;
  $("#select-all").checked = false;
  picked(); tick();
}

function tick() {
  const now = Date.now() + state.clockSkew;
  $$(".countdown").forEach((el) => {
    if (!el.dataset.deadline) { el.textContent = "no deadline"; return; }
    const left = Math.max(0, Math.floor((new Date(el.dataset.deadline).getTime() - now) / 1000));
    const d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
    el.textContent = left === 0 ? "expired" : `${d ? `${d}d ` : ""}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")} left`;
    el.className = `countdown ${left < 900 ? "paused" : ""}`;
  });
}
setInterval(tick, 1000);

function picked() {
  const ids = $$(".pick:checked").map((c) => Number(c.value));
  $("#approve-selected").disabled = $("#reject-selected").disabled = !ids.length;
  return ids;
}

// Under time optimisation the answer commits the base; this hour's write is one step toward it.
function approvalChange(a) {
  if (a.base_before != null && a.base_after != null) {
    return `base ${money(a.base_before, a.currency)} → ${money(a.base_after, a.currency)}<div class="ids">this hour ${money(a.budget_before, a.currency)} → ${money(a.budget_after, a.currency)}</div>`;
  }
  return `${money(a.budget_before, a.currency)} → ${money(a.budget_after, a.currency)}`;
}

function confirmAnswer(ids, approve) {
  const chosen = state.approvals.filter((a) => ids.includes(a.action_id));
  const verb = approve ? "Approve" : "Reject";
  $("#confirm-title").textContent = `${verb} ${chosen.length} action${chosen.length === 1 ? "" : "s"}?`;
  const totals = {};
  const pauses = chosen.filter((a) => a.status_after === "PAUSED").length;
  chosen.forEach((a) => { if (a.status_after !== "PAUSED") totals[a.currency] = (totals[a.currency] || 0) + Number(a.change || 0); });
  const total = Object.entries(totals).map(([c, v]) => money(v, c, true)).join(", ") || "none";
  $("#confirm-body").innerHTML = `<ul>${chosen.map((a) => `<li>#${a.action_id} ${esc(a.campaign_name && a.campaign_name !== a.entity_name ? `${a.campaign_name} › ` : "")}${esc(a.entity_name || a.entity_id)}: ${esc(change(a))}, ${approvalChange(a)} (${pct(a.change_percent)})</li>`).join("")}</ul>
    <p>${approve ? "Approved changes are written to Meta by the hourly run's execute_approved step, once every pending action of the account is answered or past its deadline." : "Rejected changes are never written."} Daily budget change: ${total}${pauses ? `; ${pauses} pause${pauses === 1 ? "" : "s"}` : ""}.</p>`;
  $("#confirm-reason").value = "";
  $("#confirm-ok").textContent = verb;
  $("#confirm-ok").className = approve ? "primary" : "danger";
  const dialog = $("#confirm");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? ($("#confirm-reason").value.trim() || null) : undefined), {once: true});
    dialog.showModal();
  });
}

async function answer(ids, approve) {
  const reason = await confirmAnswer(ids, approve);
  if (reason === undefined) return;  // cancelled
  try {
    if (ids.length === 1) {
      const action = await api("/approve", {method: "POST", body: JSON.stringify({action_id: ids[0], approve, ...(reason ? {reason} : {})})});
      banner(`Action #${action.action_id} is now ${action.status}.`, "info");
    } else {
      const done = await api("/approve-bulk", {method: "POST", body: JSON.stringify({action_ids: ids, approve, ...(reason ? {reason} : {})})});
      banner(`${done.answered.length} actions are now ${approve ? "approved" : "rejected"}: #${done.answered.map((a) => a.action_id).join(", #")}.`, "info");
    }
  } catch (e) { banner(e.message, "error"); }
  await loadApprovals().catch(fail);
}

// ---- wiring ----------------------------------------------------------------------------------

function fail(e) { banner(e.message, "error"); }

function view() { const name = (location.hash || "#overview").slice(1).split("/")[0]; return ["overview", "entities", "entity", "actions", "approvals"].includes(name) ? name : "overview"; }

async function render() {
  const name = view();
  $$(".view").forEach((s) => s.hidden = s.id !== `view-${name}`);
  $$(".tabs a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  document.body.dataset.view = name;
  document.body.dataset.loaded = "";
  try {
    if (name === "overview") await loadOverview();
    if (name === "entities") await loadEntities();
    if (name === "entity") {
      const wanted = location.hash.split("/")[1];
      if (wanted) state.entity = wanted;
      await loadEntityChoices(); await loadEntity();
    }
    if (name === "actions") await loadActions();
    if (name === "approvals") await loadApprovals();
  } catch (e) { fail(e); }
  Object.values(state.charts).forEach((c) => c.resize());
  document.body.dataset.loaded = name;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-id]");
  if (button) { answer([Number(button.dataset.id)], button.dataset.approve === "true"); return; }
  const row = event.target.closest("tr[data-entity]");
  if (row) { location.hash = `#entity/${row.dataset.entity}`; return; }
  const th = event.target.closest("th[data-sort]");
  if (th) { state.order = state.sort === th.dataset.sort && state.order === "desc" ? "asc" : "desc"; state.sort = th.dataset.sort; state.entityPage = 1; loadEntities().catch(fail); }
});
document.addEventListener("change", (event) => {
  if (event.target.matches(".pick")) picked();
  if (event.target.id === "select-all") { $$(".pick").forEach((c) => c.checked = event.target.checked); picked(); }
});
$("#approve-selected").addEventListener("click", () => answer(picked(), true));
$("#reject-selected").addEventListener("click", () => answer(picked(), false));

async function flip(path, what) {
  const reason = prompt(`${what}: why?`); if (!reason) return;
  try { await api(path, {method: "POST", body: JSON.stringify({scope: "all", reason})}); banner(`${what}: done.`, "info"); } catch (e) { banner(e.message, "error"); }
  if (view() === "overview") await render(); else await loadOverview().catch(fail);
}
$("#pause-all").addEventListener("click", () => flip("/emergency/pause", "Pause all"));
$("#resume-all").addEventListener("click", () => flip("/emergency/resume", "Resume all"));

let typing;
const debounced = (fn) => () => { clearTimeout(typing); typing = setTimeout(() => fn().catch(fail), 300); };
$("#account").addEventListener("change", () => { $("#start").value = $("#end").value = ""; state.entityPage = state.actionsPage = 1; state.entity = null; render(); });
["#start", "#end"].forEach((s) => $(s).addEventListener("change", () => { state.entityPage = 1; render(); }));
$("#entity-q").addEventListener("input", debounced(() => { state.entityPage = 1; return loadEntities(); }));
$("#entity-status").addEventListener("change", () => { state.entityPage = 1; loadEntities().catch(fail); });
$("#entity").addEventListener("change", () => { location.hash = `#entity/${$("#entity").value}`; });
$("#entity-days").addEventListener("change", () => loadEntity().catch(fail));
$("#delivery-grain").addEventListener("change", () => state.history && drawDelivery(state.history));
["#f-mode", "#f-status", "#f-type", "#f-start", "#f-end"].forEach((s) => $(s).addEventListener("change", () => { state.actionsPage = 1; loadActions().catch(fail); }));
$("#f-entity").addEventListener("input", debounced(() => { state.actionsPage = 1; return loadActions(); }));
$("#a-entity").addEventListener("input", debounced(loadApprovals));
$("#a-type").addEventListener("change", () => loadApprovals().catch(fail));
window.addEventListener("hashchange", render);

applyTheme();
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
window.addEventListener("storage", applyTheme);
try { if (window.parent !== window) new MutationObserver(applyTheme).observe(window.parent.document.documentElement, {attributes: true, attributeFilter: ["class"]}); } catch (e) { /* not reachable */ }

(async () => {
  try {
    await loadAccounts();
    if (!state.accounts.length) { banner("No ad accounts yet: the hourly DAG records them on its first run (or `autoscaler accounts add`).", "info"); return; }
    await render();
    if (view() !== "overview") await loadOverview();  // the kill switch and the window, whatever the view
    if (view() !== "approvals") api(`/approvals?${query({account_id: account()})}`).then((f) => { $("#pending-count").textContent = f.items.length || ""; }).catch(fail);
    document.body.dataset.ready = "true";
  } catch (e) { fail(e); }
})();
