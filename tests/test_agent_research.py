"""The research agent on the real research library (57 cards in Chroma): offline ranking by
prior gain per cost, exclusions, and the LLM policy with its validation and fallback."""

from __future__ import annotations

from collections import Counter

import pytest
from langchain_core.messages import ToolMessage
from scripted_model import ScriptedToolModel, structured, tool_call

from rea.agents.brain import Brain
from rea.agents.research import prompts as research_prompts
from rea.agents.research import propose, propose_offline
from rea.agents.research.offline import card_prior, card_score, queries
from rea.agents.research.symptoms import SYMPTOM_BONUS
from rea.agents.schemas import HypothesisSet
from rea.memory.chroma import open_chroma
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.research import ResearchLibrary, load_cards
from rea.trainers.config import apply_delta, default_config

BASELINE = default_config("deepfm").model_dump()
DATASET = {"preset": "criteo-like", "rows": 100_000, "fields": 39, "ctr": 0.25}
CARDS = {c.id: c for c in load_cards()}


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(num_threads=1)


@pytest.fixture(scope="module")
def library(tmp_path_factory, embedder) -> ResearchLibrary:
    lib = ResearchLibrary(open_chroma(path=tmp_path_factory.mktemp("chroma")), embedder)
    lib.index()
    return lib


def offline(library, baseline=BASELINE, exclude=(), k=6, model="deepfm", dataset=DATASET):
    return propose(
        Brain(),
        library,
        model=model,
        baseline_config=baseline,
        dataset=dataset,
        exclude_cards=list(exclude),
        k=k,
    )


def test_offline_proposals_are_cited_applicable_and_valid(library):
    out = offline(library)
    assert len(out.hypotheses) == 6
    for hyp in out.hypotheses:
        card = CARDS[hyp.evidence["card_id"]]
        assert hyp.source == "research" and card.applies_to("deepfm")
        assert hyp.evidence == {
            "card_id": card.id,
            "citation": card.citation.short(),
            "area": card.area,
        }
        assert hyp.config_delta == card.effective_delta(BASELINE) != {}
        apply_delta(BASELINE, hyp.config_delta)
        assert hyp.relative_cost == card.cost and hyp.prior_gain_pct == card_prior(card) > 0
    assert max(Counter(h.evidence["area"] for h in out.hypotheses).values()) <= 2  # diverse
    assert out.hypotheses[0].prior_gain_pct == max(h.prior_gain_pct for h in out.hypotheses)


def test_a_fix_for_a_mis_set_knob_gets_a_higher_prior_and_is_validated_first(library):
    # A learning rate 10x under deepfm's usual one: a card raising it addresses a symptom.
    weak = {**BASELINE, "lr": 0.0003}
    out = offline(library, baseline=weak)
    fixes = [h for h in out.hypotheses if h.config_delta.get("lr", 0) > weak["lr"]]
    others = [h for h in out.hypotheses if h not in fixes]
    assert fixes and others
    for hyp in fixes:
        card = CARDS[hyp.evidence["card_id"]]
        assert hyp.prior_gain_pct == pytest.approx(SYMPTOM_BONUS * card_prior(card))
        assert "far from the family's usual one" in hyp.rationale
    for hyp in others:
        assert hyp.prior_gain_pct == card_prior(CARDS[hyp.evidence["card_id"]])
    best = max(out.hypotheses, key=lambda h: h.prior_gain_pct / h.relative_cost)
    assert best in fixes  # what the planner validates first


def test_excluded_applied_and_worse_cards_are_never_proposed(library):
    first = offline(library).hypotheses[0].evidence["card_id"]
    again = offline(library, exclude=[first])
    assert first not in [h.evidence["card_id"] for h in again.hypotheses]
    with_l2 = offline(library, baseline={**BASELINE, "emb_l2": 1e-5}, k=20)
    ids = [h.evidence["card_id"] for h in with_l2.hypotheses]
    assert "reg-emb-l2-1e-5" not in ids and "data-dense-log" not in ids  # no-ops on this baseline
    assert "loss-focal-2-platt" not in ids  # expected to make NE worse
    assert len(ids) == len(set(ids)) > 6


