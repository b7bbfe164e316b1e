"""Build the memory parts (SQL store, insight memory, research library) from `Settings`."""

from __future__ import annotations

from dataclasses import dataclass

from rea.memory import ExperimentStore

from .settings import Settings


@dataclass
class Memory:
    """The agent's journal and its two hypothesis sources, opened on one Chroma client."""

    store: ExperimentStore
    insights: object  # rea.memory.InsightMemory (imported lazily: it pulls in chromadb and torch)
    research: object  # rea.memory.ResearchLibrary


def open_store(settings: Settings) -> ExperimentStore:
    """The SQL experiment store, migrated to the current schema."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = ExperimentStore(settings.resolved_database_url)
    store.migrate()
    return store


def open_memory(settings: Settings) -> Memory:
    """Embedded Chroma under REA_HOME unless REA_CHROMA_URL names a server."""
    from rea.memory import InsightMemory, ResearchLibrary, default_embedder, open_chroma

    path = None if settings.chroma_url else settings.home / "chroma"
    client = open_chroma(path=path, url=settings.chroma_url)
    embedder = default_embedder()
    research = ResearchLibrary(client, embedder)
    research.index()
    return Memory(open_store(settings), InsightMemory(client, embedder), research)
