"""Service benchmarks (issue 5): wake latency, signed-webhook throughput, and the memory and
housekeeping cost of campaigns hibernating in `rea serve`.

    .venv/bin/python benchmarks/service.py            # full: 1000 hibernating, >= 200 wake-ups
    .venv/bin/python benchmarks/service.py --quick    # ~2 min: 200 hibernating, ~30 wake-ups

Prints a table and writes benchmarks/results/service.json (`--json OUT` elsewhere). Targets:
wake latency p50 < 50 ms and p99 < 250 ms (event sent -> next job submitted, the job's own
start excluded), >= 300 verified events/s on 2 cores, < 200 MB for 1000 waiting campaigns.

How it is measured, all against the real thing (a temporary REA_HOME, SQLite store and
checkpointer, the local job backend, the offline brain):

* One real training job (tiny synthetic data) runs first; its result.json and progress events
  are the payloads every later event is made from (re-labelled per job, NE moved per
  experiment and per seed so the analyst sees a realistic spread).
* No job ever trains during the measurements: REA_MAX_PARALLEL_JOBS=1 and the backend's one
  slot is held by a stand-in job (a job dir whose launched.json names a `sleep` process this
  script owns), so every job the service submits stays queued. A submission is the backend's
  own record: `submitted_ns` in the job's submitted.json, written by `LocalBackend.submit`.
* Memory: N campaigns are driven to their first wait (the baseline job) by the real runner in
  this process; then `rea serve` starts on that REA_HOME in its own process. Its RSS (VmRSS)
  after start-up reconciliation and a few sweeps is compared with the same service over the
  same home before the campaigns existed. `reconcile()` and `Sweeper.sweep()` are also timed
  here, in this process, over the same home (the service is not running then).
* Wake latency: with those N campaigns hibernating, fresh campaigns (budgets alternating 300
  and 120 trainer-seconds) are created over the API and driven as a user and their jobs would:
  the plan (and any budget request) approved over the API; each waited-on job reports
  `started`, then its final event exactly as a job does (its `EventEmitter`: events.jsonl,
  signed POST; result.json). A wake-up whose campaign submits a job is one sample: from the
  moment the final event is sent to the earliest `submitted_ns` of the jobs it submitted.
  Events go one at a time (the next once the service is idle again: /healthz
  `wakeups_running` == 0), so a sample is one wake-up, not a queue. Samples are grouped by
  what led to the submit (a deferred launch, the next exploitation round, the next phase); the
  service's CPU time during each wake-up is recorded beside it (/proc, 10 ms ticks; it
  includes the sweeper's passes and the /healthz polls meanwhile). A campaign is left once it
  only waits on its confirmation run (no submit can follow) or on its launch approval.
* Webhook throughput: `--clients` concurrent httpx clients in this process (the service is
  another) post pre-signed `progress` events with distinct seqs to the hibernating campaigns'
  real jobs; then every event must be in the job_events table exactly once, and a re-sent
  sample must be answered `duplicate` and change nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")  # as production should run
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import httpx

from rea.app.campaigns import open_runner
from rea.app.settings import Settings
from rea.app.wake import Sweeper, Waker, reconcile
from rea.trainers.backends.files import proc_start
from rea.trainers.events import (
    SIGNATURE_HEADER,
    EventEmitter,
    JobEvent,
    JobSpec,
    now_iso,
    sign,
    write_result,
)

RESULTS = Path(__file__).parent / "results" / "service.json"
SECRET = "bench-webhook-secret"
MODEL = "dcn_v2"
DATA = "synthetic:tiny?rows=3000&seed={seed}"  # a data ref per campaign: nothing is "tried"
BASELINE = {"epochs": 1}
BUDGET_S = 300.0  # trainer-seconds: validation, combination and ~10 exploitation rounds
# Driven campaigns alternate: 300 s (every phase, 10 exploitation rounds) and 120 s (validation
# defers a launch until a job settles, then fewer rounds).
DRIVE_BUDGETS_S = (300.0, 120.0)
PROGRESS_SEQ0 = 1000  # throughput events use seqs from here (a real job's are below)
TARGETS = {"p50_ms": 50, "p99_ms": 250, "events_per_s": 300, "hibernating_mb": 200}
FULL = {"hibernating": 1000, "wakeups": 200, "events": 5000, "clients": 16}
QUICK = {"hibernating": 200, "wakeups": 30, "events": 1000, "clients": 16}


# --- the real payloads ---------------------------------------------------------------------
def real_job(workdir: Path, seeds: list[int]) -> dict[str, Any]:
    """Run one real training job; its final event and its progress events (the templates)."""
    out = workdir / "template-job"
    spec = JobSpec(
        job_id="template",
        campaign_id="bench",
        config={"model": MODEL, **BASELINE},
        data=DATA.format(seed=0),
        seeds=seeds,
        max_seconds=300,
        output_dir=str(out),
    )
    path = workdir / "template-spec.json"
    path.write_text(spec.model_dump_json())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rea.trainers.job", str(path)]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return {
        "final": json.loads((out / "result.json").read_text()),
        "progress": [e for e in events if e["kind"] == "progress"],
    }


def final_result(spec: JobSpec, template: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The `result` a real job of `spec` reports: the template job's per-seed runs, labelled with
    this spec's config and seeds, NE moved by an effect per experiment plus noise per seed."""
    base = template["final"]["result"]
    effect = rng.gauss(0.0, 0.004)
    per_seed = []
    for i, seed in enumerate(spec.seed_list):
        run = copy.deepcopy(base["per_seed"][i % len(base["per_seed"])])
        noise = rng.gauss(0.0, 0.002)
        run["seed"], run["config"] = seed, {**spec.config, "seed": seed}
        run["metrics"] = {
            k: v + effect + noise if k.endswith("_ne") else v for k, v in run["metrics"].items()
        }
        per_seed.append(run)
    keys = per_seed[0]["metrics"]
    return {
        **base,
        "metrics": {k: statistics.fmean(r["metrics"][k] for r in per_seed) for k in keys},
        "seeds": spec.seed_list,
        "per_seed": per_seed,
        "trainer_seconds": sum(r["trainer_seconds"] for r in per_seed),
        "config": spec.config,
    }


