"""The graph's pure parts: routing, the HITL shapes, decision checks, checkpointer URLs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rea.agents.schemas import RunRecord, SeedMetrics
from rea.graph import hitl
from rea.graph.builder import build_graph, builder
from rea.graph.checkpoint import open_checkpointer
from rea.graph.decisions import InvalidDecision, check_decision
from rea.graph.nodes import analysis, debugging, jobs, phases, planning, reporting
from rea.memory import ExperimentStore
from rea.trainers.errors import ConfigError


def test_routes_follow_the_state():
    assert jobs.after_launch({"pending": ["j"]}) == "wait"
    assert jobs.after_launch({"pending": []}) == "analyse"
    assert jobs.after_ingest({"failed": ["j"], "pending": ["k"]}) == "debug"
    assert jobs.after_ingest({"failed": [], "pending": ["k"]}) == "wait"
    assert jobs.after_ingest({"failed": [], "pending": []}) == "analyse"
    assert jobs.after_ingest({"failed": [], "launch": [{}], "pending": ["k"]}) == "launch"
    # A rolling exploitation analyses (and refills) as soon as one of its slots is free.
    rolling = {"phase": "exploitation", "slots": 2, "failed": []}
    assert jobs.after_ingest({**rolling, "pending": ["k"]}) == "analyse"
    assert jobs.after_ingest({**rolling, "pending": ["k", "l"]}) == "wait"
    assert jobs.after_ingest({**rolling, "phase": "combination", "pending": ["k"]}) == "wait"
    assert debugging.route({**rolling, "pending": ["k"]}) == "analyse"
    # nothing to start now, but jobs still run: wait for them (insights to Chroma first)
    assert phases.after_advance({"launch": [], "pending": ["k"]}) == "wait"
    assert phases.after_advance({"launch": [], "pending": ["k"], "insights_pending": ["i"]}) == (
        "memorise"
    )
    wanted = [
        {"max_seconds": 5, "est_seconds": 1},
        {"max_seconds": 12, "est_seconds": 4},
        {"max_seconds": 5, "est_seconds": 1},
    ]
    now, later = jobs._affordable(wanted, 12)
    assert [r["max_seconds"] for r in now] == [5, 5]  # 7 s left < 2 x 4 + 2 s for the second
    assert later == [wanted[1]]
    now, later = jobs._affordable(wanted, 9)
    assert [r["max_seconds"] for r in now] == [5, 4]  # the last one on a tighter leash
    assert later == [wanted[1]]
    assert debugging.route({"escalation": {"x": 1}, "failed": ["j"]}) == "escalate"
    assert debugging.route({"failed": ["j"]}) == "debug"
    assert debugging.route({"launch": [{}], "pending": ["j"]}) == "launch"
    assert debugging.route({"pending": ["j"]}) == "wait"
    assert debugging.route({}) == "analyse"
    assert analysis.after_analyse({"phase": "baseline"}) == "insights"
    # analyse plans the next batch in its step: it routes as advance does
    assert analysis.after_analyse({"phase": "validation"}) == "report"
    assert analysis.after_analyse({"phase": "validation", "launch": [{"a": 1}]}) == "launch"
    assert analysis.after_analyse({"phase": "combination", "budget_request": {"a": 1}}) == (
        "approve_budget"
    )
    assert analysis.after_analyse({"phase": "baseline", "status": "failed"}) == "report"
    assert phases.after_advance({"budget_request": {"a": 1}}) == "approve_budget"
    assert phases.after_advance({"launch": [{}]}) == "launch"
    assert phases.after_advance({"launch": []}) == "report"
    # An analysis's insights go to Chroma after the next launch, or before a human is asked.
    ins = {"insights_pending": ["i1"]}
    assert jobs.after_launch({**ins, "pending": ["j"]}) == "memorise"
    assert jobs.after_launch({**ins, "pending": []}) == "memorise"
    assert phases.after_advance({**ins, "budget_request": {"a": 1}}) == "memorise"
    assert phases.after_advance({**ins, "launch": [{}]}) == "launch"  # submitted first
    assert analysis.after_memorise({"pending": ["j"]}) == "wait"
    assert analysis.after_memorise({"pending": []}) == "analyse"
    assert analysis.after_memorise({"budget_request": {"a": 1}}) == "approve_budget"
    assert planning.after_plan_approval({"status": "cancelled"}) == "end"
    assert reporting.after_report({"status": "failed"}) == "end"
    assert reporting.after_report({"status": "running"}) == "propose_launch"


def test_graph_has_every_node_and_compiles_without_a_checkpointer():
    names = set(builder.nodes)
    assert {
        "setup",
        "launch",
        "wait",
        "ingest",
        "debug",
        "escalate",
        "analyse",
        "insights",
    } <= names
    assert {"research", "plan", "approve_plan", "advance", "approve_budget", "report"} <= names
    assert {"propose_launch", "memorise"} <= names
    assert build_graph() is not None


def test_hitl_request_has_the_langchain_shape():
    req = hitl.request("plan", "a1", "approve_plan", {"x": 1}, "why")
    assert req["action_requests"] == [
        {"name": "approve_plan", "args": {"x": 1}, "description": "why"}
    ]
    assert req["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    ok = hitl.HITLResponse.model_validate(
        {"decisions": [{"type": "edit", "edited_action": {"name": "n", "args": {}}}]}
    )
    assert hitl.status_of(ok.decision) == "edited"
    for bad in ({"decisions": []}, {"decisions": [{"type": "maybe"}]}, {"decision": "approve"}):
        with pytest.raises(ValidationError):
            hitl.HITLResponse.model_validate(bad)


@pytest.fixture
def store(tmp_path):
    s = ExperimentStore(f"sqlite:///{tmp_path}/s.db")
    s.migrate()
    return s


def _edit(args):
    return hitl.HITLResponse.model_validate(
        {"decisions": [{"type": "edit", "edited_action": {"name": "x", "args": args}}]}
    ).decision


def test_plan_edits_are_checked(store):
    c = store.create_campaign("dcn_v2", "synthetic:tiny", 100, baseline_config={"model": "dcn_v2"})
    request = {
        "remaining_seconds": 80.0,
        "experiments": [{"hypothesis_id": "h1", "config_delta": {"lr": 0.003}}],
    }
    approval = store.create_approval(c.id, "plan", request)
    check_decision(store, approval, _edit({"experiments": []}))
    check_decision(store, approval, _edit({"budget": {"validation": 40, "exploitation": 40}}))
    with pytest.raises(InvalidDecision, match="only keep or drop"):
        check_decision(store, approval, _edit({"experiments": [{"hypothesis_id": "new"}]}))
    with pytest.raises(InvalidDecision, match="only 80 s are left"):
        check_decision(store, approval, _edit({"budget": {"validation": 100}}))


def test_escalation_and_budget_edits_are_checked(store):
    c = store.create_campaign("dcn_v2", "synthetic:tiny", 100, baseline_config={"model": "dcn_v2"})
    exp = store.create_experiment(c.id, "validation", {"model": "dcn_v2"})
    esc = store.create_approval(c.id, "escalation", {"experiment_id": exp.id})
    check_decision(store, esc, _edit({"config_patch": {"batch_size": 512}}))
    with pytest.raises(InvalidDecision, match="does not validate"):
        check_decision(store, esc, _edit({"config_patch": {"batch_size": -1}}))
    budget = store.create_approval(c.id, "budget", {"extra_seconds": 10})
    with pytest.raises(InvalidDecision, match="extra_seconds"):
        check_decision(store, budget, _edit({"extra_seconds": 0}))


def test_checkpointer_url_must_be_sqlite_or_postgres(tmp_path):
    with open_checkpointer(f"sqlite:///{tmp_path}/ck.sqlite") as saver:
        # WAL, and no fsync per commit (as the store): killing the process loses no commit
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with pytest.raises(ConfigError, match="REA_CHECKPOINT_URL"), open_checkpointer("mysql://x"):
        pass


def test_an_approved_budget_ask_covers_the_step_it_was_for(tmp_path, monkeypatch):
    """Raising the budget by the asked amount makes the step affordable at once (the ask
    includes the safety reserve that grows with the budget), and each ask has its own id."""
    from types import SimpleNamespace

    from rea.app.campaigns import services_from
    from rea.app.settings import Settings
    from rea.graph.context import CampaignContext

    svc = services_from(Settings(home=tmp_path, brain="offline"))
    store = svc.store
    cid = "c-budget"
    store.create_campaign("dcn_v2", "synthetic:tiny", 100.0, thread_id="t-x", campaign_id=cid)
    batch = [{"experiment_id": "e1", "est_seconds": 120.0}]
    monkeypatch.setattr(
        phases, "_next_batch", lambda svc, state, view, runs=None: ("combination", 0, batch)
    )
    monkeypatch.setattr(phases, "_create", lambda svc, state, phase, rnd, items, view: items)
    runtime = SimpleNamespace(context=CampaignContext(services=svc))
    state = {"campaign_id": cid, "phase": "validation", "notes": []}

    asked = phases.advance(state, runtime)["budget_request"]
    assert asked["cost"] == 120.0 and asked["extra_seconds"] > 120.0 - 95.0
    store.decide_approval(asked["approval_id"], "approved", {"type": "approve"})
    store.raise_budget(cid, asked["extra_seconds"], approval_id=asked["approval_id"])
    after = phases.advance(state, runtime)
    assert after.get("launch") == batch and not after.get("budget_request")

    batch[0]["est_seconds"] = 400.0  # a later, bigger step asks again, under a new id
    again = phases.advance(state, runtime)["budget_request"]
    assert again["approval_id"] != asked["approval_id"]


def test_a_replayed_launch_counts_its_own_reservations_as_available():
    """A launch a crash cut short created and reserved some jobs: on the replay that budget is
    theirs (not spent), so they are submitted instead of deferred and dropped."""
    from types import SimpleNamespace

    class Store:
        def existing_job_ids(self, ids):
            return {"e1-a1", "e3-a1"} & set(ids)

        def reservation(self, job_id):
            settled = None if job_id == "e1-a1" else "2026-12-03"
            return SimpleNamespace(reserved=12.0, settled_at=settled)

    requests = [
        {"experiment_id": "e1", "attempt": 1, "max_seconds": 12.0},
        {"experiment_id": "e2", "attempt": 1, "max_seconds": 5.0},
        {"experiment_id": "e3", "attempt": 1, "max_seconds": 12.0},
    ]
    assert jobs._held(Store(), requests) == 12.0  # e1's open reservation; e3's is settled


# --- exploitation: rounds while the budget lasts, periodic confirmations, patience -----------


def _run(exp_id: str, phase: str, values: dict[int, float], lr: float) -> RunRecord:
    seeds = [SeedMetrics(seed=s, metrics={"val_ne": v}) for s, v in values.items()]
    mean = sum(values.values()) / len(values)
    return RunRecord(
        experiment_id=exp_id,
        phase=phase,
        config={"model": "dcn_v2", "lr": lr},
        seeds=seeds,
        metrics={"val_ne": mean},
        trainer_seconds=2.0 * len(values),
    )


class _Exploit:
    """`_next_batch` in the exploitation phase over a given history; rounds are recorded, not run."""

    def __init__(self, monkeypatch, runs: list[RunRecord]):
        from types import SimpleNamespace

        self.runs = runs
        self.svc = SimpleNamespace(
            store=None, seeds=(0, 1, 2), confirm_every=5, exploit_patience=10,
            max_exploit_rounds=100, rolling_exploitation=False, exploit_trials_per_round=2,
        )  # fmt: skip
        self.view = phases._View(
            campaign=SimpleNamespace(steering=None, baseline_config={"model": "dcn_v2"}),
            budget=None,
        )
        monkeypatch.setattr(phases, "load_runs", lambda store, cid: self.runs)
        self.wide: dict[int, bool] = {}  # round -> searched the wide space
        self.places: dict[int, list[int] | None] = {}  # round -> places planned (None: all)

        def exploit_round(svc, state, runs, rnd, view, *, wide=False, places=None):
            self.wide[rnd] = wide
            self.places[rnd] = None if places is None else list(places)
            return "exploitation", rnd, []

        monkeypatch.setattr(phases, "_exploit_round", exploit_round)

    def next(self, rnd: int, best: str | None = None, pending: list[str] | None = None):
        state = {"campaign_id": "c", "phase": "exploitation", "round": rnd}
        if pending:
            state["pending"] = pending
        if best:
            state["best_experiment_id"] = best
        return phases._next_batch(self.svc, state, self.view)

    def trials(self, rnd: int, values: list[float]) -> None:
        for i, v in enumerate(values):
            self.runs.append(_run(f"c-x{rnd}-{i}", "exploitation", {0: v}, lr=rnd + i / 10))


def _champion() -> list[RunRecord]:
    return [
        _run("c-base", "baseline", {0: 0.98, 1: 0.98, 2: 0.98}, lr=0.001),
        _run("c-c0", "combination", {0: 0.95, 1: 0.95, 2: 0.95}, lr=0.002),
    ]


def test_exploitation_confirms_its_best_trial_every_few_rounds_and_goes_on(monkeypatch):
    ex = _Exploit(monkeypatch, _champion())
    for rnd in range(1, 5):
        ex.trials(rnd, [0.97, 0.96])
        assert ex.next(rnd, "c-c0") == ("exploitation", rnd + 1, [])  # no confirmation yet
    ex.trials(5, [0.93, 0.99])  # beats the champion (0.95) on seed 0
    phase, rnd, items = ex.next(5, "c-c0")
    assert (phase, rnd) == ("exploitation", -5) and items[0]["confirm"] is True
    assert items[0]["config_delta"] == {"lr": 5.0} and items[0]["seeds"] == [0, 1, 2]
    assert phases._experiment_id("c", "exploitation", rnd, 0) == "c-xconfirm-5"
    # After the confirmation the rounds go on (they used to end the phase).
    ex.runs.append(_run("c-xconfirm-5", "exploitation", {0: 0.93, 1: 0.94, 2: 0.94}, lr=5.0))
    assert ex.next(-5, "c-xconfirm-5") == ("exploitation", 6, [])
    # A confirmed trial is not confirmed again, at the next confirmation point or at the end.
    for rnd in range(6, 11):
        ex.trials(rnd, [0.99, 0.98])
    assert ex.next(10, "c-xconfirm-5") == ("exploitation", 11, [])


def test_exploitation_goes_all_wide_after_patience_quiet_rounds_and_spends_its_budget(monkeypatch):
    ex = _Exploit(monkeypatch, _champion())
    ex.svc.max_exploit_rounds = 30
    for rnd in range(1, 30):
        ex.trials(rnd, [0.96, 0.97])  # never better than the champion's 0.95
        assert ex.next(rnd, "c-c0")[1] == rnd + 1  # quiet rounds do not end the phase
    # Rounds 1..10 search around the best; after 10 quiet rounds every trial searches wide.
    assert [r for r, wide in ex.wide.items() if wide] == list(range(11, 31))
    ex.trials(30, [0.96, 0.97])
    assert ex.next(30, "c-c0") is None  # the round cap, nothing to confirm: report


def test_a_better_wide_trial_brings_the_search_back_around_the_best(monkeypatch):
    ex = _Exploit(monkeypatch, _champion())
    for rnd in range(1, 13):
        ex.trials(rnd, [0.96, 0.97] if rnd != 12 else [0.94, 0.97])  # round 12 (wide) gains
        out = ex.next(rnd, "c-c0")
        if rnd % 5 == 0:
            assert out[1] == rnd + 1  # nothing to confirm at rounds 5 and 10
    assert [r for r, wide in ex.wide.items() if wide] == [11, 12]
    assert ex.wide[13] is False and out == ("exploitation", 13, [])


def test_exploitation_keeps_going_while_trials_improve_and_confirms_at_the_end(monkeypatch):
    ex = _Exploit(monkeypatch, _champion())
    value = 0.949
    for rnd in range(1, 15):
        ex.trials(rnd, [value, 0.99])
        value -= 0.001
        out = ex.next(rnd, "c-c0")
        if rnd % 5 == 0:  # an unconfirmed challenger at every confirmation point
            assert out[1] == -rnd
            ex.runs.append(_run(f"c-xconfirm-{rnd}", "exploitation", {0: value + 0.001, 1: 0.96, 2: 0.96}, lr=rnd))  # fmt: skip
            out = ex.next(-rnd, "c-c0")  # not validated: the champion stays
        assert out == ("exploitation", rnd + 1, []), rnd  # improving: past the old 10 rounds
    ex.svc.max_exploit_rounds = 15
    ex.trials(15, [0.90, 0.99])
    _, rnd, items = ex.next(15, "c-c0")  # the cap ends the phase with a confirmation
    assert rnd == -15 and items[0]["config_delta"] == {"lr": 15.0}
    ex.runs.append(_run("c-xconfirm-15", "exploitation", {0: 0.90, 1: 0.96, 2: 0.96}, lr=15.0))
    assert ex.next(-15, "c-c0") is None


class _Rolling(_Exploit):
    """`_Exploit` with a rolling exploitation: submitted trials are the runs' plus `planned`."""

    def __init__(self, monkeypatch, runs: list[RunRecord]):
        from types import SimpleNamespace

        super().__init__(monkeypatch, runs)
        self.svc.rolling_exploitation = True
        self.planned: list[str] = []
        self.unsubmitted: list[str] = []  # planned experiments without a job
        ids = lambda: [r.experiment_id for r in self.runs] + self.planned  # noqa: E731
        self.svc.store = SimpleNamespace(
            list_experiments=lambda cid, phase=None: [
                SimpleNamespace(id=i, config={}) for i in ids() + self.unsubmitted
            ],
            list_jobs=lambda cid: [SimpleNamespace(experiment_id=i) for i in ids()],
        )  # fmt: skip


