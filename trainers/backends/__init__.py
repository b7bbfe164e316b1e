"""Job backends: where a `JobSpec` runs (`python -m rea.trainers.job SPEC.json` on some machine).

`LocalBackend` runs jobs as subprocesses of this machine, queued in files under a jobs root so
that an orchestrator restart continues the queue and never starts a job twice.
"""

from .local import LocalBackend as LocalBackend
from .local import read_tail as read_tail

__all__ = ["LocalBackend", "read_tail"]
