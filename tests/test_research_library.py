"""The research library in Chroma: indexing, similarity search with filters, persistence.

Uses a real embedded PersistentClient and the bundled MiniLM embedder (loaded once, ~5 s).
"""

from __future__ import annotations

import pytest

from rea.memory.chroma import open_chroma
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.research import ResearchLibrary, load_cards
from rea.trainers.errors import ConfigError, ReaError


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(num_threads=1)


@pytest.fixture(scope="module")
def chroma_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chroma")


@pytest.fixture(scope="module")
def library(chroma_dir, embedder) -> ResearchLibrary:
    lib = ResearchLibrary(open_chroma(path=chroma_dir), embedder)
    assert lib.index() == len(lib.cards)
    return lib


def _ids(hits) -> list[str]:
    return [h.card.id for h in hits]


def test_index_is_idempotent(library):
    assert library.index() == 0
    assert library.count() == len(load_cards())


def test_learning_rate_plateau_finds_the_bars_card(library):
    hits = library.search("learning rate plateau", k=3)
    assert "sched-plateau-bars" in _ids(hits)
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cheaper cross network with low-rank weights", "arch-dcn-v2-low-rank"),
        ("probabilities are miscalibrated, fix the calibration", "calib-platt"),
        ("model overfits badly at the start of the second epoch", "len-one-epoch"),
    ],
)
def test_queries_find_the_relevant_card(library, query, expected):
    assert expected in _ids(library.search(query, k=5))


def test_family_filter_keeps_only_applicable_cards(library):
    hits = library.search("try a stronger feature interaction architecture", model="lr", k=20)
    assert hits and all(h.card.applies_to("lr") for h in hits)
    assert "arch-fm-from-lr" in _ids(hits)
    assert "arch-dcn-v2-low-rank" not in _ids(library.search("low rank cross", model="fm", k=57))


def test_knob_filter_and_exclude(library):
    hits = library.search("regularise the deep tower", knobs=["dropout"], k=10)
    assert sorted(_ids(hits)) == ["reg-dropout-0.1", "reg-dropout-0.2", "reg-dropout-0.5"]
    hits = library.search(
        "regularise", knobs=["dropout", "emb_l2"], model="dcn_v2", exclude=["reg-dropout-0.1"], k=20
    )
    assert "reg-dropout-0.1" not in _ids(hits)
    assert {k for h in hits for k in h.card.knobs} & {"dropout", "emb_l2"}
    assert all({"dropout", "emb_l2"} & set(h.card.knobs) for h in hits)


def test_get_returns_the_card_or_none(library):
    card = library.get("arch-finalmlp")
    assert card == next(c for c in load_cards() if c.id == "arch-finalmlp")
    assert library.get("no-such-card") is None


def test_bad_filters_are_config_errors(library):
    with pytest.raises(ConfigError, match="unknown model family"):
        library.search("x", model="xgboost")
    with pytest.raises(ConfigError, match="unknown trainer config keys"):
        library.search("x", knobs=["learning_rate"])
    with pytest.raises(ConfigError, match="k must be"):
        library.search("x", k=0)


def test_search_before_index_says_what_to_do(embedder):
    lib = ResearchLibrary(open_chroma(), embedder, collection="research-empty")
    with pytest.raises(ReaError, match=r"index\(\)"):
        lib.search("anything")


def test_reindex_embeds_only_changes_removes_stale_cards_and_persists(chroma_dir, embedder):
    cards = load_cards()[:8]

    def lib(subset):
        return ResearchLibrary(open_chroma(path=chroma_dir), embedder, "research-sub", cards=subset)

    assert lib(cards).index() == 8
    edited = [cards[0].model_copy(update={"title": "An edited title for the first card"})]
    assert lib(edited + cards[1:5]).index() == 1  # one re-embedded, three stale ones deleted
    reopened = lib(edited + cards[1:5])
    assert reopened.count() == 5
    assert set(_ids(reopened.search("anything", k=10))) == {c.id for c in cards[:5]}
    assert reopened.get(cards[0].id).title == "An edited title for the first card"
    assert reopened.get(cards[6].id) is None


# Symptom- and goal-style queries a planner sends, with the cards that answer them. The documented
# retrieval check (docs/research-library.md): a relevant card in the top 3 for 14 of 14.
QUERY_CHECK = [
    (
        "training diverged with NaN loss",
        None,
        {"stab-grad-clip-1", "sched-warmup-linear", "lr-3e-4"},
    ),
    ("reduce memory of embedding tables", None, {"emb-dim-8", "data-hash-100k"}),
    (
        "try a better architecture",
        "fm",
        {"arch-deepfm", "arch-dcn-v2", "arch-dlrm", "arch-finalmlp"},
    ),
    ("tune the learning rate", "dcn_v2", {"lr-3e-4", "lr-3e-3"}),
    ("class imbalance few positives", None, {"loss-focal-2-platt", "loss-focal-1"}),
    ("learning rate plateau", None, {"sched-plateau-bars"}),
    (
        "overfitting after the first epoch",
        "deepfm",
        {"len-one-epoch", "reg-emb-l2-1e-5", "reg-dropout-0.1"},
    ),
    ("rare ids long tail", None, {"data-min-count-2", "data-min-count-10"}),
    ("calibration is off", None, {"calib-platt"}),
    ("cheaper cross network with low-rank weights", None, {"arch-dcn-v2-low-rank"}),
    ("model overfits badly at the start of the second epoch", None, {"len-one-epoch"}),
    ("heavy tailed count features", None, {"data-dense-log"}),
    (
        "large batch training speed",
        None,
        {"batch-8192-sqrt-lr", "batch-8192-linear-lr", "batch-16384-cowclip-rule"},
    ),
    (
        "optimizer for sparse embeddings",
        None,
        {"opt-adagrad-embeddings", "opt-dense-embedding-adam"},
    ),
]


def test_retrieval_check_finds_a_relevant_card_in_the_top_three(library):
    misses = []
    for query, model, good in QUERY_CHECK:
        top3 = _ids(library.search(query, model=model, k=3))
        if not good & set(top3):
            misses.append((query, top3))
    assert len(misses) <= 1, misses  # 14/14 when written; allow one miss across embedder updates