def test_rolling_exploitation_fills_each_freed_slot_at_once(monkeypatch):
    ex = _Rolling(monkeypatch, _champion())
    for rnd in (1, 2):
        ex.trials(rnd, [0.97, 0.96])
    ex.trials(3, [0.97])  # round 3's place 1 still runs
    ex.planned = ["c-x3-1"]
    # One slot free: round 4 starts with its first place rather than wait for round 3.
    assert ex.next(3, "c-c0", pending=["c-x3-1-a1"]) == ("exploitation", 4, [])
    assert ex.places[4] == [0]
    # Round 3 ends while round 4's place 0 runs: the freed slot takes round 4's place 1.
    ex.trials(3, [0.97, 0.98])
    ex.runs.pop(-2)  # (trials() re-added x3-0)
    ex.planned, ex.unsubmitted = ["c-x4-0"], ["c-x4-1"]
    ex.places.clear()
    assert ex.next(4, "c-c0", pending=["c-x4-0-a1"]) == ("exploitation", 4, [])
    assert ex.places[4] == [1]
    # Both slots busy: nothing to plan.
    ex.planned = ["c-x4-0", "c-x4-1"]
    assert ex.next(4, "c-c0", pending=["c-x4-0-a1", "c-x4-1-a1"]) is None
    # A place planned but never submitted (a crash before the launch) is planned again: the
    # replayed step asks for the same experiment id, so nothing is planned twice.
    ex.planned = ["c-x4-0"]
    assert ex.next(4, "c-c0", pending=["c-x4-0-a1"]) == ("exploitation", 4, [])
    assert ex.places[4] == [1]


