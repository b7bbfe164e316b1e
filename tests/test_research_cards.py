"""The shipped research cards: enough of them, unique, cited, and runnable by the trainer."""

from __future__ import annotations

import json
import re

import pytest

from rea.memory.research import ResearchCard, load_cards, parse_cards
from rea.trainers.config import MODEL_FAMILIES, apply_delta, default_config
from rea.trainers.errors import ConfigError

# Cards whose delta equals the trainer defaults on purpose (they matter when a baseline changed it).
DEFAULT_ON_PURPOSE = {"data-dense-log"}


@pytest.fixture(scope="module")
def cards() -> list[ResearchCard]:
    return load_cards()


def test_at_least_forty_cards_with_unique_ids(cards):
    ids = [c.id for c in cards]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


def test_every_delta_runs_on_every_listed_family(cards):
    for card in cards:
        assert card.families, card.id
        for family in card.families:
            config = apply_delta(default_config(family), card.delta)
            for key, value in card.delta.items():
                assert getattr(config, key) == value, (card.id, family, key)


def test_every_card_changes_the_default_config(cards):
    """A card that changes nothing would waste a trial; the exceptions are listed and deliberate."""
    for card in cards:
        for family in card.families:
            changed = card.effective_delta(default_config(family))
            assert bool(changed) != (card.id in DEFAULT_ON_PURPOSE), (card.id, family)


def test_effective_delta_sees_a_baseline_that_turned_the_default_off(cards):
    dense_log = next(c for c in cards if c.id == "data-dense-log")
    baseline = apply_delta(default_config("dcn_v2"), {"dense_transform": "standard"})
    assert dense_log.effective_delta(baseline) == {"dense_transform": "log"}


def test_switch_cards_do_not_list_their_target_family(cards):
    for card in cards:
        target = card.delta.get("model")
        if target is not None:
            assert target not in card.families, card.id


def test_citations_have_authors_year_and_a_source(cards):
    for card in cards:
        cite = card.citation
        assert cite.authors and all(a.strip() for a in cite.authors), card.id
        assert 1950 <= cite.year <= 2030, card.id
        assert cite.venue or cite.arxiv, card.id
        assert cite.short().endswith(cite.venue or f"arXiv:{cite.arxiv}")


def test_quantitative_evidence_contains_numbers(cards):
    for card in cards:
        if card.evidence_kind == "quantitative":
            assert re.search(r"\d", card.evidence), card.id


def test_required_topics_are_covered(cards):
    """The areas the brief named each have at least one card (by the knob it turns or its paper)."""
    knobs = {k for c in cards for k in c.delta}
    for knob in (
        "model",
        "embed_dim",
        "hash_buckets",
        "min_count",
        "sparse_optimizer",
        "lr_schedule",
        "emb_l2",
        "dropout",
        "norm",
        "batch_size",
        "warmup_steps",
        "weight_decay",
        "grad_clip_norm",
        "loss",
        "label_smoothing",
        "calibration",
        "epochs",
        "early_stopping_patience",
        "dense_transform",
        "cross_rank",
        "dcn_structure",
    ):
        assert knob in knobs, knob
    switched_to = {c.delta["model"] for c in cards if "model" in c.delta}
    assert switched_to == set(MODEL_FAMILIES) - {"lr"}
    titles = " ".join(c.citation.title for c in cards)
    for paper in (
        "Factorization Machines",
        "DeepFM",
        "DCN V2",
        "Deep Learning Recommendation Model",
        "FinalMLP",
        "BARS",
        "Large Minibatch SGD",
        "Decoupled Weight Decay",
        "Focal Loss",
        "Rethinking the Inception",
        "When Does Label Smoothing Help",
        "Probabilistic Outputs",
        "Early Stopping",
    ):
        assert paper in titles, paper


def test_bars_plateau_card_is_the_brief_recipe(cards):
    card = next(c for c in cards if c.id == "sched-plateau-bars")
    assert card.delta["lr_schedule"] == "plateau" and card.delta["plateau_factor"] == 0.1
    assert (
        card.delta["early_stopping_patience"] >= 2
    )  # otherwise training stops before the drop helps
    assert card.citation.arxiv == "2205.09626"


def _card_dict(**overrides) -> dict:
    base = json.loads(load_cards()[0].model_dump_json())
    base.update(overrides)
    return base


def test_parse_rejects_an_unknown_trainer_key_naming_the_card():
    bad = _card_dict(id="bad-knob", delta={"learning_rate": 0.1})
    with pytest.raises(ConfigError, match=r"bad-knob.*unknown key 'learning_rate'"):
        parse_cards({"cards": [bad]})


def test_parse_rejects_a_delta_invalid_for_one_family():
    # fusion_heads=3 does not divide finalmlp's 128-wide last layer.
    bad = _card_dict(id="bad-heads", families=["finalmlp"], delta={"fusion_heads": 3})
    with pytest.raises(ConfigError, match=r"bad-heads.*finalmlp"):
        parse_cards({"cards": [bad]})


def test_parse_rejects_duplicates_extra_fields_seed_and_missing_source():
    good = _card_dict()
    with pytest.raises(ConfigError, match="duplicate ids"):
        parse_cards({"cards": [good, good]})
    with pytest.raises(ConfigError, match="surprise"):
        parse_cards({"cards": [_card_dict(surprise=1)]})
    with pytest.raises(ConfigError, match="seed"):
        parse_cards({"cards": [_card_dict(delta={"seed": 3})]})
    cite = {"authors": ["A. Person"], "year": 2020, "title": "Something"}
    with pytest.raises(ConfigError, match="venue or an arXiv id"):
        parse_cards({"cards": [_card_dict(citation=cite)]})
    with pytest.raises(ConfigError, match="'cards' list"):
        parse_cards({"items": []})


def test_docs_list_every_card(cards, repo_root):
    text = (repo_root / "docs" / "research-library.md").read_text()
    missing = [c.id for c in cards if f"`{c.id}`" not in text]
    assert not missing, f"add to docs/research-library.md: {missing}"
