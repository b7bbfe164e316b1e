"""InsightMemory on an embedded PersistentClient: add, filtered search, ranking, conflicts, reopen.

Offline by construction: sockets may only reach loopback, and Chroma's default (downloading)
embedding function fails the test if anything calls it.
"""

from __future__ import annotations

import random
import socket

import pytest
from chromadb.api.types import DefaultEmbeddingFunction
from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

from rea.memory.chroma import get_collection, open_chroma
from rea.memory.embeddings import MINILM_NAME, MiniLMEmbedder
from rea.memory.insight_index import UnsupportedFilter, matches
from rea.memory.insights import (
    Effect,
    Evidence,
    Insight,
    InsightMemory,
    build_where,
    evidence_strength,
    knob_signature,
    outcome_for,
)
from rea.trainers.errors import ConfigError

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def offline_guard(monkeypatch):
    """Fail on any non-loopback connection and on any use of Chroma's default embedder."""
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(sock, address)

    def forbidden(*_a, **_k):
        raise AssertionError("Chroma's default ONNX embedding function was used")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", forbidden)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", forbidden)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()  # the model itself is cached per process


def make(
    iid: str,
    statement: str,
    knobs: dict,
    baseline: dict,
    gain: float,
    lo: float | None,
    hi: float | None,
    seeds: int = 3,
    model: str = "dcn_v2",
    dataset: dict | None = None,
) -> Insight:
    effect = Effect(gain_pct=gain, ci_lo=lo, ci_hi=hi, seeds=seeds)
    evidence = Evidence(
        model=model,
        dataset=dataset or {"source": "criteo", "rows": 100_000},
        knobs=knobs,
        baseline=baseline,
        effect=effect,
        cost_seconds=120.0,
    )
    return Insight(id=iid, statement=statement, evidence=evidence, outcome=outcome_for(effect))


CORPUS = [
    make("lr-down", "Lowering the learning rate to 3e-4 improved NE", {"lr": 3e-4}, {"lr": 1e-3}, 0.8, 0.3, 1.3),
    make("drop-up", "Dropout 0.2 in the deep tower hurt NE", {"dropout": 0.2}, {"dropout": 0.0}, -0.5, -0.9, -0.1),
    make("emb-up", "A larger embedding dimension (32) made no difference", {"embed_dim": 32}, {"embed_dim": 16}, 0.05, -0.2, 0.3),
    make("bs-up", "Batch size 8192 trained faster with equal NE", {"batch_size": 8192}, {"batch_size": 2048}, 0.0, -0.1, 0.1, model="deepfm"),
    make("sched", "A warmup cosine learning rate schedule helped", {"lr_schedule": "warmup_cosine"}, {}, 0.6, 0.2, 1.0, seeds=5),
]  # fmt: skip


@pytest.fixture
def memory(tmp_path, embedder) -> InsightMemory:
    mem = InsightMemory(open_chroma(tmp_path / "chroma"), embedder)
    mem.add(CORPUS)
    return mem


def test_outcome_needs_a_ci_that_excludes_zero():
    assert outcome_for(Effect(gain_pct=2.0, ci_lo=0.1, ci_hi=3.9, seeds=3)) == "helped"
    assert outcome_for(Effect(gain_pct=-2.0, ci_lo=-3.0, ci_hi=-0.2, seeds=3)) == "hurt"
    assert outcome_for(Effect(gain_pct=2.0, ci_lo=-0.1, ci_hi=4.1, seeds=3)) == "neutral"
    assert outcome_for(Effect(gain_pct=5.0, seeds=1)) == "neutral"  # unknown CI is never certain


def test_strength_grows_with_seeds_significance_and_size():
    weak = Effect(gain_pct=0.1, ci_lo=-0.5, ci_hi=0.7, seeds=1)
    strong = Effect(gain_pct=1.0, ci_lo=0.5, ci_hi=1.5, seeds=10)
    assert 0 < evidence_strength(weak) < evidence_strength(strong) <= 1
    more_seeds = strong.model_copy(update={"seeds": 20})
    assert evidence_strength(more_seeds) > evidence_strength(strong)


def test_knob_signature_gives_directions():
    assert knob_signature({"lr": 3e-4}, {"lr": 1e-3}) == "lr:down"
    assert (
        knob_signature({"dropout": 0.2, "lr": 1e-2}, {"lr": 1e-3, "dropout": 0.0})
        == "dropout:up|lr:up"
    )
    assert knob_signature({"norm": "layer"}, {"norm": "none"}) == 'norm:="layer"'
    assert knob_signature({"lr": 3e-4}, {}) == "lr:=0.0003"


