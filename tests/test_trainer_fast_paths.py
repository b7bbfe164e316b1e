"""The trainer's speed paths compute what the plain formulation computes.

Each fast path (the FM term's hand-written backward, the unique-row embedding gradient and the
optimiser's skip of the re-sort, the oneDNN fp32 linear, DCN-v2's split head, bf16 mixed
precision) is checked against the straightforward version it replaces.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rea.tools.trainer import family_knobs
from rea.trainers.config import parse_config
from rea.trainers.data import load_data
from rea.trainers.data.types import Schema
from rea.trainers.errors import ConfigError
from rea.trainers.models import build_model, fm_second_order, gemm
from rea.trainers.models.base import FieldEmbedding
from rea.trainers.optim import RowSparseAdam, _strictly_increasing
from rea.trainers.train import train

SCHEMA = Schema(("c0", "c1", "c2"), ("d0", "d1"), (5, 9, 3))


def test_fm_backward_matches_autograd_of_the_formula():
    vectors = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fm_second_order, (vectors,))
    grad = torch.randn(4, dtype=torch.float64)
    (mine,) = torch.autograd.grad(fm_second_order(vectors), vectors, grad)
    plain = 0.5 * (vectors.sum(1).pow(2) - vectors.pow(2).sum(1)).sum(1)
    (ref,) = torch.autograd.grad(plain, vectors, grad)
    torch.testing.assert_close(mine, ref)


def test_unique_row_gradient_equals_nn_embedding_gradient():
    torch.manual_seed(0)
    emb = FieldEmbedding([5, 7, 3], 4, sparse_grad=True, init_std=0.1)
    ids = torch.tensor([[0, 1, 2], [0, 6, 2], [4, 1, 0], [0, 1, 2]])  # repeated rows
    weights = torch.randn(4, 3, 4)
    (emb(ids) * weights).sum().backward()
    mine = emb.table.weight.grad
    emb.table.weight.grad = None
    (emb.table(ids + emb.offsets) * weights).sum().backward()
    ref = emb.table.weight.grad
    assert mine.is_sparse
    rows = mine._indices()[0]
    assert _strictly_increasing(rows) and rows.numel() == len(
        set((ids + emb.offsets).flatten().tolist())
    )
    torch.testing.assert_close(mine.to_dense(), ref.to_dense())
    # Without a gradient (evaluation), the lookup is the plain embedding.
    with torch.no_grad():
        torch.testing.assert_close(emb(ids), emb.table(ids + emb.offsets))


def test_row_sparse_adam_fast_path_matches_torch_sparse_adam():
    """FieldEmbedding's gradients take RowSparseAdam's no-sort path; the trajectory is SparseAdam's."""

    def run(opt_cls):
        torch.manual_seed(0)
        emb = FieldEmbedding([300, 200], 8, sparse_grad=True, init_std=0.1)
        opt = opt_cls([emb.table.weight], lr=0.01)
        gen = torch.Generator().manual_seed(1)
        for _ in range(20):
            ids = torch.stack(
                [
                    torch.randint(0, 40, (64,), generator=gen),
                    torch.randint(0, 30, (64,), generator=gen),
                ],
                dim=1,
            )
            loss = (emb(ids) ** 2).sum() + emb(ids)[:, 0].sum()  # two lookups: a summed gradient
            opt.zero_grad()
            loss.backward()
            opt.step()
            single = emb(ids).pow(3).sum()  # one lookup: the coalesced fast path
            opt.zero_grad()
            single.backward()
            opt.step()
        return emb.table.weight.detach()

    torch.testing.assert_close(run(RowSparseAdam), run(torch.optim.SparseAdam), atol=1e-6, rtol=0)


def test_strictly_increasing():
    assert _strictly_increasing(torch.tensor([0, 3, 9]))
    assert _strictly_increasing(torch.tensor([4]))
    assert not _strictly_increasing(torch.tensor([0, 3, 3]))
    assert not _strictly_increasing(torch.tensor([5, 3]))


