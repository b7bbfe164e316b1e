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
from rea.trainers.backends import JobBackend, LocalBackend, RayBackend
from rea.trainers.backends.ray import connect
from rea.trainers.errors import ConfigError

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


def backend_from(settings: Settings) -> JobBackend:
    """The job backend REA_BACKEND names: local processes (default) or a Ray cluster.

    Raises `ConfigError` saying what to do when the Ray backend is asked for but ray is not
    installed, REA_RAY_ADDRESS is unset, or nothing answers there.
    """
    env = {"REA_WEBHOOK_SECRET": settings.webhook_secret} if settings.webhook_secret else {}
    if settings.backend == "local":
        return LocalBackend(settings.jobs_dir, env=env, max_parallel=settings.max_parallel_jobs)
    if not settings.ray_address:
        raise ConfigError(
            "REA_BACKEND=ray needs REA_RAY_ADDRESS: the Ray dashboard's address, "
            "e.g. REA_RAY_ADDRESS=http://127.0.0.1:8265 (see docs/backends.md)"
        )
    try:
        client = connect(settings.ray_address)
    except RuntimeError as err:  # RayUnavailable: not installed, or not reachable
        raise ConfigError(str(err)) from None
    return RayBackend(settings.ray_address, settings.jobs_dir, env=env, client=client)


def services_from(
    settings: Settings, *, brain: Brain | None = None, memory: Memory | None = None
) -> Services:
    memory = memory or Memory(settings)
    return Services(
        store=memory.store,
        backend=backend_from(settings),
        jobs_root=settings.jobs_dir,
        reports_root=settings.home / "reports",
        brain=brain or brain_from(settings),
        insights=_Lazy(lambda: memory.insights),
        research=_Lazy(lambda: memory.research),
        rolling_exploitation=settings.rolling_exploitation,
        wide_stream=settings.wide_stream,
        keep_incumbent_family=settings.keep_incumbent_family,
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
