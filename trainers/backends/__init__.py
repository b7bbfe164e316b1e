"""Job backends: where a `JobSpec` runs (`python -m rea.trainers.job SPEC.json` on some machine).

`JobBackend` (base.py) is the interface the launcher and the runner use. `LocalBackend` runs jobs
as detached subprocesses of this machine, queued in files under a jobs root so that an
orchestrator restart continues the queue and never starts a job twice. `RayBackend` submits them
to a Ray cluster through the Ray Jobs API (ray itself is imported only when it is used).
"""

from .base import JobBackend as JobBackend
from .base import JobInfo as JobInfo
from .base import JobState as JobState
from .files import read_tail as read_tail
from .local import LocalBackend as LocalBackend
from .ray import RayBackend as RayBackend
from .ray import RayUnavailable as RayUnavailable

__all__ = [
    "JobBackend",
    "JobInfo",
    "JobState",
    "LocalBackend",
    "RayBackend",
    "RayUnavailable",
    "read_tail",
]
