"""A private Ray head on loopback for tests, stopped without touching anyone else's Ray.

    with ray_head() as head:          # ~10 s: `ray start --head --block` as our own subprocess
        RayBackend(head.address, jobs_root)

`ray stop` would stop every Ray process on the machine (other sessions' clusters too), so the
head runs as `ray start --block` in its own session, with its own temp dir and free ports, and
is stopped by signalling exactly the processes it started: every descendant of that subprocess
(Ray's workers and job drivers are children of its raylet, even in their own sessions), plus any
process whose command line names our temp dir (one that was re-parented).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 90.0
STOP_GRACE_S = 3.0  # then SIGKILL: raylet and the --block process linger on SIGTERM


@dataclass
class RayHead:
    address: str  # the dashboard's HTTP address (what REA_RAY_ADDRESS holds)
    temp_dir: Path
    process: subprocess.Popen[bytes]
    log: Path


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: all bound at once, so the OS cannot hand out one twice (nine
    ports taken one after another once gave two components the same port, and Ray refused)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[RayHead]:
    """Start a head (venv's bin first on PATH, so jobs import rea); stop only it at the end."""
    ray_bin = Path(sys.executable).parent / "ray"
    # A short path: Ray's unix sockets live under it (107-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="rea-ray-", dir="/tmp"))
    flags = [
        "--port",
        "--dashboard-port",
        "--ray-client-server-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
        "--metrics-export-port",
        "--node-manager-port",
        "--object-manager-port",
    ]
    ports = dict(zip(flags, free_ports(len(flags)), strict=True))
    dash = ports["--dashboard-port"]
    cmd = [str(ray_bin), "start", "--head", "--block", "--node-ip-address=127.0.0.1"]
    cmd += ["--dashboard-host=127.0.0.1", f"--temp-dir={temp_dir}", f"--num-cpus={num_cpus}"]
    cmd += [f"{flag}={port}" for flag, port in ports.items()]
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "PATH": f"{ray_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = temp_dir / "ray-start.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    head = RayHead(f"http://127.0.0.1:{dash}", temp_dir, proc, log)
    try:
        _wait_ready(head)
        yield head
    finally:
        stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_ready(head: RayHead) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if head.process.poll() is not None:
            raise RuntimeError(f"ray start exited early:\n{head.log.read_text()[-3000:]}")
        url = f"{head.address}/api/version"
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray dashboard did not come up:\n{head.log.read_text()[-3000:]}")


def stop(head: RayHead) -> None:
    """SIGTERM, then SIGKILL, to the head's own processes only."""
    victims = _descendants(head.process.pid) | _naming(str(head.temp_dir)) | {head.process.pid}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            head.process.poll()  # reap our direct child
            victims = {p for p in victims if _alive(p)}
            if not victims:
                return
            time.sleep(0.2)


def _ppids() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError):
                out[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
    return out


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppids().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _naming(text: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
