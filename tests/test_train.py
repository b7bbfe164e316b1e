"""`train(config, data)`: every family trains, results are deterministic, failures are real."""

from __future__ import annotations

import pytest
import torch

from rea.trainers.config import MODEL_FAMILIES
from rea.trainers.data import load_data
from rea.trainers.errors import ConfigError, Diverged, NanLoss, TrainingTimeout
from rea.trainers.pruning import Prune
from rea.trainers.train import train

TINY = "synthetic:tiny?rows=3000&seed=1"


@pytest.fixture(scope="module")
def tiny():
    return load_data(TINY)


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_every_family_trains_and_reports_metrics(tiny, family):
    result = train({"model": family, "epochs": 2, "batch_size": 256, "embed_dim": 8}, tiny)
    m = result.metrics
    for split in ("val", "test"):
        for key in ("ne", "auc", "logloss", "calibration"):
            assert f"{split}_{key}" in m
    assert m["val_ne"] < 1.0  # learned something beyond the base rate
    assert m["val_ne"] > result.bayes["val_ne"]  # never better than the Bayes-optimal predictor
    assert len(result.epochs) == 2 and result.best_epoch in (0, 1)
    assert result.samples_per_sec > 0 and result.peak_memory_mb > 0 and result.num_params > 0


def test_same_config_and_seed_give_same_metrics(tiny):
    config = {"model": "deepfm", "epochs": 2, "batch_size": 256, "dropout": 0.1}
    a, b = train(config, tiny, seed=3), train(config, tiny, seed=3)
    assert a.metrics == b.metrics
    assert [e.train_loss for e in a.epochs] == [e.train_loss for e in b.epochs]
    c = train(config, tiny, seed=4)
    assert c.metrics["val_ne"] != a.metrics["val_ne"]


def test_data_reference_is_loaded_with_the_config_data_keys():
    result = train({"model": "lr", "epochs": 1, "min_count": 5}, TINY)
    assert result.data_ref == TINY
    assert result.data_info["data_params"]["min_count"] == 5


def test_too_high_learning_rate_is_caught_as_nan_loss(tiny):
    with pytest.raises(NanLoss, match="loss became nan") as err:
        train(
            {"model": "dcn_v2", "optimizer": "sgd", "lr": 10.0, "epochs": 1, "batch_size": 256},
            tiny,
        )
    assert err.value.kind == "nan_loss" and err.value.partial["step"] >= 1


def test_exploding_loss_is_caught_as_diverged(tiny):
    config = {"model": "deepfm", "lr": 50.0, "embedding_lr": 50.0, "epochs": 1, "batch_size": 256}
    with pytest.raises(Diverged):
        train(config, tiny)


def test_deadline_is_honoured(tiny):
    with pytest.raises(TrainingTimeout):
        train({"model": "finalmlp", "epochs": 50, "batch_size": 16}, tiny, max_seconds=0.5)


def test_bad_config_is_a_config_error(tiny):
    with pytest.raises(ConfigError, match="unknown key 'dropuot'"):
        train({"model": "fm", "dropuot": 0.1}, tiny)


@pytest.mark.parametrize(
    "delta",
    [
        {"lr_schedule": "warmup_cosine", "warmup_steps": 5},
        {
            "lr_schedule": "plateau",
            "plateau_patience": 0,
            "epochs": 3,
            "early_stopping_patience": 0,
        },
        {"loss": "focal", "focal_gamma": 2.0},
        {"label_smoothing": 0.1},
        {"emb_l2": 1e-4, "weight_decay": 1e-5, "optimizer": "adamw"},
        {"sparse_optimizer": "dense", "optimizer": "adagrad", "lr": 0.05},
        {"sparse_optimizer": "adagrad", "embedding_lr": 0.05},
        {"grad_clip_norm": 1.0, "norm": "batch", "dropout": 0.2},
        {"calibration": "platt"},
        {"hash_buckets": 16, "dense_transform": "standard"},
    ],
    ids=lambda d: ",".join(d),
)
def test_every_knob_trains(delta):
    config = {"model": "deepfm", "epochs": 2, "batch_size": 256, **delta}
    result = train(config, TINY)
    assert result.metrics["val_ne"] < 1.05
    for key, value in delta.items():
        assert result.config[key] == value


def test_plateau_schedule_drops_the_learning_rate(tiny):
    config = {
        "model": "fm",
        "lr_schedule": "plateau",
        "plateau_patience": 0,
        "plateau_factor": 0.1,
        "lr": 0.05,
        "embedding_lr": 0.05,
        "epochs": 4,
        "early_stopping_patience": 0,
        "batch_size": 256,
    }
    result = train(config, tiny)
    factors = [e.lr_factor for e in result.epochs]
    assert min(factors) < 1.0  # at least one epoch failed to improve at this LR, and LR dropped


