"""The chat agent: a thread's conversation about its campaign (the web UI, `rea chat`, the API).

    agent = ChatAgent(ops, brain)
    reply = agent.reply("thread-1", "start dcn_v2 on synthetic:tiny budget 60")
    reply.text, reply.campaign_id, reply.follow   # follow: stream the campaign's progress now

With an LLM (`brain.is_llm`) the reply is free-form: a tool-calling loop whose tools are the
commands below (`chat_llm`). Offline, or when the LLM fails, the command grammar
(`chat_grammar`) answers. Every command goes through `run()`, so both paths do the same
things with the same checks. Both the user's message and the reply are stored in the thread
(with the campaign they are about); a thread's current campaign is the latest one it named.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from rea.agents.brain import Brain
from rea.trainers.errors import ReaError

from . import chat_text as text
from .chat_grammar import HELP, Command, closest, parse
from .chat_llm import ChatLLMError, llm_answer
from .ops import TERMINAL, CampaignOps, OpsError

log = logging.getLogger("rea.app.chat")
NO_CAMPAIGN = (
    "This thread has no campaign yet: `start MODEL on DATA budget SECONDS`, or `use ID` "
    "(see `campaigns`)."
)


@dataclass
class ChatReply:
    text: str
    campaign_id: str | None
    follow: bool


@dataclass
class Turn:
    """One message being answered: its thread, the campaign it is about, what it changed."""

    thread_id: str
    campaign_id: str | None
    follow: bool = False
    actions: list[str] = field(default_factory=list)  # what changed, for the LLM fallback


class ChatAgent:
    """Answers chat messages; thread-safe (one message per thread at a time)."""

    def __init__(self, ops: CampaignOps, brain: Brain | None = None):
        self.ops = ops
        self.brain = brain or Brain()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def reply(self, thread_id: str, text_: str) -> ChatReply:
        """Answer `text_` in `thread_id`; both messages are stored in the thread."""
        with self._lock(thread_id):
            store = self.ops.store
            turn = Turn(thread_id, store.chat_campaign(thread_id))
            history = store.chat_messages(thread_id)
            store.add_chat_message(thread_id, "user", text_, campaign_id=turn.campaign_id)
            answer = self._answer(turn, text_, history)
            store.add_chat_message(thread_id, "agent", answer, campaign_id=turn.campaign_id)
            return ChatReply(answer, turn.campaign_id, turn.follow)

    def run(self, turn: Turn, command: Command) -> str:
        """Do one command and say what happened; a refused request is a reply, not an error."""
        handler = getattr(self, f"_do_{command.name}")
        try:
            return handler(turn, **command.args)
        except ReaError as err:  # OpsError, a refused decision, an unknown id: say what to do
            return f"Can't do that: {err}"

    # --- the two ways to answer -------------------------------------------------------------
    def _answer(self, turn: Turn, text_: str, history: list[Any]) -> str:
        if self.brain.is_llm:
            try:
                return llm_answer(self, turn, text_, history)
            except ChatLLMError as err:
                why = str(err)[:300]
                log.warning("chat LLM failed, answering with the command grammar (%s)", why)
                self.brain.fallbacks.append(f"chat: {why}")
                if turn.actions:  # the model already did something: say what, don't redo it
                    done = "\n".join(turn.actions)
                    return f"(The LLM stopped without an answer: {why}.) What it did:\n{done}"
                note = (
                    f"(No usable answer from the LLM: {why}; answering with the command grammar.)"
                )
                return f"{note}\n{self._offline(turn, text_)}"
        return self._offline(turn, text_)

    def _offline(self, turn: Turn, text_: str) -> str:
        command = parse(text_)
        if command is None:
            hints = ", ".join(f"`{c}`" for c in closest(text_))
            return (
                f"I didn't understand “{text_.strip()[:80]}”. Closest: {hints} (`help` lists all)."
            )
        return self.run(turn, command)

    # --- commands ---------------------------------------------------------------------------
    def _do_help(self, turn: Turn) -> str:
        return HELP

    def _do_start(
        self,
        turn: Turn,
        model: str | None = None,
        data: str | None = None,
        budget: float | None = None,
        goal: str | None = None,
    ) -> str:
        given = (("model", model), ("data", data), ("budget", budget))
        missing = [name for name, value in given if value is None]
        if missing:
            return (
                f"To start a campaign I need the {', '.join(missing)}: e.g. `start dcn_v2 on "
                "synthetic:interaction-heavy?rows=60000 budget 240 goal: …`"
            )
        out = self.ops.create_campaign(str(model), str(data), float(budget or 0), goal=goal)
        cid = out["campaign_id"]
        self._switch(turn, cid, follow=True)
        turn.actions.append(f"started {cid}")
        return (
            f"Started **{cid}**: {model} on {data}, budget {float(budget or 0):.0f} trainer-s"
            + (f", goal: {goal}" if goal else "")
            + ". First the baseline (3 seeds, to measure noise and cost); then I propose a plan "
            "for your approval."
        )

    def _do_campaigns(self, turn: Turn) -> str:
        return text.campaigns_text(self.ops.list_campaigns(), turn.campaign_id)

    def _do_use(self, turn: Turn, campaign_id: str) -> str:
        view = self.ops.campaign(campaign_id)
        self._switch(turn, campaign_id)
        return f"Now talking about {campaign_id}.\n" + text.status_text(view)

    def _do_status(self, turn: Turn, campaign_id: str | None = None) -> str:
        return text.status_text(self.ops.campaign(self._cid(turn, campaign_id)))

    def _do_best(self, turn: Turn, campaign_id: str | None = None) -> str:
        cid = self._cid(turn, campaign_id)
        return text.best_text(self.ops.campaign(cid), self.ops.trials(cid)["trials"])

    def _do_jobs(self, turn: Turn, campaign_id: str | None = None) -> str:
        cid = self._cid(turn, campaign_id)
        return text.jobs_text(cid, self.ops.jobs(cid))

    def _do_job(
        self, turn: Turn, ref: int | str | None = None, campaign_id: str | None = None
    ) -> str:
        """`ref`: N (the campaign's N-th job, 1-based), a job id, or None (the latest failure)."""
        key = None if ref is None else str(ref).strip().lstrip("#")
        cid = self._cid(turn, campaign_id, required=key is None or key.isdigit())
        if key is not None and not key.isdigit():
            label, job_id = key, key
        else:
            rows = self.ops.jobs(cid or "")
            if key is None:
                failed = [n for n, r in enumerate(rows, 1) if r["state"] == "failed"]
                if not failed:
                    return f"No job of {cid} has failed ({len(rows)} jobs so far)."
                label, job_id = str(failed[-1]), rows[failed[-1] - 1]["job_id"]
            elif not 1 <= int(key) <= len(rows):
                return f"{cid} has {len(rows)} jobs: ask about job 1 to {len(rows)} (see `jobs`)."
            else:
                label, job_id = key, rows[int(key) - 1]["job_id"]
        row = self.ops.job(job_id)
        return text.job_text(label, row, self._agent_note(row))

    def _do_approvals(self, turn: Turn, campaign_id: str | None = None) -> str:
        cid = self._cid(turn, campaign_id, required=False)
        rows = self.ops.approvals(cid)
        if not rows:
            where = f"{cid}" if cid else "any campaign"
            waiting = self._waiting_jobs(cid) if cid else ""
            return f"Nothing waits on you in {where}.{waiting}"
        hyps = self._hypotheses({r["campaign_id"] for r in rows if r["kind"] == "plan"})
        return "\n\n".join(text.approval_text(r, hyps) for r in rows)

    def _do_approve(self, turn: Turn, **target: Any) -> str:
        return self._decide(turn, "approve", target)

    def _do_reject(self, turn: Turn, message: str | None = None, **target: Any) -> str:
        return self._decide(turn, "reject", target, message=message)

    def _do_edit(self, turn: Turn, id: str | None = None, raw: str | None = None) -> str:
        if not raw:
            return 'An edit needs the changed arguments as JSON: `edit ID {"experiments": [...]}`.'
        try:
            edits = _json_object(raw)
        except ValueError as err:
            return f'That JSON does not parse ({err}); e.g. `edit ID {{"extra_seconds": 60}}`.'
        return self._decide(turn, "edit", {"id": id} if id else {}, edits=edits)

    def _do_decide(
        self,
        turn: Turn,
        decision: str,
        approval_id: str | None = None,
        message: str | None = None,
        edits: dict[str, Any] | None = None,
        campaign_id: str | None = None,
    ) -> str:
        """The LLM's one tool for approve / reject / edit."""
        if decision == "edit" and not edits:
            return "An edit needs `edits`: the changed action arguments."
        target = {"id": approval_id, "campaign_id": campaign_id}
        target = {k: v for k, v in target.items() if v}
        return self._decide(turn, decision, target, message=message, edits=edits)

    def _do_skip(
        self, turn: Turn, phases: list[str] | None = None, campaign_id: str | None = None
    ) -> str:
        cid = self._cid(turn, campaign_id)
        if not phases:
            return "Skip which phase? `skip exploitation` or `skip combination`."
        out = self.ops.steer(cid, skip_phases=list(phases))
        self._switch(turn, cid, follow=True)
        turn.actions.append(f"{cid}: skip {', '.join(phases)}")
        return (
            f"Noted: {cid} will skip {' and '.join(phases)} (applies at the next phase "
            f"transition). Steering now: {text.delta_text(out['steering'])}."
        )

    def _do_steer(
        self,
        turn: Turn,
        skip_phases: list[str] | None = None,
        wrap_up: bool = False,
        campaign_id: str | None = None,
    ) -> str:
        """The LLM's one tool for skipping phases and wrapping up."""
        said = []
        if skip_phases:
            said.append(self._do_skip(turn, skip_phases, campaign_id))
        if wrap_up:
            said.append(self._do_wrap_up(turn, campaign_id))
        return "\n".join(said) or "Nothing to change: give skip_phases or wrap_up."

    def _do_wrap_up(self, turn: Turn, campaign_id: str | None = None) -> str:
        cid = self._cid(turn, campaign_id)
        self.ops.steer(cid, wrap_up=True)
        self._switch(turn, cid, follow=True)
        turn.actions.append(f"{cid}: wrap up")
        return (
            f"Noted: {cid} starts no new phase or round; once the running jobs finish it writes "
            "the report with what it has."
        )

    def _do_add_budget(
        self,
        turn: Turn,
        seconds: float | None = None,
        why: str = "asked in chat",
        campaign_id: str | None = None,
    ) -> str:
        cid = self._cid(turn, campaign_id)
        if not seconds:
            return "How much? e.g. `add budget 120` (trainer-seconds) or `add 2 minutes`."
        out = self.ops.add_budget(cid, float(seconds), why=why)
        self._switch(turn, cid, follow=True)
        turn.actions.append(f"{cid}: +{float(seconds):.0f} s budget")
        budget = self.ops.store.budget_status(cid)
        answered = (
            f" (answering the open budget request {out['approval_id']})"
            if "budget_seconds" not in out
            else ""
        )
        return (
            f"Added {float(seconds):.0f} trainer-s to {cid}{answered}: budget now "
            f"{budget.approved_seconds:.1f} s, {budget.charged_seconds:.1f} s used, "
            f"{budget.remaining_seconds:.1f} s left."
        )

    def _do_cancel(self, turn: Turn, campaign_id: str | None = None) -> str:
        cid = self._cid(turn, campaign_id)
        running = len(self.ops.campaign(cid)["jobs_running"])
        out = self.ops.cancel(cid)
        turn.actions.append(f"{cid}: cancelled")
        if out["status"] != "cancelled":
            return f"{cid} had already ended ({out['status']}); nothing to cancel."
        return f"Cancelled {cid}; {running} running job(s) stopped. Its results stay in the store."

    def _do_report(self, turn: Turn, campaign_id: str | None = None) -> str:
        return text.report_text(self.ops.report(self._cid(turn, campaign_id)))

    # --- helpers ----------------------------------------------------------------------------
    def _decide(
        self,
        turn: Turn,
        decision: str,
        target: dict[str, Any],
        *,
        message: str | None = None,
        edits: dict[str, Any] | None = None,
    ) -> str:
        approval = self._approval_for(turn, target, decision)
        if isinstance(approval, str):
            return approval  # a question back (none pending / which one?)
        aid, cid = approval["approval_id"], approval["campaign_id"]
        self.ops.decide(aid, decision, edits=edits, message=message)
        self._switch(turn, cid, follow=True)
        turn.actions.append(f"{aid}: {decision}")
        view = self.ops.campaign(cid)
        verb = {"approve": "Approved", "reject": "Rejected", "edit": "Edited and approved"}[
            decision
        ]
        why = f" ({message})" if message else ""
        return f"{verb} the {approval['kind']} ({aid}){why}. {_now(view, aid)}"

    def _approval_for(
        self, turn: Turn, target: dict[str, Any], decision: str
    ) -> dict[str, Any] | str:
        """The approval a decision is about: the named id, else the one pending approval of the
        campaign (of `kind`, when named); a question when there are none or several."""
        if target.get("id"):
            return self.ops.approval(target["id"])
        cid = self._cid(turn, target.get("campaign_id"))
        rows = self.ops.approvals(cid)
        if target.get("kind"):
            rows = [r for r in rows if r["kind"] == target["kind"]]
        if not rows:
            return f"Nothing of {cid} waits on a decision.{self._waiting_jobs(cid)}"
        if len(rows) > 1:
            ids = ", ".join(f"{r['approval_id']} ({r['kind']})" for r in rows)
            example = f"{decision} {rows[0]['approval_id']}"
            return f"Several approvals are pending: {ids}. Which one? e.g. `{example}`"
        return rows[0]

    def _cid(self, turn: Turn, campaign_id: str | None = None, *, required: bool = True) -> Any:
        cid = campaign_id or turn.campaign_id
        if cid is None and required:
            raise OpsError(NO_CAMPAIGN, 404)
        return cid

    def _switch(self, turn: Turn, campaign_id: str, *, follow: bool = False) -> None:
        turn.campaign_id = campaign_id
        status = self.ops.store.get_campaign(campaign_id).status
        turn.follow = turn.follow or (follow and status not in TERMINAL)

    def _waiting_jobs(self, cid: str) -> str:
        view = self.ops.campaign(cid)
        lines = text.waiting_text(view)
        return f" It is {view['status']}" + (f", waiting on {lines[0]}." if lines else ".")

    def _agent_note(self, row: dict[str, Any]) -> str | None:
        """The debugger's note about this job ("JOB failed (kind): action — diagnosis")."""
        job = self.ops.store.get_job(row["job_id"])
        notes = self.ops.campaign(job.campaign_id).get("notes") or []
        prefix = f"{row['job_id']} failed"
        found = next((n for n in notes if n.startswith(prefix)), None)
        return found.split(": ", 1)[-1] if found else None

    def _hypotheses(self, campaign_ids: set[str]) -> dict[str, Any]:
        store = self.ops.store
        return {h.id: h for cid in campaign_ids for h in store.list_hypotheses(cid)}

    def _lock(self, thread_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(thread_id, threading.Lock())


def _now(view: dict[str, Any], answered: str) -> str:
    """Where the campaign is after a decision (the service resumes it in the background)."""
    cid = view["campaign_id"]
    if any(w.get("approval_id") == answered for w in view.get("waiting_on") or []):
        return f"{cid} resumes now."
    now = f"{cid} is now {view['status']}" + (
        f", phase {view['phase']}" if view.get("phase") else ""
    )
    running = len(view.get("jobs_running") or [])
    return now + (
        f", {running} job(s) running." if running and view["status"] not in TERMINAL else "."
    )


def _json_object(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object {...}")
    return value
