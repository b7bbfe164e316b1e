"""The chat agent's replies as short markdown-ish text, from the views `CampaignOps` returns.

Pure functions of those views (dicts), so they are tested without a campaign. Numbers: NE and
AUC with 4 decimals, gains in % (positive = better), budgets in trainer-seconds.
"""

from __future__ import annotations

import json
from typing import Any

LOG_LINES = 8
MAX_JOB_ROWS = 25
ENDED = ("completed", "failed", "cancelled")
WAIT_HINT = "say `approvals` to read it, then `approve` or `reject … because …`"


def num(value: Any, digits: int = 4) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def seconds(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f}"


def delta_text(delta: dict[str, Any] | None) -> str:
    return json.dumps(delta or {}, separators=(", ", ": "), default=str)


def status_text(view: dict[str, Any]) -> str:
    """Where the campaign is: status, budget, baseline vs best, running jobs, what it waits on."""
    budget = view.get("budget") or {}
    lines = [
        f"**{view['campaign_id']}** {view['model']} on {view['data']} — {view['status']}"
        + (f" (phase {view['phase']})" if view.get("phase") else ""),
    ]
    if view.get("goal"):
        lines.append(f"Goal: {view['goal']}")
    lines.append(
        f"Budget: {seconds(budget.get('charged_seconds'))} / "
        f"{seconds(budget.get('approved_seconds'))} trainer-s used, "
        f"{seconds(budget.get('remaining_seconds'))} left"
        + (
            f" ({seconds(budget['reserved_seconds'])} reserved by running jobs)"
            if budget.get("reserved_seconds")
            else ""
        )
    )
    lines.append(_headline(view))
    ended = view["status"] in ENDED
    running = [] if ended else view.get("jobs_running") or []
    counts = (
        f"{view.get('trials', 0)} experiments finished, {view.get('failures', 0)} failed job(s)"
    )
    lines.append(counts + (f"; running: {', '.join(running)}" if running else ""))
    steering = _steering_text(view.get("steering") or {})
    if steering and not ended:
        lines.append(f"Steering: {steering}")
    lines += [] if ended else [f"Waiting on: {w}" for w in waiting_text(view)]
    notes = view.get("notes") or []
    if notes:
        lines.append("Latest: " + notes[-1])
    return "\n".join(lines)


def waiting_text(view: dict[str, Any]) -> list[str]:
    out = []
    for w in view.get("waiting_on") or []:
        if w["type"] == "approval":
            out.append(f"your approval of the {w['kind']} ({w['approval_id']}): {WAIT_HINT}")
        else:
            out.append(f"{len(w['jobs'])} training job(s): {', '.join(w['jobs'])}")
    return out


def best_text(view: dict[str, Any], trials: list[dict[str, Any]] | None = None) -> str:
    """The best configuration so far (beyond the baseline's seed noise) vs the baseline; and the
    lowest single run when it is another one (e.g. an exploitation trial not yet confirmed)."""
    text_ = _best(view)
    lowest = min(
        (t for t in trials or [] if t.get("val_ne") is not None and t["phase"] != "baseline"),
        key=lambda t: t["val_ne"],
        default=None,
    )
    best_ne = view["best"].get("val_ne")
    if lowest and (best_ne is None or lowest["val_ne"] < best_ne):
        text_ += (
            f"\nLowest single run: {lowest['title']} ({lowest['experiment_id']}, "
            f"{lowest['phase']}) val NE {num(lowest['val_ne'])}, not (yet) confirmed "
            "beyond the seed noise."
        )
    return text_


def _best(view: dict[str, Any]) -> str:
    base, best = view["baseline"], view["best"]
    cid = view["campaign_id"]
    if base.get("val_ne") is None:
        return f"{cid}: no finished run yet; the baseline is still training ({view['status']})."
    if best.get("experiment_id") in (None, f"{cid}-base") or not best.get("config_delta"):
        return (
            f"{cid}: nothing has beaten the baseline yet ({view.get('trials', 0)} experiments "
            f"finished). Baseline val NE {num(base['val_ne'])}, AUC {num(base['val_auc'])}, "
            f"test NE {num(base['test_ne'])}."
        )
    lines = [
        f"Best so far in {cid}: {best['experiment_id']} — val NE {num(best['val_ne'])} vs "
        f"baseline {num(base['val_ne'])} ({_gain(view.get('ne_gain_pct'))} NE gain)",
        f"AUC {num(best['val_auc'])} (baseline {num(base['val_auc'])}) · test NE "
        f"{num(best['test_ne'])} (baseline {num(base['test_ne'])})",
        f"Config change: {delta_text(best.get('config_delta'))}",
    ]
    validated = view.get("validated") or []
    if validated:
        titles = "; ".join(f"[{v['source']}] {v['title']}" for v in validated)
        lines.append(f"Validated (beat the baseline's seed noise): {titles}")
    return "\n".join(lines)


