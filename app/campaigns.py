"""Build the campaign runner from `Settings`: store, memory, job backend, brain, checkpointer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rea.agents.brain import Brain, make_brain
from rea.graph.builder import build_graph
from rea.graph.checkpoint import open_checkpointer
from rea.graph.context import Services
from rea.graph.runner import CampaignRunner
from rea.trainers.backends import LocalBackend

from .memory_wiring import Memory
from .settings import Settings


def brain_from(settings: Settings) -> Brain:
    return make_brain(
        settings.brain,
        model_name=settings.llm_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        structured_method=settings.llm_structured_output,
    )


def services_from(
    settings: Settings, *, brain: Brain | None = None, memory: Memory | None = None
) -> Services:
    memory = memory or Memory(settings)
    env = {"REA_WEBHOOK_SECRET": settings.webhook_secret} if settings.webhook_secret else {}
    return Services(
        store=memory.store,
        backend=LocalBackend(settings.jobs_dir, env=env, max_parallel=settings.max_parallel_jobs),
        jobs_root=settings.jobs_dir,
        reports_root=settings.home / "reports",
        brain=brain or brain_from(settings),
        insights=_Lazy(lambda: memory.insights),
        research=_Lazy(lambda: memory.research),
    )


class _Lazy:
    """Opens a memory part on first use: `rea status` or `rea approve` never load the embedder
    or re-index the research library; a campaign step that needs them does, once."""

    def __init__(self, open_: Any):
        self._open = open_

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)


@contextmanager
def open_runner(settings: Settings, **kw: Any) -> Iterator[CampaignRunner]:
    """A runner over the settings' checkpointer (closed on exit)."""
    services = services_from(settings, **kw)
    with open_checkpointer(settings.resolved_checkpoint_url) as saver:
        yield CampaignRunner(build_graph(saver), services)
