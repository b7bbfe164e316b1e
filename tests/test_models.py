"""Shapes, gradients and the maths of every model family and part (rea.trainers.models)."""

from __future__ import annotations

import itertools

import pytest
import torch

from rea.trainers.config import MODEL_FAMILIES, parse_config
from rea.trainers.data.types import Schema
from rea.trainers.errors import ConfigError, DataError
from rea.trainers.models import (
    BilinearFusion,
    CrossNetwork,
    DotInteraction,
    FeatureGate,
    build_model,
    fm_second_order,
)

SCHEMA = Schema(("c0", "c1", "c2"), ("d0", "d1"), (5, 9, 3))
BATCH = 8


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: with 2 threads on a shared 2-core machine, OpenMP hand-offs cost ~10x the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(schema: Schema, batch: int = BATCH, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    sparse = torch.stack(
        [torch.randint(0, c, (batch,), generator=gen) for c in schema.cardinalities], dim=1
    ).reshape(batch, schema.num_sparse)
    dense = torch.randn(batch, schema.num_dense, generator=gen)
    return sparse, dense


def build(family: str, schema: Schema = SCHEMA, seed: int = 0, **keys):
    torch.manual_seed(seed)
    return build_model(parse_config({"model": family, **keys}), schema)


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_forward_backward_shapes(family):
    model = build(family)
    sparse, dense = make_batch(SCHEMA)
    logits, emb_sq = model.forward_with_reg(sparse, dense)
    assert logits.shape == (BATCH,) and emb_sq.shape == ()
    assert torch.isfinite(logits).all()
    assert torch.equal(model(sparse, dense), logits)
    (logits.sum() + emb_sq).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize(
    ("family", "sparse_optimizer"),
    list(itertools.product(MODEL_FAMILIES, ["sparse_adam", "adagrad", "dense"])),
)
def test_table_gradients_sparse_unless_dense(family, sparse_optimizer):
    model = build(family, sparse_optimizer=sparse_optimizer)
    model(*make_batch(SCHEMA)).sum().backward()
    tables = model.embedding_parameters()
    assert tables
    assert all(t.grad.is_sparse == (sparse_optimizer != "dense") for t in tables)
    assert all(not p.grad.is_sparse for p in model.dense_parameters() if p.grad is not None)


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_parameter_split_is_a_partition(family):
    model = build(family)
    emb = {id(p) for p in model.embedding_parameters()}
    dense = {id(p) for p in model.dense_parameters()}
    assert not emb & dense
    assert emb | dense == {id(p) for p in model.parameters()}
    assert model.output_bias.shape == ()
    assert id(model.output_bias) in dense


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_output_bias_shifts_every_logit(family):
    model = build(family).eval()
    sparse, dense = make_batch(SCHEMA)
    before = model(sparse, dense)
    with torch.no_grad():
        model.output_bias.fill_(1.5)
    torch.testing.assert_close(model(sparse, dense), before + 1.5)


def _expected_emb_sq(model, sparse):
    """Σ over examples and fields of |table row|², straight from the tables, / batch."""
    offsets = [0, *itertools.accumulate(SCHEMA.cardinalities)]
    total = 0.0
    for table in model.embedding_parameters():
        for b, f in itertools.product(range(sparse.shape[0]), range(sparse.shape[1])):
            total += float(table.detach()[offsets[f] + sparse[b, f]].pow(2).sum())
    return total / sparse.shape[0]


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_emb_sq_matches_direct_computation(family):
    model = build(family)
    with torch.no_grad():  # first-order weights start at zero; make them count
        for table in model.embedding_parameters():
            table.normal_()
    sparse, dense = make_batch(SCHEMA)
    sparse[1] = sparse[0]  # a repeated row counts once per occurrence
    _, emb_sq = model.forward_with_reg(sparse, dense)
    assert float(emb_sq.detach()) == pytest.approx(_expected_emb_sq(model, sparse), rel=1e-5)


def test_low_rank_cross_has_fewer_parameters():
    def count(model):
        return sum(p.numel() for p in model.parameters())

    full = build("dcn_v2", cross_rank=None)
    low = build("dcn_v2", cross_rank=4)
    k = full.flat_dim
    assert count(full) - count(low) == 3 * (k * k - 2 * k * 4)
    sparse, dense = make_batch(SCHEMA)
    assert low(sparse, dense).shape == (BATCH,)


@pytest.mark.parametrize(
    "keys",
    [
        {"model": "dcn_v2", "cross_layers": 0},
        {"model": "dcn_v2", "mlp_dims": [], "dcn_structure": "stacked"},
        {"model": "dcn_v2", "mlp_dims": [], "dcn_structure": "parallel"},
        {"model": "dcn_v2", "mlp_dims": [], "cross_layers": 0},
        {"model": "dcn_v2", "dcn_structure": "stacked", "cross_rank": 2},
        {"model": "dlrm", "mlp_dims": [], "bottom_mlp_dims": []},
        {"model": "deepfm", "mlp_dims": [7]},
        {"model": "finalmlp", "fusion_heads": 4, "mlp_dims": [8], "mlp2_dims": [12]},
        {"model": "finalmlp", "feature_selection": False},
        {"model": "deepfm", "norm": "batch", "activation": "gelu", "dropout": 0.3},
        {"model": "dlrm", "norm": "layer", "activation": "tanh"},
        {"model": "finalmlp", "norm": "layer", "activation": "silu", "dropout": 0.1},
    ],
)
def test_config_variants_run(keys):
    model = build(keys["model"], **{k: v for k, v in keys.items() if k != "model"})
    logits, emb_sq = model.forward_with_reg(*make_batch(SCHEMA))
    assert logits.shape == (BATCH,)
    (logits.sum() + emb_sq).backward()


def test_deepfm_without_tower_is_fm():
    sparse, dense = make_batch(SCHEMA)
    fm = build("fm", seed=3)
    deepfm = build("deepfm", seed=3, mlp_dims=[])
    torch.testing.assert_close(deepfm(sparse, dense), fm(sparse, dense))


@pytest.mark.parametrize("family", MODEL_FAMILIES)
@pytest.mark.parametrize(
    "schema",
    [Schema(("a", "b"), (), (4, 6)), Schema(("a",), ("x", "y", "z"), (3,))],
    ids=["no-dense", "one-field"],
)
def test_schemas_without_dense_or_with_one_field(family, schema):
    model = build(family, schema=schema)
    logits = model(*make_batch(schema))
    assert logits.shape == (BATCH,)
    logits.sum().backward()


def test_fm_trick_equals_pairwise_sum():
    vectors = torch.randn(4, 6, 5, dtype=torch.float64)
    naive = sum(
        (vectors[:, i] * vectors[:, j]).sum(1) for i, j in itertools.combinations(range(6), 2)
    )
    torch.testing.assert_close(fm_second_order(vectors), naive)


def test_dot_interaction_is_upper_triangle_of_pairs():
    vectors = torch.randn(3, 4, 5)
    naive = torch.stack(
        [(vectors[:, i] * vectors[:, j]).sum(1) for i, j in itertools.combinations(range(4), 2)],
        dim=1,
    )
    torch.testing.assert_close(DotInteraction(4)(vectors), naive)


def test_cross_network_follows_the_recurrence():
    torch.manual_seed(0)
    net = CrossNetwork(6, 2, rank=3)
    x0 = torch.randn(4, 6)
    x = x0
    for down, up in zip(net.down, net.up, strict=True):
        x = x0 * (x @ down.weight.T @ up.weight.T + up.bias) + x
    torch.testing.assert_close(net(x0), x)
    assert torch.equal(CrossNetwork(6, 0)(x0), x0)


def test_bilinear_fusion_matches_per_head_formula():
    torch.manual_seed(0)
    fusion = BilinearFusion(6, 4, heads=2)
    o1, o2 = torch.randn(5, 6), torch.randn(5, 4)
    expected = fusion.linear1(o1).squeeze(1) + fusion.linear2(o2).squeeze(1)
    for h in range(2):
        a, b = o1[:, 3 * h : 3 * h + 3], o2[:, 2 * h : 2 * h + 2]
        expected = expected + ((a @ fusion.bilinear[h]) * b).sum(1)
    torch.testing.assert_close(fusion(o1, o2), expected)
    with pytest.raises(ConfigError, match="fusion_heads"):
        BilinearFusion(6, 4, heads=4)


def test_feature_gate_starts_at_one_and_stays_in_range():
    gate = FeatureGate(4, 10)
    x = torch.randn(3, 10)
    torch.testing.assert_close(gate(x), x)
    with torch.no_grad():
        gate.mlp[-1].weight.normal_(std=10.0)
    ratio = gate(x) / x
    assert ((ratio > 0) & (ratio < 2)).all()


def test_same_seed_same_weights():
    a, b = build("finalmlp", seed=7), build("finalmlp", seed=7)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    c = build("finalmlp", seed=8)
    assert not torch.equal(a.embedding.table.weight, c.embedding.table.weight)


def test_out_of_range_ids_name_the_field():
    model = build("dcn_v2")
    sparse, dense = make_batch(SCHEMA)
    sparse[2, 1] = 9  # cardinality of c1 is 9: valid ids 0..8
    with pytest.raises(DataError, match=r"'c1'.*cardinality is 9"):
        model(sparse, dense)
    sparse[2, 1] = -1
    with pytest.raises(DataError, match="'c1'"):
        model(sparse, dense)


def test_wrong_shapes_and_bad_schema_are_data_errors():
    model = build("fm")
    sparse, dense = make_batch(SCHEMA)
    with pytest.raises(DataError, match=r"sparse \[B, 3\]"):
        model(sparse[:, :2], dense)
    with pytest.raises(DataError, match="batch sizes differ"):
        model(sparse, dense[:4])
    with pytest.raises(DataError, match="cardinality"):
        build("fm", schema=Schema(("a",), (), (0,)))
    with pytest.raises(DataError, match="no features"):
        build("lr", schema=Schema((), (), ()))
