"""Every family can learn (overfits a tiny batch) and its seeded initial outputs do not drift."""

from __future__ import annotations

import pytest
import torch

from rea.trainers.config import MODEL_FAMILIES, parse_config
from rea.trainers.data.types import Schema
from rea.trainers.models import build_model

SCHEMA = Schema(("user", "item", "site"), ("d0", "d1"), (40, 7, 3))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: with 2 threads on a shared 2-core machine, OpenMP hand-offs cost ~10x the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_batch(rows: int = 32):
    """Labels that a model can only fit by memorising (every row has its own `user` id)."""
    gen = torch.Generator().manual_seed(0)
    sparse = torch.stack(
        [
            torch.randperm(40, generator=gen)[:rows],
            torch.randint(0, 7, (rows,), generator=gen),
            torch.randint(0, 3, (rows,), generator=gen),
        ],
        dim=1,
    )
    dense = torch.randn(rows, 2, generator=gen)
    label = torch.randint(0, 2, (rows,), generator=gen).float()
    return sparse, dense, label


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_overfits_a_tiny_batch(family):
    torch.manual_seed(0)
    config = {"model": family, "embed_dim": 8, "mlp_dims": [32, 16], "mlp2_dims": [16]}
    model = build_model(parse_config(config), SCHEMA)
    sparse_opt = torch.optim.SparseAdam(model.embedding_parameters(), lr=0.05)
    dense_opt = torch.optim.Adam(model.dense_parameters(), lr=0.01)
    sparse, dense, label = tiny_batch()
    losses = []
    for _ in range(100):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(sparse, dense), label)
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        loss.backward()
        sparse_opt.step()
        dense_opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]


# torch.manual_seed(0); build_model(...) on SCHEMA with embed_dim=4 and small towers, then the
# logits of the first four rows of tiny_batch(). Regenerate only on a deliberate change of
# initialisation or architecture: print the values and paste them here.
GOLDEN = {
    "lr": [-0.0566054, 0.0744689, 0.023104, 0.0391512],
    "fm": [0.481116, 0.147627, -0.186863, -0.132946],
    "deepfm": [-0.238916, 0.283158, -0.141339, 0.370372],
    "dcn_v2": [0.0154888, -0.557607, 0.329337, 0.406527],
    "dlrm": [0.0666283, 0.202845, 0.13823, 0.0168166],
    "finalmlp": [-0.013679, 0.36793, -0.359374, -0.668339],
}


def golden_logits(family: str) -> list[float]:
    torch.manual_seed(0)
    config = {
        "model": family,
        "embed_dim": 4,
        "mlp_dims": [8, 4],
        "mlp2_dims": [6],
        "bottom_mlp_dims": [5],
        "cross_layers": 2,
        "fusion_heads": 2,
    }
    model = build_model(parse_config(config), SCHEMA).eval()
    with torch.no_grad():
        for table in model.embedding_parameters():  # first-order weights start at zero
            table.normal_(std=0.1)
        sparse, dense, _ = tiny_batch()
        return model(sparse[:4], dense[:4]).tolist()


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_seeded_golden_logits(family):
    assert golden_logits(family) == pytest.approx(GOLDEN[family], rel=1e-4, abs=1e-6)