def test_build_where_combines_filters():
    assert build_where() is None
    assert build_where(model="fm") == {"model": "fm"}
    got = build_where(model="fm", outcome=["helped", "hurt"], knobs=["lr", "dropout"])
    assert got == {
        "$and": [
            {"model": "fm"},
            {"outcome": {"$in": ["helped", "hurt"]}},
            {"$or": [{"knob_lr": True}, {"knob_dropout": True}]},
        ]
    }


def test_search_finds_by_meaning_and_filters(memory):
    hits = memory.search("what learning rate should I use?", k=2)
    assert hits[0].insight.id in {"lr-down", "sched"}
    assert all(h.score <= h.similarity for h in hits)

    hurt = memory.search("regularisation", outcome="hurt")
    assert [h.insight.id for h in hurt] == ["drop-up"]
    assert hurt[0].insight.evidence.effect.ci_hi == -0.1  # the evidence comes back whole

    assert [h.insight.id for h in memory.search("batch", model="deepfm")] == ["bs-up"]
    assert {h.insight.id for h in memory.search("anything", knobs=["lr", "embed_dim"])} == {
        "lr-down",
        "emb-up",
    }
    assert {h.insight.id for h in memory.search("x", where={"ds_source": "criteo"}, k=10)} == {
        i.id for i in CORPUS
    }
    assert memory.search("x", where={"ds_source": "avazu"}) == []


def test_strong_evidence_outranks_weak_at_equal_similarity(tmp_path, embedder):
    mem = InsightMemory(open_chroma(tmp_path / "c"), embedder)
    text = "Gradient clipping at norm 1 stabilised training"
    weak = make("weak", text, {"grad_clip_norm": 1.0}, {}, 0.1, -1.0, 1.2, seeds=1)
    strong = make("strong", text, {"grad_clip_norm": 1.0}, {}, 1.0, 0.6, 1.4, seeds=8)
    mem.add([weak, strong])
    hits = mem.search("gradient clipping")
    assert [h.insight.id for h in hits] == ["strong", "weak"]
    assert hits[0].similarity == pytest.approx(hits[1].similarity, abs=1e-4)


def test_add_is_idempotent_on_id(memory):
    assert memory.count() == len(CORPUS)
    updated = CORPUS[0].model_copy(update={"statement": "Lower LR (3e-4) improved NE on Criteo"})
    memory.add([updated, *CORPUS[1:]])
    assert memory.count() == len(CORPUS)
    assert memory.get(["lr-down"])[0].statement.startswith("Lower LR")


def test_conflicting_insights_come_back_together(memory):
    other = make(
        "lr-down-avazu",
        "On Avazu a lower learning rate of 1e-4 slowed convergence and hurt NE",
        {"lr": 1e-4},
        {"lr": 1e-3},
        -0.7,
        -1.1,
        -0.3,
        dataset={"source": "avazu"},
    )
    memory.add([other])
    hits = {h.insight.id: h for h in memory.search("lower learning rate", outcome="helped")}
    assert "lr-down-avazu" not in hits  # filtered out as a hit ...
    conflict = hits["lr-down"].conflicts
    assert [c.id for c in conflict] == ["lr-down-avazu"]  # ... but linked as the conflict
    assert conflict[0].evidence.dataset == {"source": "avazu"}
    assert hits["sched"].conflicts == []  # same outcome or other knobs: no conflict


def test_reopen_in_a_new_client(tmp_path, embedder):
    path = tmp_path / "persist"
    InsightMemory(open_chroma(path), embedder).add(CORPUS)
    reopened = InsightMemory(open_chroma(path), MiniLMEmbedder())
    assert reopened.count() == len(CORPUS)
    assert reopened.search("dropout")[0].insight.id == "drop-up"
    cfg = reopened.collection.configuration_json
    assert cfg["embedding_function"]["name"] == MINILM_NAME
    assert cfg["hnsw"]["space"] == "cosine"


def test_a_collection_refuses_another_embedder(tmp_path, embedder):
    from rea.memory.embeddings import OpenAIEmbedder

    client = open_chroma(tmp_path / "c")
    get_collection(client, "insights", embedder)
    with pytest.raises(ConfigError, match="another embedding function"):
        get_collection(client, "insights", OpenAIEmbedder("http://127.0.0.1:9/v1", "m"))