def test_rolling_confirmation_shares_the_slots_with_the_next_round(monkeypatch):
    ex = _Rolling(monkeypatch, _champion())
    for rnd in range(1, 5):
        ex.trials(rnd, [0.97, 0.96])
    ex.trials(5, [0.93, 0.99])  # a challenger: confirmed after round 5
    _, rnd, items = ex.next(5, "c-c0")  # both slots free
    assert rnd == 6 and ex.places[6] == [0]  # round 6's first trial beside the confirmation
    assert items[0]["confirm"] and items[0]["after_round"] == 5
    ex.places.clear()
    _, rnd, items = ex.next(5, "c-c0", pending=["c-x4-1-a1"])  # one slot free: it alone
    assert rnd == -5 and items[0]["confirm"] and 6 not in ex.places


def test_rolling_exploitation_waits_for_running_trials_before_it_ends(monkeypatch):
    ex = _Rolling(monkeypatch, _champion())
    for rnd in range(1, 4):
        ex.trials(rnd, [0.94, 0.96])  # beats the champion: a challenger to confirm at the end
    monkeypatch.setattr(phases, "_exploit_round", lambda *a, **k: None)  # the budget is spent
    ex.planned = ["c-x4-0"]
    assert ex.next(3, "c-c0", pending=["c-x4-0-a1"]) is None  # no final confirmation yet
    ex.planned = []
    _, rnd, items = ex.next(3, "c-c0")  # nothing runs: now the phase ends with it
    assert rnd == -3 and items[0]["confirm"]