def test_onednn_linear_equals_f_linear():
    torch.manual_seed(0)
    x = torch.randn(64, 45, requires_grad=True)
    w = torch.randn(30, 45, requires_grad=True)
    b = torch.randn(30, requires_grad=True)
    grad = torch.randn(64, 30)
    for bias in (b, None):
        inputs = [x, w] + ([bias] if bias is not None else [])
        mine = gemm.linear(x, w, bias)
        ref = F.linear(x, w, bias)
        torch.testing.assert_close(mine, ref)
        for a, r in zip(
            torch.autograd.grad(mine, inputs, grad),
            torch.autograd.grad(ref, inputs, grad),
            strict=True,
        ):
            torch.testing.assert_close(a, r)
    if gemm._ONEDNN:  # the fp32 CPU path really is the oneDNN one
        assert mine.grad_fn.name().startswith("_OneDnnLinear")
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast: plain F.linear (bf16)
        assert gemm.linear(x, w, b).dtype == torch.bfloat16
    assert gemm.linear(x.double(), w.double()).dtype == torch.float64


def test_linear_layers_keep_nn_linear_state_dict():
    layer = gemm.Linear(4, 3)
    assert isinstance(layer, torch.nn.Linear)
    assert set(layer.state_dict()) == {"weight", "bias"}


def test_cross_residual_backward():
    from rea.trainers.models.layers import _CrossResidual

    x, x0, m = (torch.randn(5, 7, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(_CrossResidual.apply, (x, x0, m))
    torch.testing.assert_close(_CrossResidual.apply(x, x0, m), x + x0 * m)


def test_dcn_v2_parallel_head_equals_concat_formula():
    torch.manual_seed(0)
    model = build_model(parse_config({"model": "dcn_v2", "embed_dim": 4}), SCHEMA)
    gen = torch.Generator().manual_seed(1)
    sparse = torch.stack([torch.randint(0, c, (8,), generator=gen) for c in (5, 9, 3)], dim=1)
    dense = torch.randn(8, 2, generator=gen)
    x0, _ = model.flat_input(sparse, dense, False)
    top = torch.cat([model.cross(x0), model.deep(x0)], dim=1)
    expected = model.head(top).squeeze(1) + model.bias
    torch.testing.assert_close(model(sparse, dense), expected)


@pytest.mark.parametrize("family", ["deepfm", "dcn_v2", "dlrm", "finalmlp"])
def test_bf16_logits_are_float32_and_close_to_fp32(family):
    gen = torch.Generator().manual_seed(1)
    sparse = torch.stack([torch.randint(0, c, (32,), generator=gen) for c in (5, 9, 3)], dim=1)
    dense = torch.randn(32, 2, generator=gen)
    torch.manual_seed(0)
    fp32 = build_model(parse_config({"model": family, "embed_dim": 8}), SCHEMA)
    torch.manual_seed(0)
    bf16 = build_model(parse_config({"model": family, "embed_dim": 8, "precision": "bf16"}), SCHEMA)
    assert bf16.bf16 and not fp32.bf16
    with torch.no_grad():
        bf16.bias.fill_(0.3)
        fp32.bias.fill_(0.3)
    a, b = fp32(sparse, dense), bf16(sparse, dense)
    assert b.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    torch.testing.assert_close(b, a, atol=0.05, rtol=0.05)  # bf16 has 8 bits of mantissa
    b.sum().backward()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in bf16.parameters())


def test_bf16_training_reaches_fp32_quality():
    data = load_data("synthetic:interaction-heavy?rows=20000&seed=2")
    config = {"model": "dcn_v2", "epochs": 3, "batch_size": 512, "embed_dim": 8, "lr": 3e-3}
    fp32 = train(config, data)
    bf16 = train({**config, "precision": "bf16"}, data)
    assert bf16.config["precision"] == "bf16"
    assert bf16.metrics["val_ne"] < 0.95  # learned (fp32 and bf16 both reach ~0.887 here)
    assert abs(bf16.metrics["val_auc"] - fp32.metrics["val_auc"]) < 0.01
    assert abs(bf16.metrics["val_ne"] - fp32.metrics["val_ne"]) < 0.01


def test_precision_is_validated_and_not_a_knob_without_matmuls():
    assert parse_config({"model": "dcn_v2"}).precision == "fp32"
    with pytest.raises(ConfigError, match="precision"):
        parse_config({"model": "dcn_v2", "precision": "fp16"})
    assert "precision" in family_knobs("dcn_v2") and "precision" in family_knobs("deepfm")
    assert "precision" not in family_knobs("lr") and "precision" not in family_knobs("fm")
