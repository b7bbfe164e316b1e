"""The research library: technique cards with citations, each carrying an executable config delta.

This is the second hypothesis source of a campaign (DESIGN.md §4): a curated, versioned set of
cards shipped with the package (`research_cards.json`), written in our own words from the papers.
A card says what a technique does, when it helps and hurts, what evidence the paper reports, which
model families it applies to, and the trainer config delta that tries it. Every delta is validated
against `rea.trainers.config` for every family the card lists, when the cards are loaded, so a card
can never propose something the trainer cannot run.

`ResearchLibrary` indexes the cards into their own Chroma collection (one document per card, the
structured fields as flat metadata, the full card as JSON) and answers similarity queries with
metadata filters: the campaign's model family, the knobs a hypothesis may touch, ids already tried.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rea.trainers.config import (
    MODEL_FAMILIES,
    ModelFamily,
    TrainerConfig,
    apply_delta,
    config_delta,
    default_config,
)
from rea.trainers.errors import ConfigError, ReaError

if TYPE_CHECKING:  # chromadb takes seconds to import; only ResearchLibrary needs it, at run time
    from chromadb.api import ClientAPI
    from chromadb.api.types import EmbeddingFunction

CARDS_FILE = "research_cards.json"
Area = Literal[
    "architecture",
    "embedding",
    "data",
    "optimizer",
    "learning_rate",
    "schedule",
    "regularization",
    "normalization",
    "batch_size",
    "stability",
    "loss",
    "calibration",
    "training_length",
]


class Citation(BaseModel):
    """Where a card's idea comes from. A venue, an arXiv id, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    authors: list[str] = Field(
        min_length=1, description="Authors in paper order; may end 'et al.'."
    )
    year: int = Field(ge=1950, le=2100)
    title: str = Field(min_length=3)
    venue: str | None = Field(None, description="Conference/journal/book, e.g. 'ICDM 2010'.")
    arxiv: str | None = Field(
        None, pattern=r"^\d{4}\.\d{4,5}$", description="arXiv id, no version."
    )

    @model_validator(mode="after")
    def _has_source(self) -> Citation:
        if not self.venue and not self.arxiv:
            raise ValueError("a citation needs a venue or an arXiv id")
        return self

    def short(self) -> str:
        """'Rendle (2010), ICDM 2010' — for prompts and reports."""
        lead = self.authors[0].split()[-1]
        who = lead if len(self.authors) == 1 else f"{lead} et al."
        where = self.venue or f"arXiv:{self.arxiv}"
        return f"{who} ({self.year}), {where}"