def test_queries_follow_family_and_traits():
    long_tail = queries("dcn_v2", {"preset": "sparse-long-tail", "rows": 10_000_000, "ctr": 0.03})
    assert any("long tail" in q for q in long_tail) and "large batch" in long_tail[-1]
    assert any("cross network" in q for q in long_tail)
    small = queries("lr", {"preset": "interaction-heavy", "rows": 50_000})
    assert any("feature crosses" in q for q in small) and any("overfits" in q for q in small)


def test_prior_and_score_reward_gain_per_cost():
    assert card_prior(CARDS["arch-dcn-v2"]) == 1.0  # improve x medium
    assert card_prior(CARDS["loss-focal-2-platt"]) < 0
    cheap, dear = CARDS["lr-3e-4"], CARDS["emb-dim-64"]  # both mixed/small; cost 1.0 vs 2.5
    assert card_score(cheap, 0.5) > card_score(dear, 0.5)
    assert card_score(cheap, 0.8) > card_score(cheap, 0.2)


def test_prompts_format():
    assert "3" in research_prompts.SYSTEM.format(k=3, llm_max=2)
    assert "none" in research_prompts.USER.format(
        model="fm", dataset="{}", baseline="{}", exclude="none", k=3
    )


# --- LLM policy ------------------------------------------------------------------------------
def research_hyp(card_id="reg-emb-l2-1e-5", delta=None, citation="made up"):
    return {
        "title": "Embedding L2",
        "source": "research",
        "rationale": "Many rare ids overfit.",
        "config_delta": delta or {"emb_l2": 1e-5},
        "evidence": {"card_id": card_id, "citation": citation},
        "prior_gain_pct": 0.3,
    }


def llm_idea(rationale="Halving the batch adds gradient noise that regularises.", delta=None):
    return {
        "title": "Smaller batch",
        "source": "llm",
        "rationale": rationale,
        "config_delta": delta or {"batch_size": 1024},
    }


def llm_propose(library, hyps, exclude=()):
    script = [
        tool_call("search_research", {"query": "embedding regularisation"}),
        tool_call("get_card", {"card_id": "reg-emb-l2-1e-5"}),
        "Done.",
        structured(HypothesisSet, {"hypotheses": hyps, "summary": "two ideas"}),
    ]
    model = ScriptedToolModel(script)
    brain = Brain(model=model, structured_method="function_calling", retries=0)
    out = propose(
        brain,
        library,
        model="deepfm",
        baseline_config=BASELINE,
        dataset=DATASET,
        exclude_cards=list(exclude),
    )
    return out, brain, model


def test_llm_answer_is_validated_and_cites_the_real_card(library):
    out, brain, model = llm_propose(library, [research_hyp(), llm_idea()])
    assert brain.fallbacks == [] and model.remaining == 0
    card, idea = out.hypotheses
    assert card.evidence["citation"] == CARDS["reg-emb-l2-1e-5"].citation.short()  # code's
    assert card.evidence["area"] == "regularization"
    assert idea.source == "llm" and idea.config_delta == {"batch_size": 1024}
    tools = [m.content for m in model.seen[3] if isinstance(m, ToolMessage)]
    assert "reg-emb-l2-1e-5" in tools[0] and "mechanism" in tools[1]


@pytest.mark.parametrize(
    ("hyps", "exclude"),
    [
        ([research_hyp(card_id="no-such-card")], ()),
        ([research_hyp(card_id="arch-fm-from-lr", delta={"model": "fm"})], ()),  # not deepfm's
        ([research_hyp()], ("reg-emb-l2-1e-5",)),  # already tried
        ([research_hyp(delta={"emb_l2": 5.0})], ()),  # out of range
        ([llm_idea(rationale="")], ()),
        ([llm_idea(delta={"seed": 3})], ()),
        ([llm_idea(), llm_idea(delta={"batch_size": 512}), llm_idea(delta={"lr": 0.01})], ()),
    ],
)
def test_invalid_llm_answer_falls_back_to_the_offline_policy(library, hyps, exclude):
    out, brain, _ = llm_propose(library, hyps, exclude)
    assert len(brain.fallbacks) == 1 and brain.fallbacks[0].startswith("research")
    expected = propose_offline(
        library,
        model="deepfm",
        baseline_config=BASELINE,
        dataset=DATASET,
        exclude_cards=list(exclude),
    )
    assert out == expected