def test_empty_memory_returns_nothing(tmp_path, embedder):
    assert InsightMemory(open_chroma(tmp_path / "e"), embedder).search("lr") == []


def test_python_filter_mirrors_the_chroma_operators():
    meta = {"model": "fm", "outcome": "hurt", "knob_lr": True, "seeds": 3, "gain_pct": -0.4}
    assert matches(meta, build_where(model="fm", outcome=["hurt", "helped"], knobs=["lr", "x"]))
    assert not matches(meta, build_where(model="fm", knobs=["dropout"]))
    assert matches(meta, {"$or": [{"seeds": {"$gte": 5}}, {"gain_pct": {"$lt": 0}}]})
    assert not matches(meta, {"$and": [{"seeds": {"$gt": 3}}, {"model": {"$ne": "lr"}}]})
    assert matches(meta, {"outcome": {"$nin": ["helped"]}, "seeds": {"$lte": 3}})
    assert not matches(meta, {"knob_lr": 1})  # a bool never equals a number, as in Chroma
    with pytest.raises(UnsupportedFilter):
        matches(meta, {"model": {"$contains": "f"}})
    with pytest.raises(UnsupportedFilter):
        matches(meta, {"campaign_id": {"$ne": "c1"}})  # missing key: left to Chroma


@pytest.mark.parametrize(
    "filters",
    [
        {"outcome": "helped"},
        {"model": "deepfm", "outcome": ["helped", "neutral"]},
        {"knobs": ["lr", "dropout"], "where": {"seeds": {"$gte": 4}}},
        {"where": {"ds_rows": {"$ne": 1e6}}},
        {"where": {"model": {"$nin": ["lr", "fm"]}}},
    ],
)
def test_post_filter_gives_the_same_hits_as_the_sqlite_filter(tmp_path, embedder, filters):
    """Many candidates, few wanted: the Python post-filter path must return exactly what the
    filtered Chroma query returns (forced by disabling the post-filter)."""
    rng = random.Random(7)
    knob_pool = {"lr": (1e-3, 3e-4), "dropout": (0.0, 0.2), "embed_dim": (16, 32), "wd": (0, 1e-5)}
    corpus = []
    for i in range(240):
        name = rng.choice(list(knob_pool))
        old, new = knob_pool[name]
        gain, half = rng.gauss(0, 0.6), rng.uniform(0.1, 1.0)
        model = rng.choice(["fm", "deepfm", "dcn_v2", "lr"])
        text = f"Setting {name} to {new} on {model} changed NE by {gain:.2f}% (run {i})"
        corpus.append(
            make(f"i{i}", text, {name: new}, {name: old}, gain, gain - half, gain + half,
                 seeds=rng.randint(1, 8), model=model,
                 dataset={"source": "criteo", "rows": rng.choice([1e5, 1e6])})
        )  # fmt: skip
    mem = InsightMemory(open_chroma(tmp_path / "eq"), embedder)
    mem.add(corpus)
    for query in ("lower learning rate on deepfm", "dropout regularisation", "embedding size"):
        fast = mem.search(query, k=3, **filters)
        assert len(fast) == 3
        slow_mem = InsightMemory(open_chroma(tmp_path / "eq"), embedder)
        slow_mem._post_filtered = lambda *a, **k: None  # type: ignore[method-assign]
        slow = slow_mem.search(query, k=3, **filters)
        assert [h.model_dump() for h in fast] == [h.model_dump() for h in slow]
        assert any(h.conflicts for h in fast)  # the index path also links contradictions


def test_index_sees_insights_added_by_another_process(tmp_path, embedder):
    path = tmp_path / "shared"
    reader = InsightMemory(open_chroma(path), embedder)
    reader.add(CORPUS)
    assert [h.insight.id for h in reader.search("regularisation", outcome="hurt")] == ["drop-up"]
    writer = InsightMemory(open_chroma(path), embedder)  # stands in for the insight server
    other = make("drop-up-2", "Dropout 0.3 hurt NE on FM", {"dropout": 0.3}, {"dropout": 0.0},
                 -0.4, -0.8, -0.1, model="fm")  # fmt: skip
    writer.add([other])
    hurt = {h.insight.id for h in reader.search("dropout hurt", outcome="hurt")}
    assert hurt == {"drop-up", "drop-up-2"}
