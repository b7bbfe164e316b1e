"""The LLM path through the whole campaign graph: real training jobs, SQLite store and
checkpointer, Chroma research library, and every agent asking a chat model.

1. `ChatOpenAI` against the stub OpenAI-compatible server on loopback (json_schema answers).
2. The scripted tool-calling chat model (function_calling answers).

The model (tests/graph_llm_answers.py) calls a real tool first, answers the research agent, the
planner and the launcher validly, and the analyst (and every other schema) invalidly, so both the
LLM's outputs and the fallback to the offline policies run inside one campaign.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from graph_llm_answers import (
    CARD_DELTA,
    CARD_ID,
    IDEA_DELTA,
    PLAN_RATIONALE,
    scripted_model,
    stub_responder,
    titles,
)
from langchain_core.messages import ToolMessage

from rea.agents.brain import Brain, make_brain
from rea.app.run_cli import yes_approver
from rea.app.settings import Settings
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.context import Services
from rea.graph.runner import CampaignRunner
from rea.memory import (
    ExperimentStore,
    InsightMemory,
    ResearchLibrary,
    default_embedder,
    open_chroma,
)
from rea.trainers.backends import LocalBackend

WEAK = {"model": "dcn_v2", "lr": 0.0003, "embed_dim": 4, "epochs": 2}
DATA = "synthetic:interaction-heavy?rows=20000&seed=0"

pytestmark = pytest.mark.slow  # ~60 s and ~40 s: two whole campaigns of real training jobs


@pytest.fixture(scope="module")
def embedder() -> Any:
    return default_embedder()


def services(settings: Settings, brain: Brain, embedder: Any) -> Services:
    """What app.campaigns.services_from builds, over REA_HOME (a tmp dir) and `brain`."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = ExperimentStore(settings.resolved_database_url)
    store.migrate()
    chroma = open_chroma(path=settings.home / "chroma")
    research = ResearchLibrary(chroma, embedder)
    research.index()
    return Services(
        store=store,
        backend=LocalBackend(settings.jobs_dir, max_parallel=settings.max_parallel_jobs),
        jobs_root=settings.jobs_dir,
        reports_root=settings.home / "reports",
        brain=brain,
        insights=InsightMemory(chroma, embedder),
        research=research,
    )


def run_campaign(brain: Brain, embedder: Any, budget: float) -> tuple[str, Services]:
    """Start a campaign over `brain` and drive it to its end with `rea run --yes`'s approver."""
    settings = Settings()
    svc = services(settings, brain, embedder)
    with open_checkpointer(settings.resolved_checkpoint_url) as saver:
        runner = CampaignRunner(build_graph(saver), svc)
        cid = runner.start("dcn_v2", DATA, budget, baseline=WEAK)
        status = runner.drive(cid, yes_approver, poll_s=0.1)
        notes = runner.state(runner.thread_of(cid)).get("notes")
    assert status == "completed", (status, notes)
    return cid, svc


def assert_state_round_trips(caplog: pytest.LogCaptureFixture) -> None:
    """Under LANGGRAPH_STRICT_MSGPACK (conftest) nothing in the state was refused on resume."""
    blocked = [r for r in caplog.records if "Blocked deserialization" in r.getMessage()]
    assert not blocked, blocked[0].getMessage()


def assert_llm_hypotheses_stored(store: ExperimentStore, cid: str, tag: str) -> None:
    """The research agent's LLM answer is what SQL holds (not the offline policy's cards)."""
    card_title, idea_title = titles(tag)
    rows = {h.title: h for h in store.list_hypotheses(cid)}
    assert card_title in rows and idea_title in rows, sorted(rows)
    card, idea = rows[card_title], rows[idea_title]
    assert (card.source, card.config_delta, card.evidence["card_id"]) == (
        "research",
        CARD_DELTA,
        CARD_ID,
    )
    assert card.evidence["citation"]  # the validator filled in the card's own citation
    assert (idea.source, idea.config_delta) == ("llm", IDEA_DELTA)
    assert {h.source for h in store.list_hypotheses(cid, source="research")} == {"research"}
    assert len(store.list_hypotheses(cid, source="research")) == 1  # only the LLM's card


def assert_plan_is_the_llms(store: ExperimentStore, cid: str, tag: str) -> None:
    plan = store.get_approval(f"{cid}-plan").request
    assert plan["rationale"] == PLAN_RATIONALE
    planned = [e["title"] for e in plan["experiments"]]
    assert planned and planned[0] == titles(tag)[0], planned


def assert_within_budget(store: ExperimentStore, cid: str, budget: float) -> None:
    status = store.budget_status(cid)
    assert 0 < status.charged_seconds <= budget
    assert status.reserved_seconds == pytest.approx(0.0, abs=1e-6)


def assert_analyst_fell_back(brain: Brain) -> None:
    assert any(f.startswith("analyst:") and "12345.678" in f for f in brain.fallbacks)
    assert not any(f.startswith(("research:", "launcher:")) for f in brain.fallbacks)


def test_campaign_over_chat_openai_and_the_stub_server(stub_openai, embedder, caplog):
    caplog.set_level(logging.WARNING, logger="langgraph")
    stub_openai.responder = stub_responder("stub")
    brain = make_brain(
        "llm",
        model_name="stub",
        api_key="sk-test",
        base_url=stub_openai.base_url,
        structured_method="json_schema",
    )
    cid, svc = run_campaign(brain, embedder, budget=40.0)
    store = svc.store

    tokens = store.budget_status(cid)
    assert tokens.llm_prompt_tokens > 0 and tokens.llm_completion_tokens > 0
    assert_llm_hypotheses_stored(store, cid, "stub")
    assert_plan_is_the_llms(store, cid, "stub")
    assert_analyst_fell_back(brain)
    assert_within_budget(store, cid, 40.0)
    assert_state_round_trips(caplog)

    requests = stub_openai.requests
    offered = [r for r in requests if r.get("tools")]
    asked = [r for r in requests if r.get("response_format")]
    assert offered and asked
    names = {r["response_format"]["json_schema"]["name"] for r in asked}
    assert {"HypothesisSet", "PlanDraft", "LaunchPlan", "PhaseSummary"} <= names, names
    results = [m for r in requests for m in r["messages"] if m["role"] == "tool"]
    assert any('"card_id"' in m["content"] for m in results)  # search_research really ran
    assert tokens.llm_prompt_tokens == 12 * len(requests)  # every request's usage recorded


def test_campaign_over_the_scripted_tool_calling_model(embedder, caplog):
    caplog.set_level(logging.WARNING, logger="langgraph")
    model = scripted_model("scripted")
    brain = Brain(model=model, model_name="scripted", structured_method="function_calling")
    cid, svc = run_campaign(brain, embedder, budget=30.0)
    store = svc.store

    tool_results = [m for call in model.seen for m in call if isinstance(m, ToolMessage)]
    assert any('"card_id"' in str(m.content) for m in tool_results)  # search_research ran
    assert not any(str(m.content).startswith("error:") for m in tool_results)
    assert_llm_hypotheses_stored(store, cid, "scripted")
    assert_plan_is_the_llms(store, cid, "scripted")
    assert_analyst_fell_back(brain)
    assert_within_budget(store, cid, 30.0)
    assert_state_round_trips(caplog)
    assert store.budget_status(cid).llm_prompt_tokens == 10 * len(model.seen)
