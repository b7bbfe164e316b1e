"""Acceptance: whole campaigns offline through the real CLI (`rea run`), real training jobs in
subprocesses, SQLite store and checkpointer, embedded Chroma.

The baseline is deliberately weak (tiny embeddings, a low learning rate, two epochs), so a
campaign should find a change that beats it beyond seed noise; the second campaign runs on a
similar dataset (same preset, other seed) and must draw on the first one's insights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rea.app.memory_wiring import Memory
from rea.app.settings import Settings
from rea.memory import ExperimentStore

pytestmark = pytest.mark.slow

WEAK = {"model": "dcn_v2", "lr": 0.0003, "embed_dim": 4, "epochs": 2}
DATA_1 = "synthetic:interaction-heavy?rows=20000&seed=0"
DATA_2 = "synthetic:interaction-heavy?rows=20000&seed=1"
BUDGET = 60.0


def rea(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "REA_HOME": str(home), "REA_BRAIN": "offline"}
    cmd = [sys.executable, "-m", "rea.app.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def run_campaign(home: Path, data: str, baseline: Path) -> dict:
    proc = rea(
        home,
        "run",
        "--model",
        "dcn_v2",
        "--data",
        data,
        "--budget",
        str(BUDGET),
        "--baseline",
        str(baseline),
        "--yes",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    baseline = home / "baseline.json"
    baseline.write_text(json.dumps(WEAK))
    first = run_campaign(home, DATA_1, baseline)
    second = run_campaign(home, DATA_2, baseline)
    return home, first, second


def test_first_campaign_runs_all_phases_within_budget(campaigns):
    _, first, _ = campaigns
    assert first["status"] == "completed"
    assert first["budget_used_seconds"] <= BUDGET
    phases = {p["name"]: p for p in first["phases"]}
    assert phases["validation"]["trials"] > 0
    assert phases["exploitation"]["trials"] > 0
    assert sum(p["used_seconds"] for p in first["phases"]) <= BUDGET
    assert Path(first["report_path"]).exists()


def test_first_campaign_finds_a_validated_improvement(campaigns):
    _, first, _ = campaigns
    assert first["validated"], first["notes"]
    assert first["ne_gain_pct"] > 0
    assert first["best"]["val_ne"] < first["baseline"]["val_ne"]
    assert first["best"]["config_delta"]
    for key in ("val_ne", "val_auc", "test_ne", "test_auc"):
        assert first["best"][key] is not None and first["baseline"][key] is not None


def test_first_campaign_writes_insights(campaigns):
    home, first, _ = campaigns
    store = ExperimentStore(f"sqlite:///{home}/rea.sqlite")
    rows = store.list_insights(campaign_id=first["campaign_id"])
    assert rows
    assert {r.outcome for r in rows} & {"helped"}
    # Stored in SQL during the analysis, indexed into Chroma off the wake path: all of them.
    memory = Memory(Settings(home=home, brain="offline")).insights
    assert {i.id for i in memory.get([r.id for r in rows])} == {r.id for r in rows}


def test_second_campaign_uses_the_first_ones_insights(campaigns):
    _, first, second = campaigns
    assert second["status"] == "completed"
    assert second["hypothesis_sources"].get("insight", 0) > 0
    assert first["hypothesis_sources"].get("insight", 0) == 0
    assert second["budget_used_seconds"] <= BUDGET
