"""The insight agent on a real Chroma insight memory: offline ranking, merging, avoiding what
hurt, and the LLM policy (valid answer used, invalid answer -> offline policy)."""

from __future__ import annotations

import pytest
from langchain_core.messages import ToolMessage
from scripted_model import ScriptedToolModel, structured, tool_call

from rea.agents.brain import Brain
from rea.agents.insight import prompts as insight_prompts
from rea.agents.insight import propose, propose_offline
from rea.agents.insight.offline import queries, trait_match
from rea.agents.schemas import HypothesisSet
from rea.memory.chroma import open_chroma
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.insights import Effect, Evidence, Insight, InsightMemory, outcome_for
from rea.trainers.config import apply_delta, default_config

BASELINE = default_config("dcn_v2").model_dump()
DATASET = {"preset": "criteo-like", "rows": 100_000, "fields": 39, "ctr": 0.25}


def insight(iid, statement, knobs, gain, ci, seeds, model="dcn_v2", baseline=None):
    effect = Effect(gain_pct=gain, ci_lo=ci[0], ci_hi=ci[1], seeds=seeds)
    ref = baseline if baseline is not None else {k: BASELINE.get(k) for k in knobs}
    ev = Evidence(model=model, dataset=DATASET, knobs=knobs, baseline=ref, effect=effect)
    return Insight(id=iid, statement=statement, evidence=ev, outcome=outcome_for(effect))


# (id, statement, knobs, gain %, 95% CI, seeds, extra keyword arguments)
ROWS = [
    ("ins-lr-a", "Lowering lr to 3e-4 on dcn_v2 improved val NE by 0.6%", {"lr": 3e-4},
     0.6, (0.3, 0.9), 5, {}),
    ("ins-lr-b", "Lower learning rate 3e-4 improved dcn_v2 val NE", {"lr": 3e-4},
     0.4, (0.1, 0.7), 3, {}),
    ("ins-l2", "Embedding L2 1e-5 on dcn_v2 improved val NE by 0.3%", {"emb_l2": 1e-5},
     0.3, (0.1, 0.5), 3, {}),
    ("ins-drop-hurt", "Dropout 0.5 on dcn_v2 worsened val NE by 1.5%", {"dropout": 0.5},
     -1.5, (-2.0, -1.0), 6, {}),
    ("ins-drop-weak", "Dropout 0.5 on dcn_v2 improved val NE slightly", {"dropout": 0.5},
     0.1, (0.01, 0.2), 2, {}),
    ("ins-noop", "Three epochs on dcn_v2 improved val NE", {"epochs": 3},
     0.5, (0.2, 0.8), 4, {"baseline": {"epochs": 1}}),
    ("ins-invalid", "Ninety-nine cross layers on dcn_v2 improved val NE", {"cross_layers": 99},
     0.9, (0.5, 1.3), 4, {"baseline": {"cross_layers": 3}}),
    ("ins-fm-emb", "embed_dim 32 on fm improved val NE by 0.5%", {"embed_dim": 32},
     0.5, (0.2, 0.8), 4, {"model": "fm"}),
    ("ins-neutral", "Gradient clipping on dcn_v2 made no difference", {"grad_clip_norm": 1.0},
     0.01, (-0.1, 0.12), 3, {}),
]  # fmt: skip
INSIGHTS = [insight(*row[:6], **row[6]) for row in ROWS]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(num_threads=1)


@pytest.fixture(scope="module")
def memory(tmp_path_factory, embedder) -> InsightMemory:
    mem = InsightMemory(open_chroma(path=tmp_path_factory.mktemp("chroma")), embedder)
    mem.add(INSIGHTS)
    return mem


def offline(memory, k=6, baseline=BASELINE) -> HypothesisSet:
    return propose(
        Brain(),
        memory,
        model="dcn_v2",
        data="synthetic:criteo-like",
        dataset=DATASET,
        baseline_config=baseline,
        k=k,
    )


def test_best_evidence_first_and_same_deltas_merged(memory):
    out = offline(memory)
    first = out.hypotheses[0]
    assert first.config_delta == {"lr": 3e-4}
    assert sorted(first.evidence["insight_ids"]) == ["ins-lr-a", "ins-lr-b"]
    assert len(first.evidence["statements"]) == 2
    assert 0.4 <= first.prior_gain_pct <= 0.6  # strength-weighted mean of the two gains
    assert first.source == "insight" and first.relative_cost == 1.0
    deltas = [h.config_delta for h in out.hypotheses]
    assert {"emb_l2": 1e-5} in deltas
    assert deltas.index({"lr": 3e-4}) < deltas.index({"emb_l2": 1e-5})