def test_a_retry_goes_before_requests_still_waiting_for_budget(tmp_path):
    """A failed job's retry finishes an experiment already started: it must get the budget its
    failure freed before a request deferred for budget does (seen: a killed trial's retry was
    left unlaunched because the round's deferred second trial took the freed seconds)."""
    from types import SimpleNamespace

    from rea.app.campaigns import services_from
    from rea.app.settings import Settings
    from rea.graph.context import CampaignContext

    svc = services_from(Settings(home=tmp_path, brain="offline"))
    store = svc.store
    store.create_campaign("dcn_v2", "synthetic:tiny", 100.0, thread_id="t-r", campaign_id="c")
    store.create_experiment("c", "exploitation", {"model": "dcn_v2"}, experiment_id="c-x1-0")
    job = store.create_job("c-x1-0", "c-x1-0-a1", 10.0, job_id="c-x1-0-a1")
    store.reserve("c", job.job_id, 10.0, phase="exploitation")
    store.transition_job(job.job_id, "failed", failure_kind="killed", failure_message="SIGTERM")
    deferred = {"experiment_id": "c-x1-1", "attempt": 1, "max_seconds": 10.0, "est_seconds": 4.0}
    state = {"campaign_id": "c", "failed": [job.job_id], "launch": [deferred], "notes": []}
    out = debugging.debug(state, SimpleNamespace(context=CampaignContext(services=svc)))
    assert [(r["experiment_id"], r["attempt"]) for r in out["launch"]] == [
        ("c-x1-0", 2),
        ("c-x1-1", 1),
    ]


