"""Build the memory parts (SQL store, insight memory, research library) from `Settings`.

Each part is opened on first use, so a command that only searches insights neither migrates the
SQL store nor embeds the research cards.
"""

from __future__ import annotations

import gc
from functools import cached_property
from typing import Any

from rea.memory import ExperimentStore

from .settings import Settings


def open_store(settings: Settings) -> ExperimentStore:
    """The SQL experiment store, migrated to the current schema."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = ExperimentStore(settings.resolved_database_url)
    store.migrate()
    return store


class Memory:
    """The agent's journal and its two hypothesis sources, sharing one Chroma client.

    Chroma is embedded under REA_HOME unless REA_CHROMA_URL names a server.
    """

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def _chroma(self) -> tuple[Any, Any]:
        from rea.memory import default_embedder, open_chroma

        url = self.settings.chroma_url
        client = open_chroma(path=None if url else self.settings.home / "chroma", url=url)
        embedder = default_embedder()
        settle_heap()  # chromadb, torch and the model just added millions of lasting objects
        return client, embedder

    @cached_property
    def store(self) -> ExperimentStore:
        return open_store(self.settings)

    @cached_property
    def insights(self) -> Any:  # rea.memory.InsightMemory (lazy: it pulls in chromadb and torch)
        from rea.memory import InsightMemory

        return InsightMemory(*self._chroma)

    @cached_property
    def research(self) -> Any:  # rea.memory.ResearchLibrary, indexed (only changed cards re-embed)
        from rea.memory import ResearchLibrary

        library = ResearchLibrary(*self._chroma)
        library.index()
        return library


def settle_heap() -> None:
    """Collect once, then move every object alive now out of the garbage collector's reach
    (`gc.freeze`): what is loaded at this point (libraries, models, caches) lives as long as
    the process, and without this every later full collection scans all of it again — pauses
    of 100–350 ms measured in `rea serve` once the embedder is loaded, landing in whatever
    wake-up or request runs then."""
    gc.collect()
    gc.freeze()


def open_memory(settings: Settings) -> Memory:
    return Memory(settings)
