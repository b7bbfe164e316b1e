"""Run one training job from a `JobSpec` file, as its own OS process.

    python -m rea.trainers.job SPEC.json        (what `rea train SPEC.json` runs)

Writes `train.log`, `events.jsonl` and `result.json` (the final event) in the spec's `output_dir`,
and posts every event signed to `callback_url` when one is given (the secret comes from the
environment, `REA_WEBHOOK_SECRET`, never from the spec). Exit code: 0 succeeded, 1 failed,
2 the spec itself is unreadable (nothing can be reported then but stderr).

Failure kinds: the typed errors carry theirs (`ReaError.kind`); an allocator failure is `oom`;
SIGTERM/SIGINT is `killed`; passing `max_seconds` is `timeout` (checked every step, and a watchdog
ends a job stuck past it by a grace period); anything else is `crashed`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from .backends.files import proc_start, write_atomic
from .errors import ConfigError, ReaError, StopRequested, TrainingTimeout
from .events import (
    PID_FILE_ENV,
    SECRET_ENV,
    SPEC_ENV,
    EventEmitter,
    Failure,
    JobEvent,
    JobSpec,
    write_result,
)
from .faults import corrupt_inputs
from .train import EpochRecord, TrainResult, resolve_device, train

log = logging.getLogger("rea.trainers.job")

LOG_TAIL_LINES = 40
LOG_TAIL_CHARS = 4000
WATCHDOG_GRACE_S = 15.0


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a spec file; raise `ConfigError` saying what is wrong.

    When the file is not on this machine (a cluster node that shares no storage with the
    orchestrator), the spec JSON in the environment variable REA_JOB_SPEC is used instead.
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        text = os.environ.get(SPEC_ENV, "")
        if not text:
            raise ConfigError(f"job spec {path} does not exist (and {SPEC_ENV} is unset)") from None
        path = f"{path} (from {SPEC_ENV})"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"job spec {path} is not valid JSON: {err}") from None
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"invalid job spec {path}: {problems}") from None


def classify(exc: BaseException) -> str:
    """The DESIGN.md failure kind of an exception raised while running a job."""
    if isinstance(exc, ReaError):
        return exc.kind
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return "oom"
    if isinstance(exc, KeyboardInterrupt | StopRequested):
        return "killed"
    return "crashed"


def log_tail(path: Path) -> str:
    """The last lines of the job's log, trimmed for a prompt."""
    try:
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    return "\n".join(lines)[-LOG_TAIL_CHARS:]


def aggregate(results: list[TrainResult]) -> dict[str, Any]:
    """One job result from its seeds: mean metrics, plus every seed's own run."""
    keys = results[0].metrics.keys()
    metrics = {k: statistics.fmean(r.metrics[k] for r in results) for k in keys}
    return {
        "metrics": metrics,
        "seeds": [r.seed for r in results],
        "per_seed": [r.model_dump() for r in results],
        "bayes": results[0].bayes,
        "trainer_seconds": sum(r.trainer_seconds for r in results),
        "samples_per_sec": statistics.fmean(r.samples_per_sec for r in results),
        "peak_memory_mb": max(r.peak_memory_mb for r in results),
        "device": results[0].device,
        "config": results[0].config,
    }


def _device_facts(spec: JobSpec) -> dict[str, Any]:
    """Where the job trains: the device `auto` resolved to (and the GPU's name), beside what
    the spec asked for."""
    device = resolve_device(spec.device)  # ConfigError: a CUDA device where there is none
    facts: dict[str, Any] = {"device": str(device), "device_requested": spec.device}
    if device.type == "cuda":
        facts["device_name"] = torch.cuda.get_device_name(device)
    return facts


