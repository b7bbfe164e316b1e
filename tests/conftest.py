"""Shared fixtures. Tests never touch the network or ../shared (a user's clone has neither)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The whole suite runs with LangGraph's strict msgpack allowlist (only state types it can prove
# safe are deserialised), as production should: set before langgraph is imported.
os.environ["LANGGRAPH_STRICT_MSGPACK"] = "true"

import pytest
import torch
from stub_openai import stub_openai  # noqa: F401  (fixture: stub OpenAI server on loopback)

# Tiny models on 2 shared cores run faster (and steadier) on one intra-op thread.
torch.set_num_threads(1)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own REA_HOME (SQLite files, caches, job dirs)."""
    monkeypatch.setenv("REA_HOME", str(tmp_path_factory.mktemp("rea-home")))


class CallbackServer:
    """A real HTTP server on loopback that records every POST (headers + raw body)."""

    def __init__(self, status: int = 202):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/jobs/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def callback_server() -> Iterator[CallbackServer]:
    srv = CallbackServer()
    srv.thread.start()
    yield srv
    srv.server.shutdown()
    srv.server.server_close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
