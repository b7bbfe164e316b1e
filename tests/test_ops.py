"""Campaign operations shared by the API, chat and CLI: steering (skip phases, wrap up), more
budget, cancel, the dashboard data, and `rea run`'s live view — on real campaigns."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console
from service_helpers import WEAK

from rea.app.campaigns import open_runner
from rea.app.ops import CampaignOps, OpsError
from rea.app.progress import render, snapshot
from rea.app.run_cli import yes_approver
from rea.app.settings import Settings
from rea.app.wake import Sweeper, Waker, reconcile

pytestmark = pytest.mark.slow
DATA = "synthetic:interaction-heavy?rows=8000&seed=0"


@pytest.fixture
def ops():
    with open_runner(Settings(brain="offline")) as runner:
        yield CampaignOps(runner)


def _to_plan(ops: CampaignOps, budget: float) -> tuple[str, dict]:
    """A campaign driven up to its plan approval (the baseline has run)."""
    cid = ops.create_campaign("dcn_v2", DATA, budget, baseline=WEAK)["campaign_id"]
    ops.runner.drive(cid, lambda p: None)  # returns at the first unanswered approval
    (plan,) = ops.approvals(cid)
    assert plan["kind"] == "plan" and plan["interrupt"]["action_requests"]
    return cid, plan


def test_skipping_phases_ends_after_validation(ops):
    cid, plan = _to_plan(ops, 40)
    ops.steer(cid, skip_phases=["combination", "exploitation"])
    assert ops.campaign(cid)["steering"] == {"skip_phases": ["combination", "exploitation"]}
    ops.decide(plan["approval_id"], "approve")
    status = ops.runner.drive(cid, yes_approver)
    assert status == "completed"
    phases = {e.phase for e in ops.store.list_experiments(cid)}
    assert phases <= {"baseline", "validation"} and "validation" in phases
    with pytest.raises(OpsError, match="completed"):
        ops.steer(cid, wrap_up=True)

    data = ops.trials(cid)  # what the dashboard plots
    assert data["trials"][0]["title"] == "baseline"
    assert len(data["trials"]) == len({e.id for e in ops.store.list_experiments(cid)})
    band = data["baseline"]
    assert band["low"] < band["mean"] < band["high"]
    assert data["budget_burn"] and data["budget_burn"][-1]["charged_seconds"] <= 40
    assert [p["phase"] for p in data["phases"]] == ["baseline", "validation"]
    view = snapshot(ops.runner, cid)  # `rea run`'s live view
    assert view["status"] == "completed" and view["best_ne"] is not None
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=False).print(render(cid, view))
    assert "best val NE" in out.getvalue() and "trainer-s used" in out.getvalue()
    with pytest.raises(OpsError, match="no job"):
        ops.job("nope")


def test_budget_cancel_and_bad_decisions(ops):
    cid, plan = _to_plan(ops, 40)
    with pytest.raises(OpsError, match="needs `edits`"):
        ops.decide(plan["approval_id"], "edit")
    with pytest.raises(OpsError, match="only keep or drop"):
        ops.decide(plan["approval_id"], "edit", edits={"experiments": [{"hypothesis_id": "x"}]})
    with pytest.raises(OpsError, match="approve, edit or reject"):
        ops.decide(plan["approval_id"], "maybe")
    assert [a["approval_id"] for a in ops.approvals(cid)] == [plan["approval_id"]]
    before = ops.store.budget_status(cid).approved_seconds
    added = ops.add_budget(cid, 15, why="more room")
    assert ops.store.budget_status(cid).approved_seconds == before + 15
    assert ops.store.get_approval(added["approval_id"]).status == "approved"
    with pytest.raises(OpsError, match="positive"):
        ops.add_budget(cid, 0)

    # The service died after the plan node recorded the decision, before its step was saved:
    # SQL says approved, the interrupt is still pending. Start-up reconciliation resumes it.
    ops.store.decide_approval(plan["approval_id"], "approved", {"type": "approve"})
    thread = ops.runner.thread_of(cid)
    assert [p.approval_id for p in ops.runner.pending(thread)] == [plan["approval_id"]]
    waker = Waker(ops.runner)
    found = reconcile(ops.runner, waker, Sweeper(ops.runner, waker))
    assert found["decisions"] == 1 and waker.wait_idle(120)
    waker.shutdown()
    assert all(p.approval_id != plan["approval_id"] for p in ops.runner.pending(thread))
    assert {e.phase for e in ops.store.list_experiments(cid)} >= {"validation"}
    ops.cancel(cid)
    assert ops.campaign(cid)["status"] == "cancelled"
    with pytest.raises(OpsError, match="cancelled"):
        ops.add_budget(cid, 10)


def test_the_sweeper_waits_for_running_wake_ups_but_is_never_starved():
    """A pass over every live job would take the GIL from a running wake-up: passes wait while
    one runs, at most `max_deferred` in a row."""
    from types import SimpleNamespace

    busy = {"n": 1}
    waker = SimpleNamespace(busy=lambda: busy["n"])
    sweeper = Sweeper(SimpleNamespace(services=None), waker, interval=0.005)  # type: ignore[arg-type]
    sweeper.max_deferred = 3
    passes: list[str] = []  # per loop turn: "wait" or "sweep (busy)" / "sweep (idle)"
    sweeper.sweep = lambda **kw: passes.append(f"sweep ({'busy' if busy['n'] else 'idle'})")  # type: ignore[method-assign]
    yields = sweeper._yields
    sweeper._yields = lambda d: yields(d) and not passes.append("wait")  # type: ignore[method-assign]
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while passes.count("sweep (busy)") < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        busy["n"] = 0
        while passes.count("sweep (idle)") < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        sweeper.stop()
    cycle = ["wait"] * 3 + ["sweep (busy)"]
    assert passes[:8] == cycle * 2  # busy: 3 passes wait, the 4th sweeps anyway
    idle = passes[passes.index("sweep (idle)") :]
    assert idle[:3] == ["sweep (idle)"] * 3  # idle: every pass sweeps
    assert Sweeper(SimpleNamespace(services=None), SimpleNamespace())._yields(0) is False  # type: ignore[arg-type]
