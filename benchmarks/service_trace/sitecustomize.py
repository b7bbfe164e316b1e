"""Loaded by Python at start-up when this folder is on PYTHONPATH (`benchmarks/service_trace.py`
puts it there): in a `rea serve` process with SERVICE_TRACE_FILE set (service.py passes no
REA_ variable on to the service), appends one JSON line per traced step (wall-clock ns and
thread name) to that file. Traced: the webhook's `Service.accept_event` (in and out),
`CampaignRunner.deliver` (in and out), each `LocalBackend.submit`, and each sweeper pass."""

from __future__ import annotations

import os
import sys

if os.environ.get("SERVICE_TRACE_FILE") and "serve" in sys.argv[1:3]:
    import functools
    import json
    import threading
    import time

    from rea.app import service as _service
    from rea.app import wake as _wake
    from rea.graph import runner as _runner
    from rea.trainers.backends import local as _local

    _out = open(os.environ["SERVICE_TRACE_FILE"], "a", buffering=1)  # noqa: SIM115 (process-long)
    _lock = threading.Lock()

    def _log(step: str, job: str | None = None) -> None:
        line = {"step": step, "job": job, "t": time.time_ns()}
        line["thread"] = threading.current_thread().name
        with _lock:
            _out.write(json.dumps(line) + "\n")

    def _traced(cls, name, job_of):  # type: ignore[no-untyped-def]
        inner = getattr(cls, name)

        @functools.wraps(inner)
        def outer(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            job = job_of(*args)
            _log(f"{name} in", job)
            try:
                return inner(self, *args, **kwargs)
            finally:
                _log(f"{name} out", job)

        setattr(cls, name, outer)

    _traced(_service.Service, "accept_event", lambda job_id, event: job_id)
    _traced(_runner.CampaignRunner, "deliver", lambda event, *rest: event.job_id)
    _traced(_local.LocalBackend, "submit", lambda spec, *rest: spec.job_id)
    _traced(_wake.Sweeper, "sweep", lambda *rest: None)