def _round_services(monkeypatch, plan, **overrides):
    """`_exploit_round`'s surroundings with `plan` as the planner (2 s per seed, no challenger,
    1000 s to spend): its services (`overrides` replace fields), view and state."""
    from types import SimpleNamespace

    monkeypatch.setattr(phases.planner, "plan_exploitation", plan)
    monkeypatch.setattr(phases, "seconds_per_seed", lambda store, cid, runs=None: 2.0)
    monkeypatch.setattr(phases, "_challenger", lambda svc, state, runs: None)
    monkeypatch.setattr(phases, "spendable", lambda store, cid, budget: 1000.0)
    fields = dict(
        store=None,
        seeds=(0, 1, 2),
        brain=None,
        exploit_trials_per_round=3,
        wide_trials_per_round=1,
        wide_stream="shared",
        keep_incumbent_family=True,
        prune_quantile=0.75,
        prune_min_runs=8,
    )
    svc = SimpleNamespace(**{**fields, **overrides})
    view = phases._View(campaign=SimpleNamespace(baseline_config={"model": "dcn_v2"}), budget=None)
    return svc, view, {"campaign_id": "c", "best_experiment_id": "c-c0"}


def test_an_exploitation_round_launches_the_trials_the_budget_can_pay(monkeypatch):
    """A costly proposal (the wide space can ask for 20 epochs) does not end the phase when a
    cheaper trial of the same round fits; the round is dropped only when none does."""

    from rea.agents.planner import PlannedExperiment

    runs = _champion()
    asked = {}

    def plan(brain, *, wide, n_trials, **kw):
        asked["wide"] = wide
        deltas = [{"epochs": 20}, {"lr": 0.003}, {"epochs": 10}][:n_trials]
        return [PlannedExperiment(title="t", config_delta=d, seeds=[0], est_seconds=1.0) for d in deltas], None  # fmt: skip

    svc, view, state = _round_services(monkeypatch, plan)  # (no curves in these runs: no bars)

    def costs(room: float) -> list[float] | None:
        monkeypatch.setattr(phases, "spendable", lambda store, cid, budget: room)
        out = phases._exploit_round(svc, state, runs, 3, view, wide=True)
        return None if out is None else [i["est_seconds"] for i in out[2]]

    full = costs(1000.0)
    assert asked["wide"] is True
    assert len(full) == 3 and full[0] > full[2] > full[1]  # epochs cost, lr does not
    # A trial needs what the launch node starts it with: twice its estimate + 2 s.
    need = [2 * c + 2 for c in full]
    assert costs(need[1] + need[2] + 0.1) == [full[1], full[2]]  # the 20 epochs do not fit
    assert costs(need[1] + 0.1) == [full[1]]
    assert costs(need[1] - 0.1) is None  # (its estimate alone would fit)
    # The challenger's confirmation is kept when it can be paid, not when it never can.
    cheap = _run("c-x2-0", "exploitation", {0: 0.9}, lr=0.01)  # 2 s: confirm ~7.8 s, needs ~17.6
    monkeypatch.setattr(phases, "_challenger", lambda svc, state, runs: cheap)
    keep = 2 * (1.3 * 2.0 * 3) + 2
    assert costs(need[1] + keep - 0.1) is None and costs(need[1] + keep + 0.1) == [full[1]]
    dear = _run("c-x2-0", "exploitation", {0: 0.9}, lr=0.01)
    dear.trainer_seconds = 500.0  # its confirmation needs ~3,900 s: never affordable here
    monkeypatch.setattr(phases, "_challenger", lambda svc, state, runs: dear)
    assert costs(need[1] + 0.1) == [full[1]]