def test_platt_calibration_fixes_a_miscalibrated_model(tiny):
    base = {"model": "fm", "label_smoothing": 0.3, "epochs": 2, "batch_size": 256}
    raw = train(base, tiny)
    fixed = train({**base, "calibration": "platt"}, tiny)
    assert abs(fixed.metrics["val_calibration"] - 1) < abs(raw.metrics["val_calibration"] - 1)
    assert fixed.metrics["val_ne"] <= raw.metrics["val_ne"] + 1e-9


def test_early_stopping_stops(tiny):
    config = {
        "model": "deepfm",
        "lr": 0.05,
        "embedding_lr": 0.05,
        "epochs": 20,
        "early_stopping_patience": 1,
        "batch_size": 256,
    }
    result = train(config, tiny)
    assert result.stopped_early and len(result.epochs) < 20
    assert result.metrics["val_ne"] == pytest.approx(
        result.epochs[result.best_epoch].metrics["val_ne"]
    )


def test_cpu_training_does_not_leak_threads_setting():
    before = torch.get_num_threads()
    train({"model": "lr", "epochs": 1}, TINY)
    assert torch.get_num_threads() == before


def test_embedding_l2_shrinks_the_used_rows(tiny, monkeypatch):
    import rea.trainers.train as train_mod

    norms = {}
    original = train_mod._Run.result

    def spy(self, t0, ref):
        tables = self.model.embedding_parameters()
        norms[self.config.emb_l2] = sum(float(t.detach().norm()) for t in tables)
        return original(self, t0, ref)

    monkeypatch.setattr(train_mod._Run, "result", spy)
    base = {"model": "fm", "epochs": 2, "batch_size": 256, "lr": 0.01, "embedding_lr": 0.01}
    train({**base, "emb_l2": 0.0}, tiny)
    train({**base, "emb_l2": 0.5}, tiny)
    assert norms[0.5] < 0.8 * norms[0.0]


def test_row_sparse_adam_matches_torch_sparse_adam():
    from rea.trainers.optim import RowSparseAdam

    def run(opt_cls):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(500, 8, sparse=True)
        opt = opt_cls([emb.weight], lr=0.01)
        gen = torch.Generator().manual_seed(1)
        for _ in range(20):
            ids = torch.randint(0, 60, (64, 5), generator=gen)  # repeated rows within a batch
            loss = (emb(ids) ** 2).sum() + emb(ids)[:, 0].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return emb.weight.detach()

    ours, theirs = run(RowSparseAdam), run(torch.optim.SparseAdam)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert torch.equal(
        ours[60:], run(lambda p, lr: torch.optim.SGD(p, lr=0.0))[60:]
    )  # unused rows stay


def test_a_run_behind_its_pruning_bar_stops_there_and_keeps_its_best_epoch(tiny):
    config = {"model": "fm", "epochs": 5, "batch_size": 256, "early_stopping_patience": 0}
    full = train(config, tiny)
    assert len(full.epochs) == 5 and full.pruned_at_epoch is None
    # A bar nobody clears at epoch 1: the run stops after its second epoch, a success with the
    # metrics of its best epoch so far (the same run as the full one up to there).
    pruned = train(config, tiny, prune=Prune(val_ne_above=[None, 0.01, 0.01, 0.01]))
    assert pruned.pruned_at_epoch == 1 and pruned.stopped_early
    assert len(pruned.epochs) == 2
    curve = [e.metrics["val_ne"] for e in pruned.epochs]
    assert curve == pytest.approx([e.metrics["val_ne"] for e in full.epochs[:2]])
    assert pruned.metrics["val_ne"] == pytest.approx(min(curve))
    assert "test_ne" in pruned.metrics
    # Bars it clears change nothing; a bar on the last epoch is never applied (nothing to save).
    clear = train(config, tiny, prune=Prune(val_ne_above=[2.0, 2.0, 2.0, 2.0, 0.01]))
    assert clear.pruned_at_epoch is None and len(clear.epochs) == 5
    assert clear.metrics["val_ne"] == pytest.approx(full.metrics["val_ne"])


@pytest.mark.parametrize("bar", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_pruning_bar_must_be_a_positive_finite_ne(bar):
    with pytest.raises(ValueError, match=r"val_ne_above\[1\] must be a positive finite NE"):
        Prune(val_ne_above=[None, bar])
