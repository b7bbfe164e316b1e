"""The synthetic presets: what each world looks like and how strong each part of its true logit is.

Every strength below is the standard deviation (over rows) that one part of the true logit has,
so the numbers read as "how much of the logit is first-order, pairwise, higher-order". Field
indices refer to `cardinalities`; dense indices to the dense features. See `synthetic.py` for how a
preset becomes rows, and docs/data.md for the Bayes / LR / FM NEs measured on each preset.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataError


@dataclass(frozen=True)
class SyntheticPreset:
    """A synthetic world. All strengths are logit standard deviations (see the module docstring).

    cardinalities / zipf: ids per categorical field and the Zipf exponent of their frequencies.
    dense_missing[d]: share of rows where dense feature d is missing; dense_parent[d]: the field
    whose id shifts feature d's log-mean (-1 = none).
    first_order / dense_first_order: the sum of per-id effects / of dense effects.
    tail_effect: a first-order effect shared by rare ids (-Σ_f log(1 + frequency rank)): rare
    ids click less, so an OOV bucket trained on them (min_count > 1) learns something that
    their own barely-seen embeddings cannot.
    pairs: (field i, field j, strength): strength × <U_i[id_i], U_j[id_j]>, a dot product of
    rank-`rank` latent vectors; each field has ONE latent table shared by all its pairs (as in a
    field-weighted FM), and a negative strength flips the sign of that pair's term.
    cat_dense: (field, dense, strength): a per-id coefficient times the (log-scaled) dense value.
    triples: (i, j, k, strength): a rank-`rank` three-way product of per-id latent vectors
    (mean 0.7, so the term also has lower-order parts, as real interactions do).
    smooth_fields / smooth: cos(2·h) with h the normalised sum of a scalar latent per field, a
    genuinely higher-order function of those fields.
    """

    name: str
    description: str
    cardinalities: tuple[int, ...]
    zipf: tuple[float, ...]
    dense_missing: tuple[float, ...]
    dense_parent: tuple[int, ...]
    target_ctr: float
    first_order: float
    dense_first_order: float
    tail_effect: float = 0.0
    pairs: tuple[tuple[int, int, float], ...] = ()
    cat_dense: tuple[tuple[int, int, float], ...] = ()
    triples: tuple[tuple[int, int, int, float], ...] = ()
    smooth_fields: tuple[int, ...] = ()
    smooth: float = 0.0
    rank: int = 4
    default_rows: int = 100_000

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise DataError(f"synthetic preset {self.name!r} is invalid: " + "; ".join(problems))

    @property
    def num_sparse(self) -> int:
        return len(self.cardinalities)

    @property
    def num_dense(self) -> int:
        return len(self.dense_missing)

    def _problems(self) -> list[str]:
        f, d = self.num_sparse, self.num_dense
        out = []
        if len(self.zipf) != f:
            out.append(f"zipf has {len(self.zipf)} entries for {f} fields")
        if len(self.dense_parent) != d:
            out.append(f"dense_parent has {len(self.dense_parent)} entries for {d} dense features")
        if f == 0 or any(k < 1 for k in self.cardinalities):
            out.append("needs at least one categorical field, each with cardinality >= 1")
        if not 0.0 < self.target_ctr < 1.0:
            out.append("target_ctr must be in (0, 1)")
        if any(not 0.0 <= m < 1.0 for m in self.dense_missing):
            out.append("dense_missing entries must be in [0, 1)")
        fields = [*(p[:2] for p in self.pairs), *(t[:3] for t in self.triples)]
        fields += [(c[0],) for c in self.cat_dense] + [tuple(self.smooth_fields)]
        fields += [(p,) for p in self.dense_parent if p >= 0]
        if any(not 0 <= i < f for group in fields for i in group):
            out.append(f"a field index is outside 0..{f - 1}")
        if any(not 0 <= c[1] < d for c in self.cat_dense):
            out.append(f"a dense index is outside 0..{d - 1}")
        if self.rank < 1 or self.default_rows < 100:
            out.append("rank must be >= 1 and default_rows >= 100")
        return out


# fmt: off
_CRITEO_CARDS = (1460, 583, 200_000, 100_000, 305, 24, 12_517, 633, 3, 50_000, 5683, 200_000, 3194,
                 27, 14_992, 150_000, 10, 5652, 2173, 4, 180_000, 18, 15, 80_000, 105, 60_000)
_LONG_TAIL_CARDS = (10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 30_000, 80_000, 300_000,
                    150_000, 40_000, 250_000, 60_000, 120_000, 400_000, 15_000, 90_000, 350_000,
                    25_000, 180_000)
# fmt: on


def _criteo_like() -> SyntheticPreset:
    # Cardinalities shaped like Criteo's 26 fields, the largest scaled down to 50k–200k so that a
    # 100k-row sample still has a long tail of ids seen once or twice.
    cards = _CRITEO_CARDS
    zipf = tuple(1.15 if k >= 50_000 else 1.05 if k >= 5000 else 0.9 for k in cards)
    # Missing shares close to Criteo's I1..I13.
    missing = (0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22)
    return SyntheticPreset(
        name="criteo-like",
        description="26 Zipf categorical fields (several long-tail) and 13 count-like dense "
        "features with missing values; CTR ~0.25; moderate interactions.",
        cardinalities=cards,
        zipf=zipf,
        dense_missing=missing,
        dense_parent=(-1, -1, 4, -1, 0, -1, -1, 13, -1, -1, 7, -1, -1),
        target_ctr=0.25,
        first_order=1.0,
        dense_first_order=0.4,
        tail_effect=0.4,
        pairs=(
            (0, 1, 0.45),
            (4, 7, 0.4),
            (5, 13, 0.4),
            (10, 12, 0.35),
            (2, 6, 0.3),
            (16, 24, 0.35),
        ),
        cat_dense=((0, 4, 0.3), (13, 7, 0.3), (5, 2, 0.25)),
        triples=((5, 13, 16, 0.3),),
        smooth_fields=(1, 8, 21),
        smooth=0.3,
        rank=4,
    )


def _interaction_heavy() -> SyntheticPreset:
    # Calibrated at 50k rows (docs/data.md): fields 0-3 form a clique of pairs with mixed signs
    # (not representable by FM's all-pairs-weight-1 form at low rank: DCN's learned weights fit
    # it), fields 4/5 and 6/7 are plain FM-style pairs, two three-way terms and a smooth term
    # reward deeper models, and first-order effects are kept small.
    return SyntheticPreset(
        name="interaction-heavy",
        description="10 moderate-cardinality fields (10-500 ids) whose effects are mostly "
        "pairwise and higher-order: LR < FM < DCN-v2 clearly. Calibrated at 50k rows.",
        cardinalities=(10, 12, 16, 20, 24, 30, 40, 50, 200, 500),
        zipf=(0.3, 0.3, 0.4, 0.4, 0.4, 0.5, 0.5, 0.5, 0.8, 1.0),
        dense_missing=(0.0, 0.1, 0.0, 0.2),
        dense_parent=(-1, 3, -1, 8),
        target_ctr=0.25,
        first_order=0.7,
        dense_first_order=0.3,
        pairs=(
            (0, 1, 0.4),
            (0, 2, 0.4),
            (0, 3, -0.4),
            (1, 2, -0.4),
            (1, 3, 0.4),
            (2, 3, 0.4),
            (4, 5, 0.9),
            (6, 7, 0.9),
        ),
        cat_dense=((7, 0, 0.4), (8, 1, 0.4)),
        triples=((0, 4, 6, 0.8), (1, 5, 7, 0.6)),
        smooth_fields=(2, 3, 8),
        smooth=0.5,
        rank=2,
    )


def _sparse_long_tail() -> SyntheticPreset:
    cards = _LONG_TAIL_CARDS
    return SyntheticPreset(
        name="sparse-long-tail",
        description="20 very high-cardinality fields with heavy Zipf tails (most ids seen once or "
        "twice), CTR ~0.03: min_count / OOV and embedding L2 matter.",
        cardinalities=cards,
        zipf=tuple(1.1 + 0.3 * (i % 3) / 2 for i in range(len(cards))),
        dense_missing=(0.0, 0.3, 0.1),
        dense_parent=(2, -1, -1),
        target_ctr=0.03,
        first_order=1.0,
        tail_effect=0.8,
        dense_first_order=0.3,
        pairs=((0, 1, 0.5), (2, 6, 0.5), (10, 15, 0.4)),
        cat_dense=((0, 0, 0.3),),
        rank=4,
    )


def _tiny() -> SyntheticPreset:
    return SyntheticPreset(
        name="tiny",
        description="4 small fields and 2 dense features, one planted pair: for fast tests.",
        cardinalities=(8, 16, 32, 64),
        zipf=(0.8, 0.8, 0.8, 0.8),
        dense_missing=(0.0, 0.1),
        dense_parent=(-1, 1),
        target_ctr=0.3,
        first_order=0.8,
        dense_first_order=0.3,
        pairs=((0, 1, 0.8),),
        cat_dense=((2, 0, 0.4),),
        rank=2,
        default_rows=10_000,
    )


PRESETS: dict[str, SyntheticPreset] = {
    p.name: p for p in (_criteo_like(), _interaction_heavy(), _sparse_long_tail(), _tiny())
}