def test_a_rounds_trials_carry_pruning_bars_once_runs_have_curves(monkeypatch):

    from rea.agents.planner import PlannedExperiment

    def plan(brain, *, n_trials, **kw):
        delta = {"epochs": 4}
        return [PlannedExperiment(title="t", config_delta=delta, seeds=[0], est_seconds=1.0)] * n_trials, None  # fmt: skip

    svc, view, state = _round_services(
        monkeypatch, plan, exploit_trials_per_round=2, prune_quantile=0.5, prune_min_runs=3
    )
    runs = _champion()
    _, _, items = phases._exploit_round(svc, state, runs, 1, view)
    assert not any("prune" in i for i in items)  # no curves yet: nothing to set bars from
    curves = [[0.99, 0.97, 0.96], [0.98, 0.95], [0.97, 0.94, 0.93, 0.92]]
    for i, curve in enumerate(curves):
        seeds = [SeedMetrics(seed=0, metrics={"val_ne": min(curve)}, curve=curve)]
        runs.append(_run(f"c-x1-{i}", "exploitation", {0: min(curve)}, lr=0.001))
        runs[-1] = runs[-1].model_copy(update={"seeds": seeds})
    _, _, items = phases._exploit_round(svc, state, runs, 2, view)
    # 4 epochs: bars on epochs 0-2 = the medians of the three runs' best by then
    expected = {"val_ne_above": [pytest.approx(0.98), pytest.approx(0.95), pytest.approx(0.95)]}
    assert [i["prune"] for i in items] == [expected, expected]
    svc.prune_quantile = None
    _, _, items = phases._exploit_round(svc, state, runs, 3, view)
    assert not any("prune" in i for i in items)


