// Approval cards (plan, escalation, budget, launch) from GET /v1/approvals, answered with
// POST /v1/approvals/{id} {decision: approve | edit | reject, edits?, message?}.
// Cards are keyed by approval id and kept across refreshes, so a half-written edit survives.

import { api } from "./api.js";
import { PHASE_COLOURS } from "./plots.js";

const TITLES = {
  plan: "Approve the plan",
  escalation: "A job needs you",
  budget: "More budget?",
  launch: "Launch proposal",
};
const SOURCES = { i: "insight", r: "research", p: "llm", x: "exploit" };

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const json = (v) => JSON.stringify(v ?? {});
const num = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : "–");
const delta = (d) => h("code", { class: "delta" }, Object.keys(d || {}).length ? json(d) : "no change");

/** The pending action's arguments: what an edit changes. */
function actionOf(a) {
  const req = a.interrupt?.action_requests?.[0];
  return { name: req?.name, args: req?.args ?? a.request ?? {}, description: req?.description };
}

function allowed(a) {
  const cfg = a.interrupt?.review_configs?.[0]?.allowed_decisions;
  return new Set(cfg?.length ? cfg : ["approve", "edit", "reject"]);
}

// --- kind-specific bodies -------------------------------------------------------------------

function hypothesisInfo(a, item) {
  const id = item.hypothesis_id;
  const known = a.hypotheses?.[id] || a.request?.hypotheses?.[id] || actionOf(a).args.hypotheses?.[id] || {};
  const merged = { ...known, ...item };
  const inferred = /-h([irpx])\d/.exec(id || "");
  return {
    source: merged.source || (inferred ? SOURCES[inferred[1]] : item.parents?.length ? "combination" : "–"),
    rationale: merged.rationale || merged.expected_effect || "",
    citation: merged.citation || merged.evidence?.citation || merged.evidence?.url || merged.evidence?.paper ||
      (merged.evidence && Object.keys(merged.evidence).length ? json(merged.evidence) : ""),
  };
}