def report_started(spec: JobSpec) -> EventEmitter:
    """The job's `started` event, posted signed by the job's own `EventEmitter`."""
    emitter = EventEmitter(spec, SECRET, retries=1)
    emitter.emit("started", metrics={"seeds": spec.seed_list, "device": "cpu"})
    emitter.flush()
    return emitter


def report_final(emitter: EventEmitter, result: dict[str, Any]) -> int:
    """What the job process does when it ends (rea.trainers.job `finish`): the final event
    appended to events.jsonl and queued for the signed POST, result.json written, the POST
    awaited. Returns when the final event was sent (ns)."""
    sent = time.time_ns()
    event = emitter.emit("succeeded", result=result)
    write_result(emitter.spec.output_dir, event)
    emitter.flush()
    return sent


def job_spec(jobs_root: Path, job_id: str) -> JobSpec:
    return JobSpec.model_validate(
        json.loads((jobs_root / job_id / "submitted.json").read_text())["spec"]
    )


def submitted_ns(jobs_root: Path, job_id: str) -> int:
    """When the backend accepted the job (LocalBackend.submit's own record)."""
    return int(json.loads((jobs_root / job_id / "submitted.json").read_text())["submitted_ns"])


# --- the home and the service process ------------------------------------------------------
@contextmanager
def full_backend(jobs_root: Path) -> Iterator[None]:
    """Hold the local backend's only slot (REA_MAX_PARALLEL_JOBS=1) with a stand-in job: a job
    dir whose launched.json names a live `sleep` of ours, so submitted jobs stay queued."""
    sleeper = subprocess.Popen(
        ["sleep", "86400"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    stand_in = jobs_root / "bench-slot-holder"
    stand_in.mkdir(parents=True, exist_ok=True)
    (stand_in / "submitted.json").write_text(json.dumps({"submitted_ns": 0, "spec": {}}))
    launch = {"pid": sleeper.pid, "pid_start": proc_start(sleeper.pid), "launched_ns": 0}
    (stand_in / "launched.json").write_text(json.dumps(launch))
    try:
        yield
    finally:
        sleeper.kill()
        sleeper.wait()


def settings_for(home: Path) -> Settings:
    return Settings(
        home=home,
        brain="offline",
        webhook_secret=SECRET,
        max_parallel_jobs=1,
        database_url=None,
        checkpoint_url=None,
        chroma_url=None,
        backend="local",
        api_token=None,
        public_url=None,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`rea serve` in its own process over `home`; RSS and CPU time from /proc."""

    def __init__(self, home: Path, port: int, name: str):
        self.home, self.port, self.name = home, port, name
        self.url = f"http://127.0.0.1:{port}"
        self.log = home / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Spawn it; seconds until /healthz answers (imports, start-up reconciliation)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REA_", "OPENAI_"))}
        env.update(
            REA_HOME=str(self.home),
            REA_BRAIN="offline",
            REA_WEBHOOK_SECRET=SECRET,
            REA_MAX_PARALLEL_JOBS="1",
        )
        cmd = [sys.executable, "-m", "rea.app.cli", "serve", "--port", str(self.port)]
        cmd += ["--log-level", "warning"]
        began = time.perf_counter()
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rea serve exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"rea serve did not answer in 300 s; see {self.log}")

    def status(self, field: str) -> int:
        """A /proc/PID/status field in kB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise LookupError(field)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def idle_probe(self, seconds: float) -> dict[str, float]:
        """RSS now, and the CPU share the service uses while nothing happens (its sweeper)."""
        cpu, began = self.cpu_seconds(), time.perf_counter()
        time.sleep(seconds)
        share = (self.cpu_seconds() - cpu) / (time.perf_counter() - began)
        return {
            "rss_kb": self.status("VmRSS"),
            "rss_mb": round(self.status("VmRSS") / 1024, 1),
            "peak_rss_mb": round(self.status("VmHWM") / 1024, 1),
            "idle_cpu_pct": round(100 * share, 1),
        }

    def errors(self) -> list[str]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- 3. hibernating campaigns: memory, reconciliation, sweeps -------------------------------
def hibernate(
    settings: Settings, n: int, port: int, sweeps: int = 5
) -> tuple[dict[str, Any], list[str]]:
    """Drive `n` campaigns to their first wait (the baseline job, queued) with the real runner,
    then time the service's start-up `reconcile()` and `sweep()` over them (in this process).
    Returns the figures and the ids of the jobs they wait on."""
    with open_runner(settings) as runner:
        runner.services.callback_url = f"http://127.0.0.1:{port}/v1/jobs/{{job_id}}/events"
        began = time.perf_counter()
        for i in range(n):
            runner.start(MODEL, DATA.format(seed=10_000 + i), BUDGET_S, baseline=BASELINE)
        built = time.perf_counter() - began
        store = runner.services.store
        waiting = store.list_campaigns(status="awaiting_jobs")
        jobs = [j.job_id for j in store.list_jobs(states=("queued",))]
        waker = Waker(runner)
        sweeper = Sweeper(runner, waker, scan_every=1)  # time the full pass (the worst case)
        began = time.perf_counter()
        found = reconcile(runner, waker, sweeper)
        reconciled = time.perf_counter() - began
        times, polls = [], []
        for _ in range(sweeps):
            began = time.perf_counter()
            sweeper.sweep()
            times.append(time.perf_counter() - began)
            began = time.perf_counter()
            runner.services.backend.poll()  # the sweep's first step, alone
            polls.append(time.perf_counter() - began)
        waker.wait_idle(timeout=60)
        waker.shutdown()
    figures = {
        "campaigns": n,
        "waiting": len(waiting),
        "build_s": round(built, 1),
        "build_ms_per_campaign": round(1000 * built / max(1, n), 1),
        "reconcile_s": round(reconciled, 3),
        "reconcile_found": found,
        "sweep_ms": round(1000 * statistics.median(times), 1),
        "sweep_ms_max": round(1000 * max(times), 1),
        "sweep_backend_poll_ms": round(1000 * statistics.median(polls), 1),
    }
    return figures, jobs


# --- 1. wake latency ---------------------------------------------------------------------
def wake_latency(
    server: Server, jobs_root: Path, template: dict[str, Any], wakeups: int, seed: int = 0
) -> dict[str, Any]:
    """Create and drive campaigns over the API until `wakeups` event -> submit samples exist."""
    rng = random.Random(seed)
    out: dict[str, Any] = {"samples": [], "idle_ms": [], "events": 0, "campaigns": []}
    with httpx.Client(base_url=server.url, timeout=120) as http:
        while len(out["samples"]) < wakeups:
            budget = DRIVE_BUDGETS_S[len(out["campaigns"]) % len(DRIVE_BUDGETS_S)]
            body = {
                "model": MODEL,
                "data": DATA.format(seed=len(out["campaigns"]) + 1),
                "budget_seconds": budget,
                "baseline": BASELINE,
            }
            created = http.post("/v1/campaigns", json=body)
            created.raise_for_status()
            cid = created.json()["campaign_id"]
            end = _drive(http, server, cid, jobs_root, template, rng, out, wakeups)
            out["campaigns"].append({"campaign_id": cid, "budget_seconds": budget, "left": end})
    return _latency_summary(out)


def _drive(
    http: httpx.Client,
    server: Server,
    cid: str,
    jobs_root: Path,
    template: dict[str, Any],
    rng: random.Random,
    out: dict[str, Any],
    wakeups: int,
) -> str:
    """Answer the campaign's approvals and report its jobs one at a time; each report whose
    wake-up submits a job is a sample. Returns where the campaign was left."""
    while len(out["samples"]) < wakeups:
        _wait_idle(http)
        view = http.get(f"/v1/campaigns/{cid}").raise_for_status().json()
        waits = view["waiting_on"]
        if not waits:
            return view["status"]
        wait = waits[0]
        if wait["type"] == "approval":
            if wait["kind"] not in ("plan", "budget"):
                return f"awaiting {wait['kind']} approval"
            answer = http.post(f"/v1/approvals/{wait['approval_id']}", json={"decision": "approve"})
            if answer.status_code == 409:  # asked again for an approval already answered
                return f"stuck on {wait['approval_id']}: {answer.json()['detail']}"
            answer.raise_for_status()
            continue
        before = {j["job_id"]: j for j in _jobs(http, cid)}
        done = wait["jobs"][0]
        spec = job_spec(jobs_root, done)
        emitter = report_started(spec)
        cpu = server.cpu_seconds()
        sent = report_final(emitter, final_result(spec, template, rng))
        idle = _wait_idle(http)
        cpu_ms = 1000 * (server.cpu_seconds() - cpu)
        out["events"] += 1
        after = _jobs(http, cid)
        if next(j for j in after if j["job_id"] == done)["state"] != "succeeded":
            raise RuntimeError(f"the final event of {done} was not applied")
        new = [j for j in after if j["job_id"] not in before]
        out["idle_ms"].append(((idle - sent) / 1e6, bool(new)))
        if new:
            first = min(submitted_ns(jobs_root, j["job_id"]) for j in new)
            step = _step(before[done], new)
            sample = {"ms": (first - sent) / 1e6, "step": step, "jobs": len(new), "cpu_ms": cpu_ms}
            out["samples"].append(sample)
    return "enough samples"


def _jobs(http: httpx.Client, cid: str) -> list[dict[str, Any]]:
    return http.get(f"/v1/campaigns/{cid}/jobs").raise_for_status().json()["jobs"]


def _wait_idle(http: httpx.Client, timeout: float = 300.0) -> int:
    """Poll /healthz (every 10 ms) until no wake-up is queued or running; the time (ns) it first
    said so. A wake-up is queued before the webhook or an approval answers, so none is missed.
    (The server CPU of a sample includes these polls and any sweeps meanwhile.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http.get("/healthz").json()["wakeups_running"] == 0:
            return time.time_ns()
        time.sleep(0.01)
    raise TimeoutError(f"the service was still busy after {timeout} s")


def _step(done: dict[str, Any], new: list[dict[str, Any]]) -> str:
    """What led from the finished job to the submit."""
    first = new[0]
    if first["phase"] != done["phase"]:
        return f"next phase ({done['phase']} -> {first['phase']})"
    if _batch(first["experiment_id"]) != _batch(done["experiment_id"]):
        return "next exploitation round"
    return "deferred launch (budget freed)"


def _batch(experiment_id: str) -> str:
    match = re.search(r"-x(\d+|confirm)(-\d+)?$", experiment_id)
    return match.group(1) if match else "phase"


def _latency_summary(out: dict[str, Any]) -> dict[str, Any]:
    values = [s["ms"] for s in out["samples"]]
    steps: dict[str, list[float]] = {}
    for s in out["samples"]:
        steps.setdefault(s["step"], []).append(s["ms"])
    return {
        "wakeups": len(values),
        **_percentiles(values),
        "server_cpu_per_wakeup_ms": _percentiles([s["cpu_ms"] for s in out["samples"]]),
        "by_step": {k: {"n": len(v), **_percentiles(v)} for k, v in sorted(steps.items())},
        "events_sent": out["events"],
        "event_to_idle_ms": {
            "with_submit": _percentiles([ms for ms, sub in out["idle_ms"] if sub]),
            "without_submit": _percentiles([ms for ms, sub in out["idle_ms"] if not sub]),
        },
        "campaigns": out["campaigns"],
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def pick(q: float) -> float:  # nearest rank
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1], 1),
    }


# --- 2. webhook throughput ------------------------------------------------------------------
def webhook_throughput(
    server: Server, job_ids: list[str], template: dict[str, Any], events: int, clients: int
) -> dict[str, Any]:
    """`clients` concurrent clients post `events` signed progress events (distinct seqs) to
    real jobs; then each must be stored exactly once, and repeats must change nothing."""
    requests = _progress_requests(job_ids, template, events)
    cpu, own = server.cpu_seconds(), time.process_time()
    began = time.perf_counter()
    answers = asyncio.run(_post_all(server.url, requests, clients))
    seconds = time.perf_counter() - began
    server_cpu, client_cpu = server.cpu_seconds() - cpu, time.process_time() - own
    stored = _stored(server.home, job_ids)
    repeats = requests[: min(200, len(requests))]
    repeat_answers = asyncio.run(_post_all(server.url, repeats, clients))
    latencies = [ms for _, _, ms in answers]
    return {
        "events": len(requests),
        "clients": clients,
        "jobs": len(job_ids),
        "seconds": round(seconds, 2),
        "events_per_s": round(len(requests) / seconds, 1),
        "request_ms": _percentiles(latencies),
        "statuses": dict(Counter(f"{code} {status}" for code, status, _ in answers)),
        "stored_rows": stored["rows"],
        "stored_distinct": stored["distinct"],
        "repeats_sent": len(repeats),
        "repeat_statuses": dict(Counter(f"{c} {s}" for c, s, _ in repeat_answers)),
        "stored_rows_after_repeats": _stored(server.home, job_ids)["rows"],
        "server_cpu_pct": round(100 * server_cpu / seconds, 1),
        "server_cpu_ms_per_event": round(1000 * server_cpu / len(requests), 2),
        "client_cpu_pct": round(100 * client_cpu / seconds, 1),
    }


def _progress_requests(
    job_ids: list[str], template: dict[str, Any], n: int
) -> list[tuple[str, bytes, str]]:
    """(job_id, body, signature): the template job's progress events, re-addressed round-robin
    over the jobs with fresh seqs; signed now (a signature stays valid for 300 s)."""
    progress = template["progress"]
    out = []
    for k in range(n):
        job_id = job_ids[k % len(job_ids)]
        event = JobEvent(
            job_id=job_id,
            attempt=1,
            seq=PROGRESS_SEQ0 + k // len(job_ids),
            kind="progress",
            at=now_iso(),
            metrics=progress[k % len(progress)]["metrics"],
        )
        body = event.model_dump_json(exclude_none=True).encode()
        out.append((job_id, body, sign(SECRET, body)))
    return out


async def _post_all(
    url: str, requests: list[tuple[str, bytes, str]], clients: int
) -> list[tuple[int, str, float]]:
    """Post every request, `clients` at a time, each client on its own keep-alive connection."""
    pending = iter(requests)
    answers: list[tuple[int, str, float]] = []

    async def client() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            for job_id, body, signature in pending:
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
                began = time.perf_counter()
                r = await http.post(f"/v1/jobs/{job_id}/events", content=body, headers=headers)
                ms = 1000 * (time.perf_counter() - began)
                answers.append((r.status_code, r.json().get("status", "?"), ms))

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


def _stored(home: Path, job_ids: list[str]) -> dict[str, int]:
    """Progress rows with the benchmark's seqs, read from the store's SQLite file."""
    marks = ",".join("?" * len(job_ids))
    query = (
        "SELECT COUNT(*), COUNT(DISTINCT job_id || ':' || attempt || ':' || seq) FROM job_events "
        f"WHERE kind = 'progress' AND seq >= ? AND job_id IN ({marks})"
    )
    with sqlite3.connect(f"file:{home / 'rea.sqlite'}?mode=ro", uri=True) as db:
        rows, distinct = db.execute(query, [PROGRESS_SEQ0, *job_ids]).fetchone()
    return {"rows": rows, "distinct": distinct}


# --- the whole run ---------------------------------------------------------------------------
def run(
    workdir: Path,
    *,
    hibernating: int,
    wakeups: int,
    events: int,
    clients: int,
    template_seeds: tuple[int, ...] = (0, 1, 2),
    idle_s: float = 5.0,
) -> dict[str, Any]:
    """Every measurement, in order, over one temporary REA_HOME in `workdir`."""
    if hibernating < 1 or wakeups < 1 or events < 1 or clients < 1:
        raise ValueError("hibernating, wakeups, events and clients must each be >= 1")
    home = workdir / "home"
    settings = settings_for(home)
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"load_avg_start": os.getloadavg()}
    began = time.perf_counter()
    template = real_job(workdir, list(template_seeds))
    result["template_job_s"] = round(time.perf_counter() - began, 1)
    port = free_port()
    with full_backend(settings.jobs_dir):
        empty = _probe(Server(home, port, "serve-empty"), idle_s)
        memory, jobs = hibernate(settings, hibernating, port)
        server = Server(home, port, "serve")
        try:
            full = _probe(server, idle_s, stop=False)
            memory.update(empty_home=empty, hibernating_home=full)
            memory["difference_mb"] = round((full["rss_kb"] - empty["rss_kb"]) / 1024, 1)
            latency = wake_latency(server, settings.jobs_dir, template, wakeups)
            throughput = webhook_throughput(server, jobs, template, events, clients)
            memory["after_benchmarks"] = server.idle_probe(1.0)
            result["service_errors"] = server.errors()[:20]
        finally:
            server.stop()
    result.update(wake_latency=latency, webhook=throughput, memory=memory)
    result["load_avg_end"] = os.getloadavg()
    return result


def _probe(server: Server, idle_s: float, *, stop: bool = True) -> dict[str, Any]:
    """Start the service, let it reconcile and sweep a few times, then read RSS and idle CPU."""
    started = server.start()
    try:
        time.sleep(1.5)  # a few sweeps (every 0.5 s)
        return {"start_s": round(started, 2), **server.idle_probe(idle_s)}
    finally:
        if stop:
            server.stop()


def table(result: dict[str, Any]) -> str:
    """The results as a text table: measure, value, target, met."""
    rows = _latency_rows(result["wake_latency"])
    rows += _webhook_rows(result["webhook"])
    rows += _memory_rows(result["memory"])
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'value':<32} {'target':<10} met"]
    lines += [f"{a:<{width}}  {b:<32} {c:<10} {d}" for a, b, c, d in rows]
    return "\n".join(lines)


Row = tuple[str, str, str, str]


def _met(good: bool) -> str:
    return "yes" if good else "NO"


def _latency_rows(lat: dict[str, Any]) -> list[Row]:
    cpu = lat["server_cpu_per_wakeup_ms"]
    rows = [
        ("wake-ups measured (event -> next submit)", str(lat["wakeups"]), "", ""),
        ("wake latency p50", f"{lat['p50_ms']} ms", "< 50 ms", _met(lat["p50_ms"] < 50)),
        ("wake latency p95", f"{lat['p95_ms']} ms", "", ""),
        ("wake latency p99", f"{lat['p99_ms']} ms", "< 250 ms", _met(lat["p99_ms"] < 250)),
        ("wake latency max", f"{lat['max_ms']} ms", "", ""),
        ("  service CPU per wake-up p50 / p99", f"{cpu['p50_ms']} / {cpu['p99_ms']} ms", "", ""),
    ]
    for step, s in lat["by_step"].items():
        rows.append((f"  {step}, n={s['n']}", f"p50 {s['p50_ms']} / p99 {s['p99_ms']} ms", "", ""))
    return rows


def _webhook_rows(hook: dict[str, Any]) -> list[Row]:
    exact = hook["stored_rows"] == hook["stored_distinct"] == hook["events"]
    exact = exact and hook["stored_rows_after_repeats"] == hook["events"]
    rate = hook["events_per_s"]
    return [
        (
            f"webhook, {hook['events']} signed events, {hook['clients']} clients",
            f"{rate} events/s",
            ">= 300/s",
            _met(rate >= 300),
        ),
        ("  service CPU per event", f"{hook['server_cpu_ms_per_event']} ms", "", ""),
        ("  stored exactly once (repeats too)", f"{hook['stored_distinct']}", "all", _met(exact)),
    ]


def _memory_rows(mem: dict[str, Any]) -> list[Row]:
    n, full, empty = mem["campaigns"], mem["hibernating_home"], mem["empty_home"]
    return [
        (f"RSS, {n} campaigns hibernating", f"{full['rss_mb']} MB", "", ""),
        ("RSS, same service, empty home", f"{empty['rss_mb']} MB", "", ""),
        (
            f"  difference ({n} waiting)",
            f"{mem['difference_mb']} MB",
            "< 200 MB",
            _met(mem["difference_mb"] < 200),
        ),
        ("RSS after the benchmarks", f"{mem['after_benchmarks']['rss_mb']} MB", "", ""),
        (
            "start-up to healthy, hibernating / empty",
            f"{full['start_s']} / {empty['start_s']} s",
            "",
            "",
        ),
        ("reconcile() over them (in-process)", f"{mem['reconcile_s']} s", "", ""),
        (
            "one sweep() over them (median)",
            f"{mem['sweep_ms']} ms ({mem['sweep_backend_poll_ms']} in poll)",
            "",
            "",
        ),
        (
            "service idle CPU, hibernating / empty",
            f"{full['idle_cpu_pct']} / {empty['idle_cpu_pct']} %",
            "",
            "",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~2 minutes (smaller sizes)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    for name in FULL:
        parser.add_argument(f"--{name}", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary REA_HOME")
    args = parser.parse_args(argv)
    sizes = {k: getattr(args, k) or v for k, v in (QUICK if args.quick else FULL).items()}
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="rea-bench-service-"))
    try:
        result = run(workdir, **sizes)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result.update(
        command=" ".join([os.path.relpath(sys.executable), *sys.argv]),
        sizes=sizes,
        targets=TARGETS,
        wall_s=round(time.perf_counter() - began, 1),
        machine={"cpus": os.cpu_count(), "platform": platform.platform()},
    )
    print(table(result))
    print(f"load average: start {result['load_avg_start']}, end {result['load_avg_end']}")
    print(f"wall time {result['wall_s']} s; service log errors: {len(result['service_errors'])}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