def test_a_round_mixes_trials_around_the_best_with_wide_ones(monkeypatch):

    from rea.agents.planner import PlannedExperiment

    calls = []

    def plan(brain, *, wide, n_trials, seed, **kw):
        calls.append((wide, n_trials, seed))
        delta = {"dropout": 0.5 if wide else 0.1}
        return [PlannedExperiment(title="t", config_delta=delta, seeds=[0], est_seconds=1.0)] * n_trials, None  # fmt: skip

    svc, view, state = _round_services(monkeypatch, plan)
    _, rnd, items = phases._exploit_round(svc, state, _champion(), 4, view)
    assert calls == [(False, 2, 4), (True, 1, 4)] and rnd == 4
    assert [i["config_delta"]["dropout"] for i in items] == [0.1, 0.1, 0.5]  # local ones first
    calls.clear()
    phases._exploit_round(svc, state, _champion(), 5, view, wide=True)  # stalled: all wide
    assert calls == [(True, 3, 5)]
    svc.wide_trials_per_round = 0
    calls.clear()
    phases._exploit_round(svc, state, _champion(), 6, view)
    assert calls == [(False, 3, 6)]


def test_an_independent_wide_stream_is_fit_to_its_own_trials_only(monkeypatch):
    """With `wide_stream="independent"` the wide place's TPE sees the baseline and the earlier
    wide trials only, as a TPE search of its own over the baseline's family (random start-up
    trials included, whatever family the best is); not the
    research cards, the trials around the best nor their confirmations (which it must still not
    propose again). The around-best places see every run, as before."""
    from rea.agents.planner import PlannedExperiment

    seen, anchors = {}, {}

    def plan(brain, *, wide, n_trials, runs, avoid, startup, best_config, **kw):
        seen[wide] = ([r.experiment_id for r in runs], [c["lr"] for c in avoid], startup)
        anchors[wide] = best_config
        delta = {"dropout": 0.5 if wide else 0.1}
        return [PlannedExperiment(title="t", config_delta=delta, seeds=[0], est_seconds=1.0)] * n_trials, None  # fmt: skip

    runs = [
        *_champion(),
        _run("c-x1-0", "exploitation", {0: 0.94}, lr=0.003),  # around the best
        _run("c-x1-1", "exploitation", {0: 0.97}, lr=0.3),  # the round's wide place
        _run("c-xconfirm-1", "exploitation", {0: 0.94, 1: 0.94, 2: 0.94}, lr=0.003),
        _run("c-x2-0", "exploitation", {0: 0.93}, lr=0.004),
        _run("c-x2-1", "exploitation", {0: 0.99}, lr=0.5),
    ]
    svc, view, state = _round_services(
        monkeypatch, plan, exploit_trials_per_round=2, wide_stream="independent"
    )
    phases._exploit_round(svc, state, runs, 3, view)
    every = [r.experiment_id for r in runs]
    assert seen[True] == (["c-base", "c-x1-1", "c-x2-1"], [0.002, 0.003, 0.003, 0.004], 11)
    assert seen[False] == (every, [], None)
    # The stream searches the baseline's family's space; the around-best places, the best's.
    assert anchors[True] == {"model": "dcn_v2"} and anchors[False] == runs[1].config
    phases._exploit_round(svc, state, runs, 4, view, wide=True)  # stalled: all wide, every run
    assert seen[True] == (every, [], None)
    svc.wide_stream = "shared"
    phases._exploit_round(svc, state, runs, 5, view)
    assert seen[True] == (every, [], None)


