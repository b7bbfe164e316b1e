// The dashboard's three plots as inline SVG, from GET /v1/campaigns/{id}/trials:
// validation NE per trial (with the baseline's noise band), the phase timeline, the budget burn.

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const M = { top: 14, right: 16, bottom: 30, left: 62 }; // plot margins (px in viewBox units)

export const PHASE_COLOURS = {
  baseline: "#64748b",
  validation: "#2563eb",
  combination: "#9333ea",
  exploitation: "#ea580c",
};
const PHASE_ORDER = Object.keys(PHASE_COLOURS);

/** Parse an ISO time from the API; naive ones are UTC (the store writes UTC). */
export function parseTime(iso) {
  if (!iso) return NaN;
  const tz = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso);
  return Date.parse(tz ? iso : `${iso}Z`);
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(height, label) {
  const svg = el("svg", {
    viewBox: `0 0 ${W} ${height}`,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "xMidYMid meet",
  });
  svg.append(el("title", {}, label));
  return svg;
}

function scale([d0, d1], [r0, r1]) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** About `n` round tick values covering [lo, hi]. */
function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(12));
  return out;
}

function yAxis(svg, y, domain, height, fmt) {
  for (const v of ticks(domain[0], domain[1], 4)) {
    const py = y(v);
    svg.append(el("line", { x1: M.left, x2: W - M.right, y1: py, y2: py, class: "grid" }));
    svg.append(el("text", { x: M.left - 6, y: py + 4, class: "tick", "text-anchor": "end" }, fmt(v)));
  }
  svg.append(el("line", { x1: M.left, x2: M.left, y1: M.top, y2: height - M.bottom, class: "axis" }));
}

function timeAxis(svg, x, [t0, t1], height) {
  const span = t1 - t0;
  const fmt = (t) => {
    const d = new Date(t);
    return span > 36 * 3600e3
      ? d.toLocaleDateString([], { month: "short", day: "numeric" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: span < 600e3 ? "2-digit" : undefined });
  };
  const base = height - M.bottom;
  svg.append(el("line", { x1: M.left, x2: W - M.right, y1: base, y2: base, class: "axis" }));
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (span * i) / 4;
    svg.append(el("text", { x: x(t), y: base + 16, class: "tick", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, fmt(t)));
  }
}

function empty(host, text) {
  host.replaceChildren();
  const p = document.createElement("p");
  p.className = "plot-empty muted";
  p.textContent = text;
  host.append(p);
}

function legend(host, phases, extra = []) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  for (const p of phases) {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = PHASE_COLOURS[p] || "#334155";
    li.append(sw, p);
    ul.append(li);
  }
  for (const [cls, text] of extra) {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = `swatch ${cls}`;
    li.append(sw, text);
    ul.append(li);
  }
  host.append(ul);
}

