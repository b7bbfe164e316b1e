"""`import_into`: an imported study lands in the SQL journal and the insight memory, once."""

from __future__ import annotations

import json

import pytest

from rea.memory.chroma import open_chroma
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.importers import import_into, import_table
from rea.memory.insights import InsightMemory
from rea.memory.store import ExperimentStore


@pytest.fixture
def store(tmp_path):
    s = ExperimentStore(f"sqlite:///{tmp_path / 'rea.db'}")
    s.migrate()
    yield s
    s.close()


def test_import_into_records_a_completed_campaign(tmp_path, store):
    path = tmp_path / "runs.jsonl"
    rows = [
        {"run_id": f"r{i}", "model": "fm", "lr": lr, "seed": seed, "val_ne": 0.8 + lr + seed / 1000,
         "seconds": 30}
        for i, (lr, seed) in enumerate([(0.001, 0), (0.001, 1), (0.01, 0), (0.01, 1)])
    ] + [{"run_id": "r4", "model": "fm", "lr": 0.1, "status": "failed", "seconds": 5}]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows))
    result = import_table(path)
    memory = InsightMemory(open_chroma(tmp_path / "chroma"), MiniLMEmbedder())

    cid = import_into(store, memory, result)
    campaign = store.get_campaign(cid)
    assert (campaign.status, campaign.model, campaign.budget_seconds) == ("completed", "fm", 125)
    jobs = store.list_jobs(cid)
    assert sorted(j.state for j in jobs) == [
        "failed",
        "succeeded",
        "succeeded",
        "succeeded",
        "succeeded",
    ]
    results = store.list_results(cid)
    assert {r.final_metrics["val_ne"] for r in results} == {0.801, 0.802, 0.81, 0.811}
    assert store.budget_status(cid).charged_seconds == 125  # the ledger charged every run
    experiment = store.get_experiment(jobs[0].experiment_id)
    assert experiment.config["model"] == "fm" and experiment.config["lr"] == 0.001

    rows_in_sql = store.list_insights(campaign_id=cid)
    assert [r.id for r in rows_in_sql] == [i.id for i in result.insights]
    assert rows_in_sql[0].config_delta == result.insights[0].evidence.knobs
    assert memory.count() == len(result.insights) >= 1

    assert import_into(store, memory, import_table(path)) == cid  # a re-import changes nothing
    assert len(store.list_jobs(cid)) == 5 and memory.count() == len(result.insights)
