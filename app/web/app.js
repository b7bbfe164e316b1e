// REA web UI: campaigns (left), chat (middle), the selected campaign's dashboard and approvals
// (right). Plain ES modules, no build step. While a campaign is active the page polls its view,
// trials and approvals every ~2 s, and right after every chat stream event.

import { api, auth, blobUrl } from "./api.js";
import { h, renderApprovals } from "./approvals.js";
import { Chat, localThread } from "./chat.js";
import { budgetPlot, nePlot, parseTime, phasePlot } from "./plots.js";

const POLL_MS = 2000;
const ACTIVE = new Set(["planning", "awaiting_approval", "running", "awaiting_jobs"]);
const $ = (id) => document.getElementById(id);

const ui = {
  campaigns: [],
  selected: null, // campaign id
  view: null, // GET /v1/campaigns/{id}
  finalFor: null, // the campaign whose terminal state was fully loaded (polling stops)
  reportFor: null,
  ticks: 0,
  refreshing: null,
};

const chat = new Chat({
  log: $("chat-log"),
  form: $("chat-form"),
  input: $("chat-input"),
  threadLabel: $("chat-thread"),
  onEvent: onChatEvent,
});

// --- formatting -----------------------------------------------------------------------------

const fmtNE = (v) => (Number.isFinite(v) ? v.toFixed(4) : "–");
function fmtSec(s) {
  if (!Number.isFinite(s)) return "–";
  if (s < 100) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.round(s)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
const badge = (node, status) => {
  node.textContent = status || "–";
  node.className = `badge status-${status}`;
};

function setConn(text) {
  $("conn").textContent = text || "";
  $("conn").classList.toggle("bad", Boolean(text));
}

// --- token ----------------------------------------------------------------------------------

auth.onUnauthorized = () => {
  $("token-form").hidden = false;
  $("token-input").focus();
};
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  auth.set($("token-input").value);
  $("token-form").hidden = true;
  ui.finalFor = null;
  refresh(true);
});

// --- campaigns list and the new-campaign form -----------------------------------------------

function renderCampaigns() {
  const list = $("campaign-list");
  list.replaceChildren(...ui.campaigns.map((c) => {
    const pct = c.budget_seconds ? Math.min(100, (100 * c.budget_used_seconds) / c.budget_seconds) : 0;
    return h("li", {},
      h("button", {
        type: "button", class: `campaign-item${c.campaign_id === ui.selected ? " selected" : ""}`,
        "data-testid": "campaign-item", "data-campaign-id": c.campaign_id,
        "aria-current": c.campaign_id === ui.selected ? "true" : undefined,
        onclick: () => select(c.campaign_id),
      },
      h("span", { class: "row" }, h("span", { class: "mono" }, c.campaign_id), h("span", { class: `badge status-${c.status}` }, c.status)),
      h("span", { class: "row muted small" }, h("span", {}, `${c.model} · ${c.data}`)),
      h("span", { class: "mini-bar", "aria-hidden": "true" }, h("span", { style: `width:${pct}%` })),
      h("span", { class: "row muted small" }, h("span", {}, c.phase || ""), h("span", {}, `${fmtSec(c.budget_used_seconds)} / ${fmtSec(c.budget_seconds)}`))));
  }));
  if (!ui.campaigns.length) list.append(h("li", { class: "muted small" }, "No campaigns yet."));
}

async function loadCampaigns() {
  const body = await api("/v1/campaigns");
  ui.campaigns = [...(body.campaigns || [])].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
  renderCampaigns();
}

$("campaign-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  const fd = new FormData(form);
  const err = form.querySelector(".form-error");
  err.textContent = "";
  const body = {
    model: fd.get("model"),
    data: String(fd.get("data")).trim(),
    budget_seconds: Number(fd.get("budget_seconds")),
  };
  if (String(fd.get("goal")).trim()) body.goal = String(fd.get("goal")).trim();
  if (String(fd.get("baseline")).trim()) {
    try {
      body.baseline = JSON.parse(fd.get("baseline"));
    } catch (x) {
      err.textContent = `baseline config is not valid JSON: ${x.message}`;
      return;
    }
  }
  const submit = form.querySelector("[type=submit]");
  submit.disabled = true;
  try {
    const made = await api("/v1/campaigns", { method: "POST", body });
    await loadCampaigns();
    await select(made.campaign_id, { threadId: made.thread_id });
  } catch (x) {
    err.textContent = x.message;
  } finally {
    submit.disabled = false;
  }
});