class ResearchCard(BaseModel):
    """One technique from the literature, with the trainer config delta that tries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(?:[-.][a-z0-9]+)*$", description="Stable slug.")
    title: str = Field(min_length=5)
    area: Area
    families: list[ModelFamily] = Field(
        min_length=1, description="Model families of the *current* config the card applies to."
    )
    delta: dict[str, Any] = Field(
        min_length=1, description="Trainer config keys to set (may include 'model' to switch)."
    )
    citation: Citation
    mechanism: str = Field(min_length=40, description="How it works, 2-4 sentences.")
    helps_when: str = Field(min_length=10)
    hurts_when: str = Field(min_length=10)
    evidence: str = Field(
        min_length=20, description="What the paper reports; numbers only if sure."
    )
    evidence_kind: Literal["quantitative", "qualitative"]
    expected_direction: Literal["improve", "neutral", "mixed", "worse"] = Field(
        description="Our prior on validation NE vs the baseline."
    )
    expected_size: Literal["tiny", "small", "medium", "large"] = Field(
        description="Prior on |relative NE change|: tiny <0.1%, small 0.1-0.5%, medium 0.5-2%, large >2%."
    )
    cost: float = Field(
        gt=0.0, le=20.0, description="Training cost relative to the baseline (1.0 = same)."
    )
    tags: list[str] = Field(default_factory=list)

    @field_validator("families")
    @classmethod
    def _unique_families(cls, families: list[str]) -> list[str]:
        if len(set(families)) != len(families):
            raise ValueError(f"families repeat: {families}")
        return families

    @model_validator(mode="after")
    def _delta_runs_everywhere(self) -> ResearchCard:
        if "seed" in self.delta:
            raise ValueError("a card must not set 'seed' (seeds belong to the campaign)")
        for family in self.families:
            try:
                apply_delta(default_config(family), self.delta)
            except ConfigError as err:
                raise ValueError(f"delta does not validate on family {family!r}: {err}") from None
        return self

    @property
    def knobs(self) -> list[str]:
        """The trainer config keys this card changes."""
        return sorted(self.delta)

    def applies_to(self, family: str) -> bool:
        return family in self.families

    def apply_to(self, config: TrainerConfig | dict[str, Any]) -> TrainerConfig:
        """`config` with this card's delta applied and validated (raises `ConfigError`)."""
        return apply_delta(config, self.delta)

    def effective_delta(self, config: TrainerConfig | dict[str, Any]) -> dict[str, Any]:
        """What the card would actually change in `config`; empty = already applied (skip it)."""
        base = apply_delta(config, {})
        return config_delta(base, self.apply_to(base))

    def document(self) -> str:
        """The text that gets embedded: area, title, when it helps, tags and knobs.

        The mechanism is left out on purpose: queries are mostly symptoms or goals ("overfits after
        one epoch", "NaN loss"), which match `helps_when` and the tags; the longer mechanism text
        diluted them (12/14 vs 14/14 hits in our top-3 query check, see docs/research-library.md).
        """
        return (
            f"{self.area.replace('_', ' ')}: {self.title}. Helps when: {self.helps_when} "
            f"Tags: {', '.join(self.tags)}. Knobs: {', '.join(self.knobs)}."
        )

    def content_hash(self) -> str:
        """Changes whenever any field changes; `index()` re-embeds only cards whose hash moved."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class ScoredCard(BaseModel):
    """A search hit: the card and its cosine similarity to the query (1 = identical)."""

    model_config = ConfigDict(frozen=True)

    card: ResearchCard
    score: float


def parse_cards(payload: dict[str, Any], source: str = CARDS_FILE) -> list[ResearchCard]:
    """Validate a `{"cards": [...]}` document; `ConfigError` names every bad card and field."""
    raw = payload.get("cards") if isinstance(payload, dict) else None
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: expected an object with a 'cards' list")
    cards, problems = [], []
    for i, item in enumerate(raw):
        try:
            cards.append(ResearchCard.model_validate(item))
        except ValidationError as err:
            name = item.get("id", f"#{i}") if isinstance(item, dict) else f"#{i}"
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'card'}: {e['msg']}" for e in err.errors()
            )
            problems.append(f"card {name}: {details}")
    dupes = sorted(card_id for card_id, n in Counter(c.id for c in cards).items() if n > 1)
    if dupes:
        problems.append(f"duplicate ids: {', '.join(dupes)}")
    if problems:
        raise ConfigError(f"{source} is invalid — fix these cards: " + " | ".join(problems))
    return cards


@lru_cache(maxsize=1)
def _shipped_cards() -> tuple[ResearchCard, ...]:
    text = resources.files(__package__).joinpath(CARDS_FILE).read_text(encoding="utf-8")
    return tuple(parse_cards(json.loads(text)))


def load_cards() -> list[ResearchCard]:
    """The cards shipped with the package (validated once per process)."""
    return list(_shipped_cards())


def _metadata(card: ResearchCard) -> dict[str, str | int | float | bool]:
    """Flat scalars for Chroma filters, plus the whole card as JSON."""
    meta: dict[str, str | int | float | bool] = {
        "card_id": card.id,
        "title": card.title,
        "area": card.area,
        "year": card.citation.year,
        "first_author": card.citation.authors[0],
        "citation": card.citation.short(),
        "evidence_kind": card.evidence_kind,
        "expected_direction": card.expected_direction,
        "expected_size": card.expected_size,
        "cost": card.cost,
        "switches_model": "model" in card.delta,
        "knobs": ",".join(card.knobs),
        "content_hash": card.content_hash(),
        "card_json": card.model_dump_json(),
    }
    meta.update({f"fam_{f}": f in card.families for f in MODEL_FAMILIES})
    meta.update({f"knob_{k}": True for k in card.knobs})
    return meta


def _where(model: str | None, knobs: list[str] | None, exclude: list[str]) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if model is not None:
        if model not in MODEL_FAMILIES:
            raise ConfigError(
                f"unknown model family {model!r}; use one of {', '.join(MODEL_FAMILIES)}"
            )
        clauses.append({f"fam_{model}": True})
    if knobs:
        unknown = sorted(set(knobs) - set(TrainerConfig.model_fields))
        if unknown:
            raise ConfigError(
                f"unknown trainer config keys {unknown}; knobs must be TrainerConfig keys"
            )
        anyof = [{f"knob_{k}": True} for k in sorted(set(knobs))]
        clauses.append(anyof[0] if len(anyof) == 1 else {"$or": anyof})
    if exclude:
        clauses.append({"card_id": {"$nin": list(exclude)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ResearchLibrary:
    """The cards in a Chroma collection of their own, searchable by meaning and filterable.

    `client` is any Chroma client (`rea.memory.chroma.open_chroma`), `embedder` an embedding
    function (`rea.memory.embeddings.default_embedder()`); `cards` defaults to the shipped set.
    """

    def __init__(
        self,
        client: ClientAPI,
        embedder: EmbeddingFunction[Any],
        collection: str = "research",
        *,
        cards: list[ResearchCard] | None = None,
    ) -> None:
        from .chroma import get_collection

        self._cards = list(cards) if cards is not None else load_cards()
        self._collection = get_collection(client, collection, embedder)

    @property
    def cards(self) -> list[ResearchCard]:
        return list(self._cards)

    def count(self) -> int:
        """How many cards the collection holds now."""
        return self._collection.count()

    def index(self) -> int:
        """Make the collection hold exactly the current cards; returns how many were (re)embedded.

        Idempotent: unchanged cards (same content hash) are skipped, removed cards are deleted.
        """
        stored = self._collection.get(include=["metadatas"])
        hashes = {
            i: (m or {}).get("content_hash")
            for i, m in zip(stored["ids"], stored["metadatas"] or [], strict=True)
        }
        wanted = {c.id for c in self._cards}
        stale = [i for i in hashes if i not in wanted]
        if stale:
            self._collection.delete(ids=stale)
        changed = [c for c in self._cards if hashes.get(c.id) != c.content_hash()]
        if changed:
            self._collection.upsert(
                ids=[c.id for c in changed],
                documents=[c.document() for c in changed],
                metadatas=[_metadata(c) for c in changed],
            )
        return len(changed)

    def search(
        self,
        query: str,
        *,
        model: str | None = None,
        knobs: list[str] | None = None,
        k: int = 10,
        exclude: list[str] | tuple[str, ...] = (),
    ) -> list[ScoredCard]:
        """Cards most similar to `query`, best first.

        `model`: only cards applicable to that family; `knobs`: only cards touching at least one
        of these config keys; `exclude`: card ids to leave out (e.g. already tried).
        Raises `ConfigError` for an unknown family or knob, `ReaError` if `index()` was never run.
        """
        if k < 1:
            raise ConfigError(f"k must be >= 1 (got {k})")
        where = _where(model, knobs, list(exclude))
        total = self._collection.count()
        if total == 0:
            raise ReaError("the research library is empty: call ResearchLibrary.index() first")
        result = self._collection.query(
            query_texts=[query],
            n_results=min(k, total),
            where=where,
            include=["metadatas", "distances"],
        )
        metas, dists = result["metadatas"][0], result["distances"][0]
        return [
            ScoredCard(card=ResearchCard.model_validate_json(str(m["card_json"])), score=1.0 - d)
            for m, d in zip(metas, dists, strict=True)
        ]

    def get(self, card_id: str) -> ResearchCard | None:
        """The indexed card with this id, or None."""
        got = self._collection.get(ids=[card_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return ResearchCard.model_validate_json(str(got["metadatas"][0]["card_json"]))