/** (1) Validation NE per finished trial, coloured by phase, over the baseline's ±2 sd band. */
export function nePlot(host, data) {
  const trials = (data?.trials || []).filter((t) => Number.isFinite(t.val_ne));
  if (!trials.length) return empty(host, "No finished trials yet.");
  const band = data.baseline;
  const H = 240;
  const values = trials.map((t) => t.val_ne);
  if (band) values.push(band.low, band.high);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const pad = (hi - lo || Math.abs(hi) * 0.01 || 0.01) * 0.08;
  lo -= pad;
  hi += pad;
  const x = scale([0.5, trials.length + 0.5], [M.left, W - M.right]);
  const y = scale([lo, hi], [H - M.bottom, M.top]);
  const best = Math.min(...trials.map((t) => t.val_ne));
  const label = `${trials.length} trials; best validation NE ${best.toFixed(4)}` +
    (band ? `; baseline ${band.mean.toFixed(4)} (band ${band.low.toFixed(4)}–${band.high.toFixed(4)})` : "");
  const svg = frame(H, label);
  yAxis(svg, y, [lo, hi], H, (v) => v.toFixed(4));
  if (band) {
    svg.append(el("rect", {
      x: M.left, width: W - M.left - M.right, y: y(band.high), height: Math.max(1, y(band.low) - y(band.high)),
      class: "band", "data-testid": "ne-band",
    }, undefined));
    svg.append(el("line", { x1: M.left, x2: W - M.right, y1: y(band.mean), y2: y(band.mean), class: "baseline", "data-testid": "ne-baseline" }));
    svg.append(el("text", { x: W - M.right - 4, y: y(band.mean) - 4, class: "tick", "text-anchor": "end" }, "baseline ± 2 sd"));
  }
  // Best so far: a step line along the lower envelope.
  let run = Infinity;
  const steps = trials.map((t, i) => {
    run = Math.min(run, t.val_ne);
    return `${i ? "L" : "M"}${x(i + 0.5)},${y(run)} L${x(i + 1.5)},${y(run)}`;
  });
  svg.append(el("path", { d: steps.join(" "), class: "best-line" }));
  trials.forEach((t, i) => {
    const c = el("circle", {
      cx: x(i + 1), cy: y(t.val_ne), r: 5, fill: PHASE_COLOURS[t.phase] || "#334155",
      class: "point", "data-testid": "ne-point", "data-phase": t.phase, "data-experiment": t.experiment_id,
    });
    const delta = band ? ` (${(((t.val_ne - band.mean) / band.mean) * 100).toFixed(2)}% vs baseline)` : "";
    c.append(el("title", {}, `#${i + 1} ${t.title} [${t.phase}]\nval NE ${t.val_ne.toFixed(5)}${delta}` +
      (t.val_auc != null ? `\nval AUC ${t.val_auc.toFixed(4)}` : "") +
      `\n${JSON.stringify(t.config_delta || {})}`));
    svg.append(c);
  });
  for (const v of ticks(1, trials.length, Math.min(8, trials.length))) {
    if (Number.isInteger(v)) svg.append(el("text", { x: x(v), y: H - M.bottom + 16, class: "tick", "text-anchor": "middle" }, v));
  }
  svg.append(el("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: "axis" }));
  svg.append(el("text", { x: 12, y: M.top + 4, class: "axis-label", transform: `rotate(-90 12 ${M.top + 4})`, "text-anchor": "end" }, "val NE ↓"));
  host.replaceChildren(svg);
  const extra = [["swatch-best", "lowest so far"]];
  if (band) extra.push(["swatch-band", "baseline mean ± 2 sd"]);
  legend(host, PHASE_ORDER.filter((p) => trials.some((t) => t.phase === p)), extra);
}

/** (2) One horizontal bar per phase, from its first job's start to its last job's end. */
export function phasePlot(host, data, now = Date.now()) {
  const phases = (data?.phases || []).filter((p) => Number.isFinite(parseTime(p.start)));
  if (!phases.length) return empty(host, "No jobs have run yet.");
  const spans = phases.map((p) => {
    const start = parseTime(p.start);
    const end = parseTime(p.end);
    return { ...p, s: start, e: Number.isFinite(end) ? end : now };
  });
  const t0 = Math.min(...spans.map((p) => p.s));
  const t1 = Math.max(...spans.map((p) => p.e), t0 + 1000);
  const row = 26;
  const H = M.top + spans.length * row + M.bottom;
  const svg = frame(H, `Phases: ${spans.map((p) => `${p.phase} ${((p.e - p.s) / 1000).toFixed(0)} s`).join(", ")}`);
  const x = scale([t0, t1], [M.left + 40, W - M.right]);
  spans.forEach((p, i) => {
    const top = M.top + i * row;
    svg.append(el("text", { x: M.left + 34, y: top + row / 2 + 4, class: "tick", "text-anchor": "end" }, p.phase));
    const bar = el("rect", {
      x: x(p.s), y: top + 4, height: row - 8, width: Math.max(2, x(p.e) - x(p.s)), rx: 3,
      fill: PHASE_COLOURS[p.phase] || "#334155", "data-testid": "phase-bar", "data-phase": p.phase,
    });
    bar.append(el("title", {}, `${p.phase}: ${new Date(p.s).toLocaleTimeString()} → ${new Date(p.e).toLocaleTimeString()} (${((p.e - p.s) / 1000).toFixed(1)} s)`));
    svg.append(bar);
    svg.append(el("text", { x: Math.min(x(p.e) + 4, W - M.right - 40), y: top + row / 2 + 4, class: "tick" }, `${((p.e - p.s) / 1000).toFixed(0)} s`));
  });
  timeAxis(svg, x, [t0, t1], H);
  host.replaceChildren(svg);
}

/** (3) Cumulative charged trainer-seconds over time against the approved budget. */
export function budgetPlot(host, data, approved, startIso) {
  const burn = (data?.budget_burn || []).map((p) => ({ t: parseTime(p.at), v: p.charged_seconds }))
    .filter((p) => Number.isFinite(p.t));
  const budget = approved ?? data?.budget_seconds ?? 0;
  if (!burn.length) return empty(host, "Nothing charged yet.");
  const start = Math.min(parseTime(startIso) || Infinity, burn[0].t);
  const points = [{ t: start, v: 0 }, ...burn];
  const t1 = Math.max(points.at(-1).t, start + 1000);
  const H = 200;
  const top = Math.max(budget, points.at(-1).v) * 1.08 || 1;
  const x = scale([start, t1], [M.left, W - M.right]);
  const y = scale([0, top], [H - M.bottom, M.top]);
  const used = points.at(-1).v;
  const svg = frame(H, `Charged ${used.toFixed(1)} of ${budget.toFixed(1)} trainer-seconds`);
  yAxis(svg, y, [0, top], H, (v) => `${Math.round(v)} s`);
  svg.append(el("line", { x1: M.left, x2: W - M.right, y1: y(budget), y2: y(budget), class: "budget-line", "data-testid": "budget-line" }));
  svg.append(el("text", { x: W - M.right - 4, y: y(budget) - 4, class: "tick", "text-anchor": "end" }, `approved ${budget.toFixed(0)} s`));
  const d = points.map((p, i) => (i ? `H${x(p.t)} V${y(p.v)}` : `M${x(p.t)},${y(p.v)}`)).join(" ");
  svg.append(el("path", { d: `${d} V${y(0)} H${x(start)} Z`, class: "burn-area" }));
  svg.append(el("path", { d, class: "burn-line" }));
  for (const p of burn) {
    const c = el("circle", { cx: x(p.t), cy: y(p.v), r: 3, class: "burn-point", "data-testid": "burn-point" });
    c.append(el("title", {}, `${new Date(p.t).toLocaleTimeString()}: ${p.v.toFixed(1)} s`));
    svg.append(c);
  }
  timeAxis(svg, x, [start, t1], H);
  host.replaceChildren(svg);
}
