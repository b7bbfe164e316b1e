"""write_insights: campaign comparisons into a real SQLite store and a real Chroma memory, once."""

from __future__ import annotations

import pytest

from rea.agents.analyst import compare, index_insights, write_insights
from rea.agents.schemas import RunRecord, SeedMetrics
from rea.memory import ExperimentStore, default_embedder, open_chroma
from rea.memory.insights import InsightMemory, insight_id

CONFIG = {"model": "dcn_v2", "lr": 0.001, "dropout": 0.0, "batch_size": 2048}
DATASET = {"source": "synthetic", "preset": "interaction-heavy", "rows": 60000}
TITLES = {"h1": "Lower learning rate", "h2": "Add dropout", "h3": "Bigger batch"}


def run(eid: str, ne: list[float], delta: dict, hid: str | None = None) -> RunRecord:
    return RunRecord(
        experiment_id=eid,
        hypothesis_id=hid,
        phase="validation" if hid else "baseline",
        config_delta=delta,
        config={**CONFIG, **delta},
        seeds=[SeedMetrics(seed=s, metrics={"val_ne": v}) for s, v in enumerate(ne)],
        metrics={"val_ne": sum(ne) / len(ne)},
        trainer_seconds=12.5,
    )


@pytest.fixture(scope="module")
def embedder():
    return default_embedder()


@pytest.fixture
def store(tmp_path):
    s = ExperimentStore(f"sqlite:///{tmp_path}/s.db")
    s.migrate()
    yield s
    s.close()


def test_insights_land_in_sql_and_chroma_once(tmp_path, store, embedder):
    memory = InsightMemory(open_chroma(path=tmp_path / "chroma"), embedder)
    base = run("e-base", [0.800, 0.810, 0.790], {})
    runs = [
        run("e1", [0.790, 0.798, 0.782], {"lr": 0.0003}, "h1"),  # helped
        run("e2", [0.801, 0.805, 0.795], {"dropout": 0.1}, "h2"),  # neutral
        run("e3", [0.812, 0.820, 0.801], {"batch_size": 8192}, "h3"),  # hurt
        run("e4", [0.800, 0.810, 0.790], {}, None),  # no change: nothing to learn
    ]
    comparisons = [compare(base, r) for r in runs]
    kwargs = dict(
        campaign_id="c1",
        model="dcn_v2",
        dataset=DATASET,
        baseline=base,
        comparisons=comparisons,
        runs_by_id={r.experiment_id: r for r in runs},
        titles=TITLES,
    )
    ids = write_insights(store, memory, **kwargs)
    assert ids == [insight_id("c1", e) for e in ("e1", "e2", "e3")]

    rows = {r.experiment_id: r for r in store.list_insights(campaign_id="c1")}
    assert {e: r.outcome for e, r in rows.items()} == {
        "e1": "helped",
        "e2": "neutral",
        "e3": "hurt",
    }
    e1 = rows["e1"]
    assert e1.id == ids[0] and e1.model == "dcn_v2" and e1.config_delta == {"lr": 0.0003}
    assert e1.statement.startswith(
        "On dcn_v2 with synthetic data (preset=interaction-heavy, rows=60000), lowering lr "
        "from 0.001 to 0.0003 improved val_ne (+1.25%, 95% CI +0.63 to +1.87%; 3 seeds"
    )
    evidence = e1.evidence
    assert evidence["baseline"] == {"lr": 0.001} and evidence["knobs"] == {"lr": 0.0003}
    assert evidence["effect"]["seeds"] == 3 and evidence["method"] == "paired seeds vs baseline"
    assert evidence["cost_seconds"] == 12.5 and evidence["dataset"] == DATASET

    hits = memory.search("does a lower learning rate help dcn_v2?", model="dcn_v2", k=3)
    assert hits[0].insight.id == ids[0] and hits[0].insight.source == "campaign"
    hurt = memory.search("larger batch size", outcome="hurt", k=3)
    assert [h.insight.experiment_id for h in hurt] == ["e3"]

    before = {i.id: i.created_at for i in memory.get(ids)}
    assert write_insights(store, memory, **kwargs) == ids  # a replay: same ids, nothing new
    assert len(store.list_insights(campaign_id="c1")) == 3 and memory.count() == 3
    assert {i.id: i.created_at for i in memory.get(ids)} == before  # not even rewritten


def test_without_a_memory_only_sql_is_written(store):
    base = run("e-base", [0.800, 0.810, 0.790], {})
    var = run("e1", [0.79], {"lr": 0.0003}, "h1")
    ids = write_insights(
        store,
        None,
        campaign_id="c2",
        model="dcn_v2",
        dataset={},
        baseline=base,
        comparisons=[compare(base, var)],
        runs_by_id={"e1": var},
        titles={},
    )
    row = store.get_insight(ids[0])
    assert row.outcome == "neutral"  # one seed: no CI
    assert "too few seeds for a CI" in row.statement and "with its data" in row.statement
    assert row.evidence["method"] == "unpaired seeds vs baseline (Welch)"


def test_insights_stored_in_sql_first_reach_chroma_once_and_alike(tmp_path, store, embedder):
    """The graph stores a phase's insights in SQL during the analysis and indexes them into
    Chroma later (`memorise`): the records are the ones `write_insights` would have written,
    and indexing again (a replay after a crash) adds nothing."""
    base = run("e-base", [0.800, 0.810, 0.790], {})
    runs = [
        run("e1", [0.790, 0.798, 0.782], {"lr": 0.0003}, "h1"),
        run("e3", [0.812, 0.820, 0.801], {"batch_size": 8192}, "h3"),
    ]
    kwargs = dict(
        model="dcn_v2",
        dataset=DATASET,
        baseline=base,
        comparisons=[compare(base, r) for r in runs],
        runs_by_id={r.experiment_id: r for r in runs},
        titles=TITLES,
    )
    direct = InsightMemory(open_chroma(path=tmp_path / "direct"), embedder)
    expected = {
        i.experiment_id: i
        for i in direct.get(write_insights(store, direct, campaign_id="c1", **kwargs))
    }

    later = InsightMemory(open_chroma(path=tmp_path / "later"), embedder)
    ids = write_insights(store, None, campaign_id="c3", **kwargs)
    assert later.count() == 0  # SQL only so far
    assert index_insights(store, later, ids) == 2
    got = {i.experiment_id: i for i in later.get(ids)}
    for exp_id, ins in got.items():
        want = expected[exp_id]
        assert (ins.statement, ins.outcome, ins.evidence) == (
            want.statement,
            want.outcome,
            want.evidence,
        )
        assert ins.campaign_id == "c3" and ins.source == "campaign"
    assert index_insights(store, later, ids) == 0 and later.count() == 2
    assert index_insights(store, None, ids) == 0  # no memory configured: nothing to do
    hits = later.search("does a lower learning rate help dcn_v2?", model="dcn_v2", k=1)
    assert hits[0].insight.experiment_id == "e1"