def jobs_text(campaign_id: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"{campaign_id} has no training jobs yet."
    lines = [f"Jobs of {campaign_id} ({len(rows)}, oldest first):"]
    shown = list(enumerate(rows, 1))[-MAX_JOB_ROWS:]
    if len(rows) > MAX_JOB_ROWS:
        lines.append(f"(the first {len(rows) - MAX_JOB_ROWS} are not shown)")
    lines += [f"{n}. {job_line(row)}" for n, row in shown]
    if any(r["state"] == "failed" for r in rows):
        lines.append("Ask `why did job N fail?` for a failure's details.")
    return "\n".join(lines)


def job_line(row: dict[str, Any]) -> str:
    what = row["phase"] or "?"
    if row.get("config_delta"):
        what += f" {delta_text(row['config_delta'])}"
    state = row["state"]
    if state == "failed":
        state = f"failed ({row['failure_kind']}): {_short(row.get('failure_message'))}"
    elif state == "succeeded" and row.get("metrics"):
        state = f"succeeded, val NE {num(row['metrics'].get('val_ne'))}"
    attempt = f", attempt {row['attempt']}" if row.get("attempt", 1) > 1 else ""
    return f"{row['job_id']} — {what} — {state}{attempt}"


def job_text(label: str, row: dict[str, Any], agent_note: str | None) -> str:
    """One job explained: its failure, what the agent did about it, the next attempt, the log."""
    head = f"Job {label} ({row['job_id']}, {row['phase']}, attempt {row['attempt']})"
    if row["state"] != "failed":
        change = delta_text(row["config_delta"]) if row.get("config_delta") else "none (baseline)"
        return f"{head} {row['state']}; it did not fail. Config change: {change}."
    lines = [f"{head} failed: {row['failure_kind']} — {row.get('failure_message') or 'no message'}"]
    if agent_note:
        lines.append(f"What the agent did: {agent_note}")
    nxt = row.get("next_attempt")
    if nxt:
        lines.append(f"Next attempt: {nxt['job_id']} (attempt {nxt['attempt']}) {nxt['state']}.")
    else:
        lines.append("No retry was launched (see `approvals` for an escalation).")
    tail = [line[:160] for line in (row.get("log_tail") or "").splitlines()[-LOG_LINES:]]
    if tail:
        lines += ["Log tail:", "```", *tail, "```"]
    return "\n".join(lines)


def approval_text(row: dict[str, Any], hypotheses: dict[str, Any]) -> str:
    """What the human is asked, summarised per kind (the plan: hypotheses, cost, budget split)."""
    req, aid = row.get("request") or {}, row["approval_id"]
    kind = row["kind"]
    if kind == "plan":
        return _plan_text(aid, req, hypotheses)
    if kind == "budget":
        return (
            f"**Budget** ({aid}): the {req.get('phase', 'next')} step needs "
            f"{seconds(req.get('cost'))} trainer-s; add {seconds(req.get('extra_seconds'))} s? "
            f'(`approve`, `edit {aid} {{"extra_seconds": N}}` or `reject`)'
        )
    if kind == "escalation":
        failure, diag = req.get("failure") or {}, req.get("diagnosis") or {}
        return (
            f"**Escalation** ({aid}): job {req.get('job_id')} failed ({failure.get('kind')}): "
            f"{diag.get('diagnosis', '')}\nProposed fix: {delta_text(diag.get('config_patch'))}. "
            "`approve` retries with it, `reject` drops the experiment."
        )
    if kind == "launch":
        return _launch_text(aid, req)
    return f"**{kind}** ({aid}): {delta_text(req)}"


def campaigns_text(rows: list[dict[str, Any]], current: str | None) -> str:
    if not rows:
        return "No campaigns yet: `start MODEL on DATA budget SECONDS`."
    lines = ["Campaigns (newest last; `use ID` to talk about one):"]
    for r in rows[-20:]:
        mark = " ← this thread" if r["campaign_id"] == current else ""
        lines.append(
            f"- {r['campaign_id']} {r['status']} {r['phase'] or ''} · {r['model']} on {r['data']}"
            f" · {seconds(r['budget_used_seconds'])}/{seconds(r['budget_seconds'])} s{mark}"
        )
    return "\n".join(lines)


def report_text(report: dict[str, Any], max_chars: int = 1800) -> str:
    md = report["markdown"]
    body = md if len(md) <= max_chars else md[:max_chars].rsplit("\n", 1)[0] + "\n…"
    plots = ", ".join(report["plots"]) or "none"
    return f"Report: {report['path']} (plots: {plots})\n\n{body}"


# --- internals ----------------------------------------------------------------------------
def _headline(view: dict[str, Any]) -> str:
    base, best = view["baseline"], view["best"]
    if base.get("val_ne") is None:
        return "Baseline: still training."
    text = f"Baseline val NE {num(base['val_ne'])}"
    if best.get("config_delta"):
        text += (
            f" · best {num(best['val_ne'])} ({_gain(view.get('ne_gain_pct'))}) "
            f"{delta_text(best['config_delta'])}"
        )
    return text


def _gain(pct: Any) -> str:
    return "—" if pct is None else f"{float(pct):+.2f}%"


def _steering_text(steering: dict[str, Any]) -> str:
    parts = [f"skip {p}" for p in steering.get("skip_phases") or []]
    if steering.get("wrap_up"):
        parts.append("wrap up after this phase")
    return ", ".join(parts)


def _short(text: Any, n: int = 120) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[: n - 1] + "…"


def _plan_text(aid: str, req: dict[str, Any], hypotheses: dict[str, Any]) -> str:
    experiments = req.get("experiments") or []
    total = sum(float(e.get("est_seconds") or 0) for e in experiments)
    lines = [
        f"**Plan** ({aid}): {len(experiments)} validation experiments, ~{total:.1f} trainer-s; "
        f"budget {seconds(req.get('budget_seconds'))} s, {seconds(req.get('remaining_seconds'))} "
        "left after the baseline."
    ]
    for i, e in enumerate(experiments, 1):
        hyp = hypotheses.get(e.get("hypothesis_id") or "")
        source = _source(hyp) if hyp is not None else "combination"
        seeds = len(e.get("seeds") or [])
        lines.append(
            f"{i}. [{source}] {e['title']} — {delta_text(e.get('config_delta'))} · "
            f"~{seconds(e.get('est_seconds'))} s, {seeds} seeds"
        )
    budget = req.get("budget") or {}
    split = " · ".join(f"{k} {seconds(v)} s" for k, v in budget.items())
    lines.append(f"Budget split: {split}")
    dropped = req.get("dropped") or []
    if dropped:
        reasons = "; ".join(f"{d.get('hypothesis_id')}: {d.get('reason')}" for d in dropped[:5])
        lines.append(f"Dropped {len(dropped)}: {reasons}")
    lines.append(
        f"`approve` to run it, `reject because …` to cancel the campaign, or "
        f'`edit {aid} {{"experiments": [...]}}` to keep only some experiments.'
    )
    return "\n".join(lines)


def _source(hyp: Any) -> str:
    evidence = hyp.evidence or {}
    if hyp.source == "research" and evidence.get("citation"):
        return f"research: {evidence['citation']}"
    if hyp.source == "insight":
        n = len(evidence.get("insight_ids") or [])
        return f"insight: {n} past finding{'s' if n != 1 else ''}" if n else "insight"
    return hyp.source


def _launch_text(aid: str, req: dict[str, Any]) -> str:
    if req.get("keep_baseline"):
        return (
            f"**Launch** ({aid}): nothing beat the baseline; keep the current config? (`approve`)"
        )
    ci = ""
    if req.get("ci_lo") is not None:
        ci = f", 95% CI [{float(req['ci_lo']):+.2f}%, {float(req['ci_hi']):+.2f}%]"
    test = req.get("test") or {}
    return (
        f"**Launch** ({aid}): {req.get('experiment_id')} — val NE {num(req.get('best_val_ne'))} vs "
        f"baseline {num(req.get('baseline_val_ne'))} ({_gain(req.get('expected_gain_pct'))}{ci}, "
        f"{'validated' if req.get('validated') else 'not validated'}); test NE "
        f"{num((test.get('best') or {}).get('test_ne'))} vs "
        f"{num((test.get('baseline') or {}).get('test_ne'))}.\n"
        f"Config change: {delta_text(req.get('config_delta'))}. `approve` to launch it."
    )