function planBody(a) {
  const args = actionOf(a).args;
  const rows = (args.experiments || []).map((e, i) => {
    const info = hypothesisInfo(a, e);
    const cost = Number(e.est_seconds);
    return h("tr", { "data-testid": "plan-experiment" },
      h("td", {}, i + 1),
      h("td", {}, h("strong", {}, e.title || e.hypothesis_id), h("div", { class: "muted mono small" }, e.hypothesis_id || "")),
      h("td", {}, h("span", { class: `source source-${info.source}` }, info.source)),
      h("td", { class: "small" }, info.rationale, info.citation ? h("div", { class: "muted cite" }, info.citation) : null),
      h("td", {}, delta(e.config_delta)),
      h("td", { class: "num" }, (e.seeds || []).length),
      h("td", { class: "num" }, `${num(cost)} s`));
  });
  const body = [
    args.rationale ? h("p", { class: "rationale" }, args.rationale) : null,
    h("table", { class: "table plan-table" },
      h("thead", {}, h("tr", {}, ...["#", "Hypothesis", "Source", "Rationale / citation", "Config delta", "Seeds", "Cost"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    budgetSplit(args),
  ];
  if (args.dropped?.length) {
    body.push(h("details", {}, h("summary", {}, `${args.dropped.length} hypotheses not planned`),
      h("ul", { class: "small" }, args.dropped.map((d) => h("li", {}, h("span", { class: "mono" }, d.hypothesis_id || "–"), ": ", d.reason)))));
  }
  return body;
}

function budgetSplit(args) {
  const split = args.budget || {};
  const parts = ["validation", "combination", "exploitation", "reserve"].filter((k) => Number.isFinite(split[k]));
  const total = parts.reduce((s, k) => s + split[k], 0);
  if (!total) return null;
  const bar = h("div", { class: "split-bar", role: "img", "aria-label": parts.map((k) => `${k} ${num(split[k])} s`).join(", ") },
    parts.map((k) => h("span", { style: `width:${(100 * split[k]) / total}%;background:${PHASE_COLOURS[k] || "#94a3b8"}`, title: `${k}: ${num(split[k])} s` })));
  return h("div", { class: "split", "data-testid": "plan-budget" },
    h("h5", {}, `Budget split: ${num(total)} s of ${num(args.remaining_seconds ?? args.budget_seconds)} s left (campaign budget ${num(args.budget_seconds)} s)`),
    bar,
    h("ul", { class: "legend" }, parts.map((k) => h("li", {}, h("span", { class: "swatch", style: `background:${PHASE_COLOURS[k] || "#94a3b8"}` }), `${k} ${num(split[k])} s (${Math.round((100 * split[k]) / total)}%)`))));
}

function escalationBody(a) {
  const req = a.request || {};
  const failure = req.failure || {};
  const diag = req.diagnosis || {};
  const args = actionOf(a).args;
  return [
    h("dl", { class: "kv" },
      h("dt", {}, "Job"), h("dd", { class: "mono" }, req.job_id || "–"),
      h("dt", {}, "Experiment"), h("dd", { class: "mono" }, args.experiment_id || req.experiment_id || "–"),
      h("dt", {}, "Failure"), h("dd", {}, h("span", { class: "badge status-failed", "data-testid": "failure-kind" }, failure.kind || "?"), " ", failure.message || ""),
      h("dt", {}, "Diagnosis"), h("dd", {}, diag.diagnosis || "–"),
      h("dt", {}, "Proposed"), h("dd", {}, "retry with ", delta(args.config_patch ?? diag.config_patch))),
    failure.log_tail ? h("details", {}, h("summary", {}, "Log tail"), h("pre", { class: "log" }, failure.log_tail)) : null,
  ];
}

function budgetBody(a) {
  const args = actionOf(a).args;
  const req = a.request || {};
  return h("dl", { class: "kv" },
    h("dt", {}, "Phase"), h("dd", {}, args.phase || req.phase || "–"),
    h("dt", {}, "Extra"), h("dd", {}, `${num(args.extra_seconds)} trainer-seconds`),
    req.cost != null ? [h("dt", {}, "Step cost"), h("dd", {}, `${num(req.cost)} s`)] : null);
}

function launchBody(a) {
  const p = actionOf(a).args;
  const test = p.test || {};
  const ci = Number.isFinite(p.ci_lo) ? ` (95% CI ${num(p.ci_lo, 2)} … ${num(p.ci_hi, 2)}%)` : "";
  const metrics = [...new Set([...Object.keys(test.baseline || {}), ...Object.keys(test.best || {})])];
  return [
    h("dl", { class: "kv" },
      h("dt", {}, "Change"), h("dd", {}, p.keep_baseline ? "keep the baseline (nothing beat it)" : delta(p.config_delta)),
      h("dt", {}, "Experiment"), h("dd", { class: "mono" }, p.experiment_id || "–"),
      h("dt", {}, "Validation NE"), h("dd", {}, `${num(p.baseline_val_ne, 4)} → ${num(p.best_val_ne, 4)}`),
      h("dt", {}, "Expected gain"), h("dd", {}, `${num(p.expected_gain_pct, 2)}%${ci} over ${p.seeds ?? "?"} seeds`,
        " ", h("span", { class: `badge ${p.validated ? "status-completed" : "status-cancelled"}` }, p.validated ? "beats seed noise" : "not significant"))),
    metrics.length ? h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, "test metric"), h("th", {}, "baseline"), h("th", {}, "best"))),
      h("tbody", {}, metrics.map((m) => h("tr", {}, h("td", {}, m), h("td", { class: "num" }, num(test.baseline?.[m], 4)), h("td", { class: "num" }, num(test.best?.[m], 4)))))) : null,
  ];
}

const BODIES = { plan: planBody, escalation: escalationBody, budget: budgetBody, launch: launchBody };

// --- the card -------------------------------------------------------------------------------

