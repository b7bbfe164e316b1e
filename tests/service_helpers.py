"""Helpers for the service tests: a real uvicorn server on a free loopback port, in a thread
or as a `rea serve` process, and signed webhook requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from rea.app.service import create_app
from rea.app.settings import Settings
from rea.trainers.events import SIGNATURE_HEADER, sign

SECRET = "test-secret"
WEAK = {"model": "dcn_v2", "lr": 0.0003, "embed_dim": 4, "epochs": 2}
DATA = "synthetic:interaction-heavy?rows=20000&seed=0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed(body: dict[str, Any] | bytes, secret: str = SECRET, t: int | None = None) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {
        "content": raw,
        "headers": {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw, t)},
    }


class ThreadServer:
    """`create_app` under uvicorn in a daemon thread (stopped by `stop()`)."""

    def __init__(self, settings: Settings, port: int | None = None, **kw: Any):
        self.port = port or free_port()
        self.app = create_app(settings, port=self.port, **kw)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def service(self) -> Any:
        return self.app.state.service

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_healthy(self.url)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def wait_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the service at {url} did not come up in {timeout} s")


class ServeProcess:
    """`rea serve` as a real process (so it can be SIGKILLed)."""

    def __init__(self, home: Path, port: int, env: dict[str, str] | None = None):
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "REA_HOME": str(home),
            "REA_BRAIN": "offline",
            "REA_WEBHOOK_SECRET": SECRET,
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        log = open(self.home / f"serve-{self.starts}.log", "w")  # noqa: SIM115
        cmd = [sys.executable, "-m", "rea.app.cli", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        wait_healthy(self.url, timeout=120)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
