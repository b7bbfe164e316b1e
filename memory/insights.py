"""Historical insights: what earlier campaigns (and imported studies) learned, searchable by meaning.

An `Insight` is one short statement ("Lowering lr to 3e-4 on dcn_v2 improved val NE by 0.8%") with
the evidence behind it: model family, dataset traits, the config delta, the measured effect with a
confidence interval and its number of replicates, the cost, and where it came from. Negative
results (hurt / neutral) are kept: knowing what did not work is what stops re-proposing it.

`InsightMemory` keeps insights in a Chroma collection. Chroma metadata must be flat scalars, so
each record holds the whole insight as JSON (`insight_json`) plus flat keys to filter on: `model`,
`outcome`, `source`, `knob_<name>=True` per changed knob, `knob_sig` (knobs with directions, see
`knob_signature`), `sig_outcome` (`knob_sig#outcome`), `ds_<trait>` per scalar dataset trait,
`gain_pct`, `seeds`, `strength`, `campaign_id`, `created_ts`. Search = cosine similarity of the
statement, then a re-rank by evidence strength (docs/memory.md gives the formula); each hit
carries the stored insights that contradict it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .insight_index import MetadataIndex, UnsupportedFilter, compile_where

if TYPE_CHECKING:  # chromadb takes seconds to import; only InsightMemory needs it, at run time
    from chromadb.api import ClientAPI
    from chromadb.api.types import EmbeddingFunction

Outcome = Literal["helped", "hurt", "neutral"]
InsightSource = Literal["campaign", "import:optuna", "import:csv", "import:mlflow"]
OPPOSITE: dict[str, str] = {"helped": "hurt", "hurt": "helped"}
MIN_POST_FILTER = 200  # fewest unfiltered candidates scanned for a filtered search
MAX_POST_FILTER = 6000  # most; a filter needing more goes to Chroma's SQLite filter instead


class Effect(BaseModel):
    """The measured effect of a change on the objective (NE unless `metric` says otherwise)."""

    metric: str = Field("val_ne", description="Metric the gain is measured on.")
    gain_pct: float = Field(description="Relative gain over the reference in %, positive = better.")
    ci_lo: float | None = Field(None, description="95% CI low end of gain_pct; null = unknown.")
    ci_hi: float | None = Field(None, description="95% CI high end of gain_pct; null = unknown.")
    seeds: int = Field(
        0, ge=0, description="Independent replicates behind the estimate (seeds, runs)."
    )

    @property
    def significant(self) -> bool:
        """True when the CI is known and excludes zero."""
        return (
            self.ci_lo is not None and self.ci_hi is not None and (self.ci_lo > 0 or self.ci_hi < 0)
        )


class Evidence(BaseModel):
    """Everything behind an insight, kept whole so the agent can judge it."""

    model: str | None = Field(
        None, description="Model family (lr, fm, deepfm, dcn_v2, dlrm, finalmlp)."
    )
    dataset: dict[str, Any] = Field(
        default_factory=dict,
        description="Dataset traits: source/preset, rows, ctr, fields, cardinality.",
    )
    knobs: dict[str, Any] = Field(default_factory=dict, description="Config delta that was tried.")
    baseline: dict[str, Any] = Field(
        default_factory=dict, description="Reference values of those knobs (gives the direction)."
    )
    effect: Effect
    cost_seconds: float = Field(0.0, ge=0.0, description="Trainer-seconds spent on the evidence.")
    method: str = Field(
        "", description="How the effect was estimated (seeds vs baseline, pairs, ...)."
    )
    other_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Non-executable parameters that also varied (kept as context).",
    )


class Insight(BaseModel):
    """One learned fact with its evidence."""

    id: str
    statement: str = Field(description="One short sentence: what changed, where, and the effect.")
    evidence: Evidence
    outcome: Outcome
    source: InsightSource = "campaign"
    campaign_id: str | None = None
    experiment_id: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ScoredInsight(BaseModel):
    """A search hit: the insight, how it scored, and stored insights that contradict it."""

    insight: Insight
    similarity: float = Field(description="Cosine similarity of query and statement, -1..1.")
    strength: float = Field(description="Evidence strength, 0..1 (see evidence_strength).")
    score: float = Field(description="Ranking score: similarity x (0.5 + 0.5 x strength).")
    conflicts: list[Insight] = Field(
        default_factory=list, description="Same knobs and direction, opposite outcome."
    )


def outcome_for(effect: Effect) -> Outcome:
    """helped / hurt only when the CI excludes zero; an unknown or straddling CI is neutral."""
    if not effect.significant:
        return "neutral"
    return "helped" if (effect.ci_lo or 0.0) > 0 else "hurt"


def evidence_strength(effect: Effect) -> float:
    """0..1: replicates n/(n+2) x (1 if the CI excludes 0 else 0.5) x (0.5 + 0.5 |g|/(|g|+0.25))."""
    n = effect.seeds
    replicates = n / (n + 2.0)
    significance = 1.0 if effect.significant else 0.5
    g = abs(effect.gain_pct)
    magnitude = g / (g + 0.25) if math.isfinite(g) else 1.0
    return replicates * significance * (0.5 + 0.5 * magnitude)


def knob_signature(knobs: dict[str, Any], baseline: dict[str, Any]) -> str:
    """`lr:down|lr_schedule:=plateau`: numeric knobs with a known baseline give up/down, others
    the value set. Two insights with the same signature tried the same kind of change."""
    parts = []
    for key in sorted(knobs):
        new, old = knobs[key], baseline.get(key)
        if _is_number(new) and _is_number(old) and new != old:
            parts.append(f"{key}:{'up' if new > old else 'down'}")
        else:
            parts.append(f"{key}:={json.dumps(new, sort_keys=True)}")
    return "|".join(parts)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def insight_id(*parts: Any) -> str:
    """A stable id from the parts (re-importing the same study upserts instead of duplicating)."""
    raw = json.dumps(parts, sort_keys=True, default=str)
    return "ins-" + hashlib.sha1(raw.encode()).hexdigest()[:16]


def to_metadata(insight: Insight) -> dict[str, str | int | float | bool]:
    """The flat Chroma metadata of an insight (scalars only; None values left out).

    Kept small on purpose: Chroma stores one row per key, and both inserts and reads slow down
    with every key. Everything else is in `insight_json`."""
    ev = insight.evidence
    meta: dict[str, Any] = {
        "model": ev.model or "",
        "outcome": insight.outcome,
        "source": insight.source,
        "knob_sig": knob_signature(ev.knobs, ev.baseline),
        "sig_outcome": f"{knob_signature(ev.knobs, ev.baseline)}#{insight.outcome}",
        "gain_pct": ev.effect.gain_pct,
        "seeds": ev.effect.seeds,
        "strength": evidence_strength(ev.effect),
        "campaign_id": insight.campaign_id,
        "created_ts": insight.created_at.timestamp(),
        "insight_json": insight.model_dump_json(),
    }
    meta.update({f"knob_{k}": True for k in ev.knobs})
    meta.update(
        {f"ds_{k}": v for k, v in ev.dataset.items() if isinstance(v, str | int | float | bool)}
    )
    return {k: v for k, v in meta.items() if v is not None}


def _document(insight: Insight) -> str:
    """The text that is embedded: the statement, plus the family and knob names to match on."""
    ev = insight.evidence
    return f"{insight.statement} (model: {ev.model or 'any'}; knobs: {', '.join(sorted(ev.knobs))})"


def build_where(
    *,
    model: str | None = None,
    outcome: str | Sequence[str] | None = None,
    knobs: Sequence[str] | None = None,
    where: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """A Chroma `where` from the filters: all must hold; `knobs` matches insights touching any."""
    clauses: list[dict[str, Any]] = []
    if model:
        clauses.append({"model": model})
    if isinstance(outcome, str):
        clauses.append({"outcome": outcome})
    elif outcome:
        clauses.append({"outcome": {"$in": list(outcome)}})
    if knobs:
        any_knob = [{f"knob_{k}": True} for k in knobs]
        clauses.append(any_knob[0] if len(any_knob) == 1 else {"$or": any_knob})
    if where:
        clauses.append(where)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class InsightMemory:
    """Insights in a Chroma collection. The client and embedder are passed in (tests use a tmp dir)."""

    def __init__(
        self, client: ClientAPI, embedder: EmbeddingFunction[Any], collection: str = "insights"
    ) -> None:
        from .chroma import get_collection

        self.collection = get_collection(client, collection, embedder)
        self._embedder = embedder
        self._index = MetadataIndex()

    def add(self, insights: Sequence[Insight], embeddings: Sequence[Any] | None = None) -> int:
        """Upsert insights by id (re-adding replaces). `embeddings`: precomputed vectors, optional."""
        batch = 1000
        for start in range(0, len(insights), batch):
            chunk = insights[start : start + batch]
            ids, metas = [i.id for i in chunk], [to_metadata(i) for i in chunk]
            self.collection.upsert(
                ids=ids,
                documents=[_document(i) for i in chunk],
                metadatas=metas,  # type: ignore[arg-type]
                embeddings=None if embeddings is None else list(embeddings[start : start + batch]),
            )
            if self._index.count >= 0:  # keep a built index current (no rescan on own writes)
                self._index.put(ids, metas)
        return len(insights)

    def count(self) -> int:
        return self.collection.count()

    def get(self, ids: Sequence[str]) -> list[Insight]:
        """Insights by id (missing ids are skipped)."""
        if not ids:
            return []
        got = self.collection.get(ids=list(ids), include=["metadatas"])
        return [_from_meta(m) for m in got["metadatas"] or []]

    def search(
        self,
        query: str,
        *,
        model: str | None = None,
        outcome: str | Sequence[str] | None = None,
        knobs: Sequence[str] | None = None,
        k: int = 10,
        where: dict[str, Any] | None = None,
        with_conflicts: bool = True,
    ) -> list[ScoredInsight]:
        """The `k` best insights for `query` among those matching the filters.

        Takes the max(4k, 20) nearest matching records by cosine similarity, re-ranks them by
        similarity x evidence strength, and attaches to each hit the stored insights with the
        same knob signature and the opposite outcome (filtered by `model` only, so a search for
        'helped' still shows what hurt). Filters are applied in Python to an unfiltered vector
        query over more candidates (Chroma's SQLite pre-filter is slow at 100k records); very
        selective filters, or operators the evaluator does not mirror, use the Chroma filter.
        Filtering, ranking and conflicts read the in-process `MetadataIndex` (built on first
        use, rebuilt when the collection's count changes: see memory/insight_index.py).
        """
        total = self.collection.count()
        if total == 0 or k < 1:
            return []
        flt = build_where(model=model, outcome=outcome, knobs=knobs, where=where)
        fetch = min(total, max(4 * k, 20))
        self._index.ensure(self.collection, total)
        embedding = self._embedder([query])
        ranked = self._post_filtered(embedding, flt, fetch, total)
        if ranked is None:  # too few survivors, or a filter the evaluator does not mirror
            ranked = self._filtered(embedding, flt, fetch)
        # Rank on the indexed metadata; read the full JSON of the k winners (+ conflicts) only.
        ranked.sort(key=lambda r: _score(1.0 - r[1], self._strength(r[0])), reverse=True)
        ranked = ranked[:k]
        conflicts = self._conflict_ids(ranked, model) if with_conflicts else {}
        wanted = [i for i, _ in ranked] + [c for ids in conflicts.values() for c in ids]
        if not wanted:
            return []
        got = self.collection.get(ids=list(dict.fromkeys(wanted)), include=["metadatas"])
        full = dict(zip(got["ids"], got["metadatas"] or [], strict=True))
        hits = [_scored(full[i], 1.0 - dist) for i, dist in ranked if i in full]
        for hit in hits:
            hit.conflicts = [_from_meta(full[c]) for c in conflicts.get(hit.insight.id, [])]
        return hits

    def _strength(self, iid: str) -> float:
        return float(self._index.meta.get(iid, {}).get("strength", 0.0))

    def _post_filtered(
        self, embedding: Any, flt: dict[str, Any] | None, fetch: int, total: int
    ) -> list[tuple[str, float]] | None:
        """The `fetch` nearest matching `flt`, from an unfiltered query over more candidates
        filtered here; None when fewer than `fetch` survive (then the SQLite path must run).
        With `fetch` survivors the result is the same set the filtered query returns."""
        try:
            pred = compile_where(flt)
            share = self._index.selectivity(flt)  # ~1 ms on a fixed ~1000-record sample
        except UnsupportedFilter:
            return None
        # Scan 2x the candidates expected to hold `fetch` matches, unless that is more than
        # MAX_POST_FILTER (very selective filters, where SQLite has few matches to collect).
        wanted = math.ceil(2.0 * fetch / max(share, 1e-9))
        if flt is not None and wanted > MAX_POST_FILTER:
            return (
                None if total > MAX_POST_FILTER else self._post_scan(embedding, pred, fetch, total)
            )
        scan = min(total, max(fetch, wanted))
        kept = self._post_scan(embedding, pred, fetch, scan)
        if kept is None and scan < min(total, MAX_POST_FILTER):  # unlucky: one wider try
            kept = self._post_scan(embedding, pred, fetch, min(total, MAX_POST_FILTER))
        return kept

    def _post_scan(
        self, embedding: Any, pred: Any, fetch: int, scan: int
    ) -> list[tuple[str, float]] | None:
        res = self.collection.query(
            query_embeddings=embedding, n_results=scan, include=["distances"]
        )
        pairs = zip(res["ids"][0], res["distances"][0], strict=True)  # type: ignore[index]
        meta = self._index.meta
        try:
            kept = [(i, float(d)) for i, d in pairs if i in meta and pred(meta[i])]
        except UnsupportedFilter:
            return None
        return kept[:fetch] if len(kept) >= fetch or scan >= self._index.count else None

    def _filtered(
        self, embedding: Any, flt: dict[str, Any] | None, fetch: int
    ) -> list[tuple[str, float]]:
        """The `fetch` nearest matching `flt`, filtered by Chroma (SQLite) before the search."""
        res = self.collection.query(
            query_embeddings=embedding, n_results=fetch, where=flt, include=["distances"]
        )
        return [(i, float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]  # type: ignore[index]

    def _conflict_ids(
        self, ranked: list[tuple[str, float]], model: str | None
    ) -> dict[str, list[str]]:
        """Per helped/hurt hit, the ids of the 5 strongest stored insights with the same knob
        signature and the opposite outcome (same `model` when one was asked for)."""
        out: dict[str, list[str]] = {}
        for iid, _ in ranked:
            meta = self._index.meta.get(iid)
            if meta is None or meta.get("outcome") not in OPPOSITE:
                continue
            sig = f"{meta['knob_sig']}#{OPPOSITE[str(meta['outcome'])]}"
            out[iid] = self._index.strongest(sig, model, 5)
        return out


def _sig(insight: Insight) -> str:
    return knob_signature(insight.evidence.knobs, insight.evidence.baseline)


def _from_meta(meta: Any) -> Insight:
    return Insight.model_validate_json(str(meta["insight_json"]))


def _score(similarity: float, strength: float) -> float:
    return max(similarity, 0.0) * (0.5 + 0.5 * strength)


def _scored(meta: Any, similarity: float) -> ScoredInsight:
    strength = float(meta["strength"])
    score = _score(similarity, strength)
    return ScoredInsight(
        insight=_from_meta(meta), similarity=similarity, strength=strength, score=score
    )
