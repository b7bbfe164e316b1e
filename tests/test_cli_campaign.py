"""The campaign CLI without --yes and without a terminal: `rea run` stops at the plan approval,
`rea status` shows what it waits on, `rea approve` answers, `rea resume` finishes and `rea report`
prints the report. Also: clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_campaign_acceptance import DATA_1, WEAK, rea

pytestmark = pytest.mark.slow


def test_run_approve_resume_report(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "base.json").write_text(json.dumps(WEAK))
    args = ["run", "--model", "dcn_v2", "--data", DATA_1, "--budget", "25"]
    started = rea(home, *args, "--baseline", str(tmp_path / "base.json"), "--json")
    assert started.returncode == 0, started.stderr[-2000:]
    summary = json.loads(started.stdout)
    cid = summary["campaign_id"]
    assert summary["status"] == "awaiting_approval"
    assert "rea approve" in started.stderr

    status = json.loads(rea(home, "status", cid, "--json").stdout)
    (waiting,) = status[0]["waiting_on"]
    assert waiting == f"{cid}-plan"

    bad = rea(home, "approve", waiting, "--edit", '{"experiments": [{"hypothesis_id": "x"}]}')
    assert bad.returncode == 2 and "only keep or drop" in bad.stderr
    ok = rea(home, "approve", waiting)
    assert ok.returncode == 0, ok.stderr[-2000:]

    done = rea(home, "resume", cid, "--yes", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    final = json.loads(done.stdout)
    assert final["status"] == "completed" and final["budget_used_seconds"] <= 25
    report = rea(home, "report", cid)
    assert report.returncode == 0 and f"# Campaign {cid}" in report.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "synthetic:nope"], "nope"),
        (["--data", DATA_1, "--budget", "0"], "budget must be > 0"),
        (["--data", DATA_1, "--model", "xgboost"], "xgboost"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, args, message):
    base = {"--model": "dcn_v2", "--budget": "10"}
    flags = dict(zip(args[::2], args[1::2], strict=True))
    merged = [x for k, v in {**base, **flags}.items() for x in (k, v)]
    proc = rea(tmp_path / "home", "run", *merged)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_status_starts_without_torch(tmp_path):
    """Only `rea train` and the jobs train: `rea status` (and approve, report, serve, which
    share its imports) must not pay seconds of start-up for torch or Chroma."""
    code = (
        "import sys\n"
        "from rea.app.cli import main\n"
        "sys.argv = ['rea', 'status', '--json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in ('torch', 'chromadb') if m in sys.modules))\n"
    )
    env = {**os.environ, "REA_HOME": str(tmp_path / "home"), "REA_BRAIN": "offline"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    campaigns, loaded = proc.stdout.strip().rsplit("\n", 1)
    assert json.loads(campaigns) == [] and loaded == "[]"