$("chat-only").addEventListener("click", () => select(null));

// --- selection ------------------------------------------------------------------------------

/** Show a campaign (null: none) and, unless `keepChat`, its chat thread. */
async function select(campaignId, { threadId, keepChat = false } = {}) {
  ui.selected = campaignId;
  ui.view = null;
  ui.finalFor = null;
  history.replaceState(null, "", campaignId ? `#campaign=${encodeURIComponent(campaignId)}` : location.pathname);
  renderCampaigns();
  $("dash").hidden = !campaignId;
  $("dash-empty").hidden = Boolean(campaignId);
  for (const id of ["approvals", "plot-ne", "plot-phases", "plot-budget", "notes", "report-md", "report-plots"]) $(id).replaceChildren();
  $("report-box").hidden = true;
  ui.reportFor = null;
  const known = ui.campaigns.find((c) => c.campaign_id === campaignId);
  if (!keepChat) {
    await chat.open(threadId || known?.thread_id || (campaignId ? null : localThread())).catch(showError);
  }
  if (campaignId) await refreshSelected().catch(showError);
}

// --- the dashboard --------------------------------------------------------------------------

function renderView(v) {
  $("dash-campaign").textContent = v.campaign_id;
  badge($("dash-status"), v.status);
  $("dash-phase").textContent = v.phase || "–";
  $("dash-meta").textContent = [v.model, v.data, v.goal && `goal: ${v.goal}`, v.created_at && `started ${new Date(parseTime(v.created_at)).toLocaleString()}`]
    .filter(Boolean).join(" · ");
  const waits = (v.waiting_on || []).map((w) => (w.type === "approval" ? `your decision on the ${w.kind}` : `${(w.jobs || []).length} training job(s)`));
  $("dash-waiting").textContent = waits.length ? `Waiting on ${waits.join(" and ")}` : "";

  const b = v.budget || { approved_seconds: v.budget_seconds, charged_seconds: v.budget_used_seconds, reserved_seconds: 0 };
  const total = b.approved_seconds || 1;
  const bar = $("budget-bar");
  bar.querySelector(".budget-charged").style.width = `${Math.min(100, (100 * b.charged_seconds) / total)}%`;
  bar.querySelector(".budget-reserved").style.width = `${Math.max(0, Math.min(100 - (100 * b.charged_seconds) / total, (100 * (b.reserved_seconds || 0)) / total))}%`;
  bar.setAttribute("aria-valuenow", String(b.charged_seconds));
  bar.setAttribute("aria-valuemax", String(b.approved_seconds));
  $("budget-text").textContent = `${fmtSec(b.charged_seconds)} used${b.reserved_seconds ? ` + ${fmtSec(b.reserved_seconds)} reserved` : ""} of ${fmtSec(b.approved_seconds)}`;

  const gain = v.ne_gain_pct;
  const stats = [
    ["Baseline val NE", fmtNE(v.baseline?.val_ne), "stat-baseline"],
    ["Best val NE", fmtNE(v.best?.val_ne), "stat-best"],
    ["NE gain", Number.isFinite(gain) ? `${gain > 0 ? "+" : ""}${gain.toFixed(2)}%` : "–", "stat-gain"],
    ["Trials", `${v.trials ?? 0}${v.failures ? ` (${v.failures} failed jobs)` : ""}`, "stat-trials"],
    ["Jobs running", String((v.jobs_running || []).length), "stat-jobs"],
    ["Validated", (v.validated || []).map((x) => x.title).join(", ") || "–", "stat-validated"],
    ["Best change", v.best?.config_delta && Object.keys(v.best.config_delta).length ? JSON.stringify(v.best.config_delta) : "–", "stat-best-delta"],
    ["Launch", v.launch_decision || "–", "stat-launch"],
  ];
  stats.push(["Report", v.report_path ? h("a", { href: "#report-box", onclick: () => ($("report-box").open = true) }, "read it ↓") : "–", "stat-report"]);
  $("stats").replaceChildren(...stats.flatMap(([k, val, id]) => [
    h("dt", {}, k),
    h("dd", { "data-testid": id, class: id === "stat-best-delta" ? "mono small" : undefined, title: typeof val === "string" ? val : undefined }, val),
  ]));

  const active = ACTIVE.has(v.status);
  document.querySelectorAll("[data-steer]").forEach((b) => (b.disabled = !active));
  const skipped = new Set(v.steering?.skip_phases || []);
  for (const p of ["combination", "exploitation"]) {
    const btn = document.querySelector(`[data-steer="skip:${p}"]`);
    btn.setAttribute("aria-pressed", String(skipped.has(p)));
  }
  document.querySelector('[data-steer="wrap_up"]').setAttribute("aria-pressed", String(Boolean(v.steering?.wrap_up)));

  $("phase-table").replaceChildren(
    h("thead", {}, h("tr", {}, ["phase", "budget", "used", "trials"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, (v.phases || []).map((p) => h("tr", { class: p.name === v.phase ? "current" : undefined },
      h("td", {}, p.name), h("td", { class: "num" }, fmtSec(p.budget_seconds)), h("td", { class: "num" }, fmtSec(p.used_seconds)), h("td", { class: "num" }, p.trials)))));
  const notes = v.notes || [];
  if ($("notes").children.length !== notes.length) $("notes").replaceChildren(...notes.map((n) => h("li", {}, n)));
}

function renderPlots(trials) {
  nePlot($("plot-ne"), trials);
  phasePlot($("plot-phases"), trials);
  budgetPlot($("plot-budget"), trials, ui.view?.budget?.approved_seconds, ui.view?.created_at);
}

async function loadReport(cid) {
  const rep = await api(`/v1/campaigns/${encodeURIComponent(cid)}/report`);
  if (cid !== ui.selected) return;
  $("report-path").textContent = rep.path || "";
  $("report-md").textContent = rep.markdown || "";
  const imgs = await Promise.all((rep.plots || []).map(async (name) => {
    const path = `/v1/campaigns/${encodeURIComponent(cid)}/report/${encodeURIComponent(name)}`;
    const src = auth.token ? await blobUrl(path) : path;
    return h("a", { href: src, target: "_blank", rel: "noopener" }, h("img", { src, alt: `report plot ${name}`, loading: "lazy", "data-testid": "report-plot" }));
  }));
  $("report-plots").replaceChildren(...imgs);
  $("report-box").hidden = false;
  ui.reportFor = cid;
}

async function refreshJobs(cid) {
  if (!$("jobs-box").open) return;
  const { jobs } = await api(`/v1/campaigns/${encodeURIComponent(cid)}/jobs`);
  $("jobs-table").replaceChildren(
    h("thead", {}, h("tr", {}, ["job", "phase", "try", "state", "max", "failure", "finished"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, jobs.map((j) => h("tr", { class: j.state === "failed" ? "row-failed" : undefined },
      h("td", {}, h("button", { type: "button", class: "link mono small", onclick: () => showJob(j.job_id) }, j.job_id)),
      h("td", {}, j.phase || "–"), h("td", { class: "num" }, j.attempt), h("td", {}, h("span", { class: `badge job-${j.state}` }, j.state)),
      h("td", { class: "num" }, fmtSec(j.max_seconds)), h("td", { class: "small" }, j.failure_kind ? `${j.failure_kind}: ${j.failure_message || ""}` : ""),
      h("td", { class: "small" }, j.finished_at ? new Date(parseTime(j.finished_at)).toLocaleTimeString() : "")))));
}

async function showJob(jobId) {
  const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`).catch(showError);
  if (!job) return;
  const log = $("job-log");
  log.hidden = false;
  log.textContent = `${job.job_id} (${job.state}, attempt ${job.attempt})\n${job.log_tail || "(no log yet)"}`;
}

/** Reload the selected campaign: view, trials, approvals (and history, jobs, report). */
async function refreshSelected() {
  const cid = ui.selected;
  if (!cid) return;
  const enc = encodeURIComponent(cid);
  const [view, trials, approvals] = await Promise.all([
    api(`/v1/campaigns/${enc}`),
    api(`/v1/campaigns/${enc}/trials`),
    api(`/v1/approvals?campaign_id=${enc}&status=pending`),
  ]);
  if (cid !== ui.selected) return;
  ui.view = view;
  renderView(view);
  renderPlots(trials);
  const pending = approvals.approvals || [];
  renderApprovals($("approvals"), pending, () => setTimeout(() => refresh(true), 300));
  $("approvals-none").hidden = $("approvals").children.length > 0;
  if (!chat.thread && view.thread_id) await chat.open(view.thread_id);
  else if (!chat.streaming) await chat.sync();
  if (chat.thread === view.thread_id || chat.campaigns.has(cid)) chat.feedNotes(cid, view.notes || []);
  await refreshJobs(cid);
  if (view.report_path && ui.reportFor !== cid) await loadReport(cid).catch(() => {});
  if (!ACTIVE.has(view.status) && (ui.reportFor === cid || !view.report_path)) ui.finalFor = cid;
}

function showError(e) {
  setConn(e?.status === 401 ? "API token needed" : `⚠ ${e?.message || e}`);
}

/** One polling round; `force` also reloads a finished campaign once more. */
async function refresh(force = false) {
  if (force) ui.finalFor = null;
  if (ui.refreshing) return ui.refreshing;
  ui.refreshing = (async () => {
    try {
      const busy = ui.campaigns.some((c) => ACTIVE.has(c.status));
      if (force || busy || ui.ticks % 5 === 0) await loadCampaigns();
      if (ui.selected && ui.finalFor !== ui.selected) await refreshSelected();
      else if (!ui.selected && !chat.streaming) await chat.sync();
      setConn("");
    } catch (e) {
      showError(e);
    } finally {
      ui.refreshing = null;
    }
  })();
  return ui.refreshing;
}

let soon = null;
function onChatEvent(name, data) {
  if (["status", "progress", "approval", "done", "end"].includes(name)) {
    // A campaign started from the "no campaign" chat: show it.
    if (data.campaign_id && !ui.selected && name !== "progress") {
      loadCampaigns().then(() => select(data.campaign_id, { keepChat: true })).catch(showError);
      return;
    }
    clearTimeout(soon);
    soon = setTimeout(() => refresh(true), 250);
  }
}

// --- steering -------------------------------------------------------------------------------

document.querySelector(".controls").addEventListener("click", async (e) => {
  const btn = e.target.closest("[data-steer]");
  if (!btn || !ui.selected) return;
  const enc = encodeURIComponent(ui.selected);
  const what = btn.dataset.steer;
  try {
    if (what === "cancel") {
      if (btn.dataset.armed !== "1") {
        btn.dataset.armed = "1";
        btn.textContent = "Really cancel?";
        setTimeout(() => { btn.dataset.armed = ""; btn.textContent = "Cancel"; }, 4000);
        return;
      }
      await api(`/v1/campaigns/${enc}/cancel`, { method: "POST" });
    } else {
      let body;
      if (what === "wrap_up") body = { wrap_up: !ui.view?.steering?.wrap_up };
      else if (what === "add_budget") body = { add_budget_seconds: Number($("add-budget").value) };
      else {
        const phase = what.split(":")[1];
        const skip = new Set(ui.view?.steering?.skip_phases || []);
        if (skip.has(phase)) skip.delete(phase);
        else skip.add(phase);
        body = { skip_phases: [...skip] };
      }
      await api(`/v1/campaigns/${enc}/steer`, { method: "POST", body });
    }
    await refresh(true);
  } catch (x) {
    showError(x);
  }
});

$("jobs-box").addEventListener("toggle", () => ui.selected && refreshJobs(ui.selected).catch(showError));

// --- start ----------------------------------------------------------------------------------

async function start() {
  try {
    await loadCampaigns();
  } catch (e) {
    showError(e);
  }
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("campaign");
  await select(fromHash && ui.campaigns.some((c) => c.campaign_id === fromHash) ? fromHash : null);
  // The "no campaign" thread may have started one: show the latest it talked about.
  if (!ui.selected && ui.campaigns.some((c) => c.campaign_id === chat.lastCampaign)) {
    await select(chat.lastCampaign, { keepChat: true });
  }
  document.body.dataset.ready = "1";
  const loop = async () => {
    ui.ticks += 1;
    await refresh();
    setTimeout(loop, POLL_MS);
  };
  setTimeout(loop, POLL_MS);
}

start();