class _Job:
    """One job run: the emitter, the final-event guard, and the watchdog."""

    def __init__(self, spec: JobSpec):
        self.spec = spec
        self.out = Path(spec.output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out / "train.log"
        self.emitter = EventEmitter(spec, os.environ.get(SECRET_ENV))
        self._final_lock = threading.Lock()
        self._finished = False
        self.stop_signal: str | None = None  # set by the SIGTERM/SIGINT handler

    def on_stop_signal(self, signum: int, _frame: Any) -> None:
        self.stop_signal = signal.Signals(signum).name
        raise StopRequested(f"received {self.stop_signal}")

    def finish(self, kind: str, **fields: Any) -> JobEvent | None:
        """Emit the final event and write result.json, exactly once."""
        with self._final_lock:
            if self._finished:
                return None
            self._finished = True
            event = self.emitter.emit(kind, **fields)
            write_result(self.out, event)
        self.emitter.flush()  # the callbacks still queued (bounded: they give up)
        return event

    def fail(self, exc: BaseException) -> None:
        kind = classify(exc)
        if kind == "crashed" and self.stop_signal is not None:
            # Whatever broke after a stop was asked for broke because of it (code that caught
            # the stop and carried on half-done); the job was killed, not buggy.
            log.warning("after %s: %r", self.stop_signal, exc)
            kind, exc = "killed", StopRequested(f"received {self.stop_signal} ({exc!r} after it)")
        log.error("job failed (%s): %s", kind, exc)
        if kind == "crashed":
            log.error("%s", "".join(traceback.format_exception(exc)))
        failure = Failure(kind=kind, message=str(exc)[:2000], log_tail=log_tail(self.log_path))
        partial = getattr(exc, "partial", None)
        self.finish("failed", failure=failure, metrics=partial)

    def watchdog(self) -> threading.Timer:
        """Ends a job stuck past max_seconds (e.g. inside one long op) with a `timeout` failure."""

        def fire() -> None:
            log.error("watchdog: still running %.0f s past max_seconds; ending", WATCHDOG_GRACE_S)
            self.fail(TrainingTimeout(f"exceeded max_seconds={self.spec.max_seconds}"))
            logging.shutdown()
            os._exit(124)

        timer = threading.Timer(self.spec.max_seconds + WATCHDOG_GRACE_S, fire)
        timer.daemon = True
        return timer

    def run(self) -> int:
        spec = self.spec
        self.emitter.emit("started", metrics={"seeds": spec.seed_list, **_device_facts(spec)})
        if spec.callback_url and not os.environ.get(SECRET_ENV):
            raise ConfigError(
                f"callback_url is set but {SECRET_ENV} is not in the job's environment; "
                "the backend must pass the webhook secret to the job"
            )
        fault = spec.fault if spec.fault and spec.fault.applies(spec.config, spec.attempt) else None
        config, data = corrupt_inputs(fault, spec.config, spec.data)
        results = []
        deadline = _Deadline(spec.max_seconds)
        for seed in spec.seed_list:
            log.info("training seed %d (%s on %s)", seed, config.get("model"), data)
            results.append(self._train_seed(config, data, seed, deadline.left()))
        result = aggregate(results)
        log.info("succeeded: %s", json.dumps(result["metrics"]))
        self.finish("succeeded", result=result)
        return 0

    def _train_seed(self, config: dict, data: str, seed: int, max_seconds: float) -> TrainResult:
        def on_epoch(record: EpochRecord) -> None:
            log.info("seed %d epoch %d: %s", seed, record.epoch, json.dumps(record.metrics))
            self.emitter.emit("progress", metrics={"seed": seed, **record.model_dump()})

        return train(
            config,
            data,
            seed=seed,
            max_seconds=max_seconds,
            device=self.spec.device,
            fault=self.spec.fault,
            attempt=self.spec.attempt,
            on_epoch=on_epoch,
            prune=self.spec.prune,
        )


class _Deadline:
    """The job's max_seconds, shared by its seeds."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.001, self.end - time.monotonic())


def _setup_logging(log_path: Path) -> list[logging.Handler]:
    handlers: list[logging.Handler] = [logging.FileHandler(log_path), logging.StreamHandler()]
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return handlers


def run_job(spec: JobSpec) -> int:
    """Run `spec` in this process; return the exit code (0 succeeded, 1 failed)."""
    job = _Job(spec)
    handlers = _setup_logging(job.log_path)
    if spec.num_threads:
        torch.set_num_threads(spec.num_threads)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:  # signal handlers can only be installed from the main thread
        signal.signal(signal.SIGTERM, job.on_stop_signal)
        signal.signal(signal.SIGINT, job.on_stop_signal)
    timer = job.watchdog()
    timer.start()
    try:
        return job.run()
    except BaseException as exc:  # every failure must become a final event
        job.fail(exc)
        return 1
    finally:
        timer.cancel()
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()


def record_pid() -> None:
    """Write this process's pid and start time where the backend asked (PID_FILE_ENV), before
    anything that can fail: the local backend records the pid it spawned too, but a backend
    killed between the spawn and that record would otherwise settle a running job as crashed
    and start it again beside itself."""
    path = os.environ.get(PID_FILE_ENV)
    if path:
        pid = os.getpid()
        try:
            write_atomic(Path(path), json.dumps({"pid": pid, "pid_start": proc_start(pid)}))
        except OSError as err:  # a safety net only: the job still runs without it
            print(f"note: could not record the job's pid in {path}: {err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    record_pid()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rea.trainers.job SPEC.json", file=sys.stderr)
        return 2
    try:
        spec = load_spec(args[0])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return run_job(spec)


if __name__ == "__main__":
    sys.exit(main())