function card(a, onDecided) {
  const { args, description } = actionOf(a);
  const ok = allowed(a);
  const error = h("p", { class: "card-error", role: "alert", "data-testid": "approval-error" });
  const edit = h("textarea", { rows: 10, spellcheck: "false", class: "mono", "data-testid": "edit-args", "aria-label": "Action arguments (JSON)" });
  edit.value = JSON.stringify(args, null, 2);
  const message = h("input", { type: "text", placeholder: "Why? (sent to the agent)", "data-testid": "reject-message", "aria-label": "Reason for rejecting" });
  const editBox = h("div", { class: "edit-box", hidden: true },
    h("p", { class: "muted small" }, a.kind === "plan" ? "Drop experiments or move budget between phases, then submit." : "Change the arguments, then submit."),
    edit,
    h("button", { type: "button", class: "primary", "data-testid": "submit-edit-btn", onclick: () => {
      let edits;
      try {
        edits = JSON.parse(edit.value);
      } catch (e) {
        error.textContent = `not valid JSON: ${e.message}`;
        return;
      }
      decide("edit", { edits });
    } }, "Submit edit"));
  const rejectBox = h("div", { class: "reject-box", hidden: true }, message,
    h("button", { type: "button", class: "danger", "data-testid": "confirm-reject-btn", onclick: () => decide("reject", { message: message.value || undefined }) }, "Reject"));
  const buttons = h("div", { class: "actions" },
    ok.has("approve") ? h("button", { type: "button", class: "primary", "data-testid": "approve-btn", onclick: () => decide("approve", {}) }, "Approve") : null,
    ok.has("edit") ? h("button", { type: "button", "data-testid": "edit-btn", "aria-expanded": "false", onclick: (e) => toggle(editBox, e.currentTarget) }, "Edit…") : null,
    ok.has("reject") ? h("button", { type: "button", class: "danger-outline", "data-testid": "reject-btn", "aria-expanded": "false", onclick: (e) => toggle(rejectBox, e.currentTarget) }, "Reject…") : null);

  const node = h("article", { class: `card approval kind-${a.kind}`, "data-testid": "approval-card", "data-kind": a.kind, "data-approval-id": a.approval_id, "aria-labelledby": `ap-${a.approval_id}` },
    h("header", {}, h("h4", { id: `ap-${a.approval_id}` }, TITLES[a.kind] || a.kind), h("span", { class: "muted mono small" }, a.approval_id)),
    description ? h("p", { class: "description" }, description) : null,
    (BODIES[a.kind] || (() => h("pre", { class: "log" }, JSON.stringify(args, null, 2))))(a),
    buttons, editBox, rejectBox, error);

  async function decide(decision, extra) {
    error.textContent = "";
    node.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      await api(`/v1/approvals/${encodeURIComponent(a.approval_id)}`, { method: "POST", body: { decision, ...extra } });
      node.classList.add("decided");
      node.dataset.decided = decision;
      buttons.replaceWith(h("p", { class: "sent", "data-testid": "approval-sent" }, `Sent: ${decision}. The campaign resumes in the background.`));
      editBox.hidden = rejectBox.hidden = true;
      onDecided(a, decision);
    } catch (e) {
      error.textContent = e.message;
      node.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  }
  return node;
}

function toggle(box, button) {
  box.hidden = !box.hidden;
  button.setAttribute("aria-expanded", String(!box.hidden));
  if (!box.hidden) box.querySelector("textarea, input")?.focus();
}

/** Show `approvals` in `host`, keeping the cards already there (and what is typed in them). */
export function renderApprovals(host, approvals, onDecided) {
  const want = new Set(approvals.map((a) => a.approval_id));
  for (const node of [...host.children]) if (!want.has(node.dataset.approvalId)) node.remove();
  const have = new Set([...host.children].map((n) => n.dataset.approvalId));
  for (const a of approvals) if (!have.has(a.approval_id)) host.append(card(a, onDecided));
}