def test_noop_invalid_neutral_and_hurt_deltas_are_not_proposed(memory):
    out = offline(memory)
    deltas = [h.config_delta for h in out.hypotheses]
    assert {"dropout": 0.5} not in deltas  # helped weakly, hurt strongly
    assert not any("epochs" in d or "cross_layers" in d or "grad_clip_norm" in d for d in deltas)
    assert "dropout" in out.summary and "hurt" in out.summary
    for hyp in out.hypotheses:  # every delta validates and changes the baseline
        assert apply_delta(BASELINE, hyp.config_delta).model_dump() != BASELINE


def test_other_family_insights_count_less(memory):
    out = offline(memory)
    fm = [h for h in out.hypotheses if h.config_delta == {"embed_dim": 32}]
    assert fm and out.hypotheses.index(fm[0]) > 0  # still proposed, after the same-family ones
    assert fm[0].evidence["insight_ids"] == ["ins-fm-emb"]


def test_k_and_a_baseline_that_already_has_a_change(memory):
    assert len(offline(memory, k=1).hypotheses) == 1
    out = offline(memory, baseline={**BASELINE, "lr": 3e-4})
    assert all("lr" not in h.config_delta for h in out.hypotheses)


def test_no_memory_or_empty_memory_gives_an_empty_set(tmp_path, embedder):
    assert offline(None).hypotheses == []
    empty = InsightMemory(open_chroma(path=tmp_path / "empty"), embedder)
    assert offline(empty).hypotheses == []
    model = ScriptedToolModel([])  # an LLM brain is not even asked
    out = propose(
        Brain(model=model), empty, model="dcn_v2", data="d", dataset={}, baseline_config=BASELINE
    )
    assert out.hypotheses == [] and model.seen == []


def test_queries_and_trait_match():
    qs = queries("fm", DATASET)
    assert qs[0] == "fm improved val NE" and "criteo-like data" in qs[1]
    assert trait_match({"rows": 150_000, "preset": "criteo-like"}, DATASET) == 1.0
    assert trait_match({"rows": 10_000_000}, DATASET) == 0.0
    assert trait_match({}, DATASET) == 0.5


def test_prompts_format():
    assert "6" in insight_prompts.SYSTEM.format(k=6)
    text = insight_prompts.USER.format(model="fm", data="d", dataset="{}", baseline="{}", k=3)
    assert "fm" in text


# --- LLM policy ------------------------------------------------------------------------------
def llm_answer(ids, delta, source="insight"):
    hyp = {
        "title": "Lower the learning rate",
        "source": source,
        "rationale": "Two past campaigns on dcn_v2 measured a gain.",
        "config_delta": delta,
        "evidence": {"insight_ids": ids, "statements": []},
        "prior_gain_pct": 0.5,
    }
    return structured(HypothesisSet, {"hypotheses": [hyp], "summary": "lr helped before"})


def llm_propose(memory, replies):
    model = ScriptedToolModel(replies)
    brain = Brain(model=model, structured_method="function_calling", retries=0)
    out = propose(
        brain,
        memory,
        model="dcn_v2",
        data="synthetic:criteo-like",
        dataset=DATASET,
        baseline_config=BASELINE,
    )
    return out, brain, model


def test_llm_answer_is_used_after_its_tool_calls(memory):
    out, brain, model = llm_propose(
        memory,
        [
            tool_call("search_insights", {"query": "learning rate", "outcome": "helped"}),
            tool_call("validate_delta", {"config_delta": {"lr": 3e-4, "epochs": 3}}),
            "Enough.",
            llm_answer(["ins-lr-a"], {"lr": 3e-4, "epochs": 3}),
        ],
    )
    assert brain.fallbacks == [] and model.remaining == 0
    assert [h.config_delta for h in out.hypotheses] == [{"lr": 3e-4}]  # effective delta
    assert out.summary == "lr helped before"
    tool_results = [m.content for m in model.seen[2] if isinstance(m, ToolMessage)]
    assert "ins-lr-a" in tool_results[0] and '"ok": true' in tool_results[1]


@pytest.mark.parametrize(
    ("ids", "delta", "source"),
    [
        (["ins-does-not-exist"], {"lr": 3e-4}, "insight"),  # cites an unknown insight
        (["ins-lr-a"], {"lr": -1.0}, "insight"),  # delta does not validate
        (["ins-lr-a"], {"epochs": 3}, "insight"),  # changes nothing
        (["ins-lr-a"], {"lr": 3e-4}, "research"),  # wrong source
        ([], {"lr": 3e-4}, "insight"),  # cites nothing
    ],
)
def test_invalid_llm_answer_falls_back_to_the_offline_policy(memory, ids, delta, source):
    out, brain, _ = llm_propose(memory, ["No tools needed.", llm_answer(ids, delta, source)])
    assert len(brain.fallbacks) == 1 and "insight" in brain.fallbacks[0]
    expected = propose_offline(
        memory,
        model="dcn_v2",
        data="synthetic:criteo-like",
        dataset=DATASET,
        baseline_config=BASELINE,
    )
    assert out == expected
