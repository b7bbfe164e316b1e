"""Model families differ measurably on planted interactions, and none beats the Bayes-optimal NE."""

from __future__ import annotations

import pytest

from rea.trainers.data import load_data
from rea.trainers.train import train

CONFIG = {"epochs": 4, "batch_size": 512, "lr": 3e-3}


@pytest.fixture(scope="module")
def results():
    data = load_data("synthetic:interaction-heavy?rows=30000&seed=0")
    return {m: train({"model": m, **CONFIG}, data) for m in ("lr", "fm", "dcn_v2")}


def test_dcn_v2_beats_lr_by_a_clear_margin(results):
    lr, dcn = results["lr"].metrics["val_ne"], results["dcn_v2"].metrics["val_ne"]
    assert dcn < lr - 0.03, f"DCN-v2 {dcn:.4f} vs LR {lr:.4f}"
    assert results["dcn_v2"].metrics["val_auc"] > results["lr"].metrics["val_auc"] + 0.03


def test_fm_sits_between_lr_and_dcn_v2(results):
    ne = {m: r.metrics["val_ne"] for m, r in results.items()}
    assert ne["dcn_v2"] < ne["fm"] < ne["lr"], ne


@pytest.mark.parametrize("model", ["lr", "fm", "dcn_v2"])
def test_no_model_beats_the_bayes_optimal_ne(results, model):
    result = results[model]
    for split in ("val", "test"):
        assert result.metrics[f"{split}_ne"] > result.bayes[f"{split}_ne"]
    assert result.bayes["val_ne"] < 0.8  # the planted signal is strong: plenty left to learn