def test_a_family_switch_keeps_one_place_a_round_on_the_incumbent_family(monkeypatch):
    """While the best config is a FinalMLP one and the baseline a DCN-v2 one, the round's last
    place (otherwise the wide one) searches around the best DCN-v2 run on the trials' seed, in
    its local space, fit to every run; the other places follow the best. With one trial a
    round, every other round is the incumbent's. Back on the baseline's family, or with
    `keep_incumbent_family` off, the last place is wide again."""
    from rea.agents.planner import PlannedExperiment

    seen = []

    def plan(brain, *, wide, n_trials, runs, best_config, **kw):
        seen.append((wide, n_trials, best_config["model"], best_config["lr"], len(runs)))
        delta = {"model": best_config["model"], "lr": best_config["lr"] * 2}
        return [PlannedExperiment(title="t", config_delta=delta, seeds=[0], est_seconds=1.0)] * n_trials, None  # fmt: skip

    def finalmlp(run: RunRecord) -> RunRecord:
        return run.model_copy(update={"config": {**run.config, "model": "finalmlp"}})

    runs = [
        _run("c-base", "baseline", {0: 0.98, 1: 0.98, 2: 0.98}, lr=0.001),
        finalmlp(_run("c-v0", "validation", {0: 0.95, 1: 0.95, 2: 0.95}, lr=0.002)),
        _run("c-v1", "validation", {0: 0.97, 1: 0.975, 2: 0.97}, lr=0.003),
        _run("c-x1-0", "exploitation", {0: 0.965}, lr=0.004),  # DCN-v2's best on seed 0
        finalmlp(_run("c-x1-1", "exploitation", {0: 0.94}, lr=0.005)),
    ]
    svc, view, state = _round_services(monkeypatch, plan, exploit_trials_per_round=2)
    state["best_experiment_id"] = "c-v0"
    _, _, items = phases._exploit_round(svc, state, runs, 2, view)
    assert seen == [(False, 1, "finalmlp", 0.002, 5), (False, 1, "dcn_v2", 0.004, 5)]
    assert [(i["place"], i["config_delta"]["model"]) for i in items] == [
        (0, "finalmlp"),
        (1, "dcn_v2"),
    ]
    seen.clear()
    phases._exploit_round(svc, state, runs, 3, view, wide=True)  # stalled: the rest go wide
    assert seen == [(True, 1, "finalmlp", 0.002, 5), (False, 1, "dcn_v2", 0.004, 5)]
    seen.clear()
    phases._exploit_round(svc, state, runs, 3, view, places=[1])  # a rolling refill
    assert seen == [(False, 1, "dcn_v2", 0.004, 5)]
    svc.exploit_trials_per_round = 1
    for rnd in (4, 5):
        seen.clear()
        phases._exploit_round(svc, state, runs, rnd, view)
        assert [s[2] for s in seen] == (["dcn_v2"] if rnd % 2 == 0 else ["finalmlp"])
    svc.exploit_trials_per_round = 2
    svc.keep_incumbent_family = False
    seen.clear()
    phases._exploit_round(svc, state, runs, 6, view)
    assert seen == [(False, 1, "finalmlp", 0.002, 5), (True, 1, "finalmlp", 0.002, 5)]
    svc.keep_incumbent_family = True
    state["best_experiment_id"] = "c-x1-0"  # a DCN-v2 trial became the best
    seen.clear()
    phases._exploit_round(svc, state, runs, 7, view)
    assert seen == [(False, 1, "dcn_v2", 0.004, 5), (True, 1, "dcn_v2", 0.004, 5)]


@pytest.mark.parametrize("kind", ["diverged", "timeout", "nan_loss", "oom", "killed"])
def test_an_exploitation_trial_failing_on_its_config_is_dropped_not_debugged(tmp_path, kind):
    """A one-seed exploitation trial is exploration: a config that is too slow or unstable is
    a result (its budget goes to the next trials); a killed one is retried, and a confirmation
    is debugged like any experiment."""
    from types import SimpleNamespace

    from rea.app.campaigns import services_from
    from rea.app.settings import Settings
    from rea.graph.context import CampaignContext
    from rea.trainers.config import default_config

    svc = services_from(Settings(home=tmp_path, brain="offline"))
    store = svc.store
    store.create_campaign("dcn_v2", "synthetic:tiny", 100.0, thread_id="t-d", campaign_id="c")
    store.update_campaign("c", baseline_config=default_config("dcn_v2").model_dump())
    out = {}
    for exp_id in ("c-x3-1", "c-xconfirm-5"):
        config = default_config("dcn_v2").model_dump()
        store.create_experiment("c", "exploitation", config, experiment_id=exp_id)
        job = store.create_job(exp_id, f"{exp_id}-a1", 10.0, job_id=f"{exp_id}-a1")
        store.reserve("c", job.job_id, 10.0, phase="exploitation")
        store.transition_job(job.job_id, "failed", failure_kind=kind, failure_message="boom")
        state = {"campaign_id": "c", "failed": [job.job_id], "launch": [], "notes": []}
        out[exp_id] = debugging.debug(state, SimpleNamespace(context=CampaignContext(services=svc)))
    trial, confirm = out["c-x3-1"], out["c-xconfirm-5"]
    if kind == "killed":
        assert [r["experiment_id"] for r in trial["launch"]] == ["c-x3-1"]
    else:
        assert not trial.get("launch") and "dropped, not retried" in trial["notes"][-1]
    assert [r["experiment_id"] for r in confirm["launch"]] == ["c-xconfirm-5"]
