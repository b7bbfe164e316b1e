"""The campaign graph on the PostgreSQL checkpointer (REA_CHECKPOINT_URL=postgresql://…): a
thread interrupted at the plan approval is picked up by a new checkpointer connection and
runner (a new process in production) and answered there."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pytest
from test_campaign_acceptance import DATA_1, WEAK
from test_store_db import PG_URL, _pg_admin, _pg_unreachable

from rea.agents.brain import Brain
from rea.app.campaigns import services_from
from rea.app.settings import Settings
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.runner import CampaignRunner

pytestmark = pytest.mark.postgres


@pytest.fixture
def checkpoint_url():
    reason = _pg_unreachable()
    if reason:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    schema = f"rea_ck_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE SCHEMA "{schema}"')
    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    yield f"{base}?options={quote(f'-csearch_path={schema}')}"
    _pg_admin(f'DROP SCHEMA "{schema}" CASCADE')


def test_interrupted_thread_resumes_from_postgres(checkpoint_url):
    services = services_from(Settings(), brain=Brain())
    with open_checkpointer(checkpoint_url) as saver:
        runner = CampaignRunner(build_graph(saver), services)
        cid = runner.start("dcn_v2", DATA_1, 40.0, baseline=WEAK)
        thread = runner.thread_of(cid)
        while not any(p.type == "approval" for p in runner.pending(thread)):
            if not runner.collect(runner.pending(thread)[0].job_ids):
                time.sleep(0.2)
    assert services.store.get_campaign(cid).status == "awaiting_approval"
    with open_checkpointer(checkpoint_url) as saver:  # a fresh connection: nothing in memory
        runner = CampaignRunner(build_graph(saver), services)
        (approval,) = runner.pending(thread)
        assert approval.kind == "plan" and approval.payload["action_requests"]
        runner.decide(approval.approval_id, {"decisions": [{"type": "reject", "message": "no"}]})
        assert runner.pending(thread) == []
    assert services.store.get_campaign(cid).status == "cancelled"
