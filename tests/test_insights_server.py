"""InsightMemory against a real `chroma run` server on loopback (the team-server setup)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rea.memory.chroma import open_chroma
from rea.memory.embeddings import MiniLMEmbedder
from rea.memory.insights import Effect, Evidence, Insight, InsightMemory, outcome_for
from rea.trainers.errors import ConfigError, ReaError

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory) -> Iterator[str]:
    """Start `chroma run` on a free loopback port, wait for its heartbeat, stop it afterwards."""
    exe = str(CHROMA) if CHROMA.exists() else shutil.which("chroma")
    if exe is None:
        pytest.fail("the `chroma` CLI (from chromadb) is not installed beside this Python")
    port, data = _free_port(), tmp_path_factory.mktemp("chroma-server")
    cmd = [exe, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_heartbeat(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for_heartbeat(url: str, proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chroma run exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"chroma run did not answer at {url} within {timeout_s} s")


def _insight(iid: str, statement: str, knob: str, value, base, gain, lo, hi) -> Insight:
    effect = Effect(gain_pct=gain, ci_lo=lo, ci_hi=hi, seeds=4)
    ev = Evidence(model="fm", knobs={knob: value}, baseline={knob: base}, effect=effect)
    return Insight(id=iid, statement=statement, evidence=ev, outcome=outcome_for(effect))


def test_add_search_and_reconnect_through_a_server(chroma_url):
    embedder = MiniLMEmbedder()
    mem = InsightMemory(open_chroma(url=chroma_url), embedder)
    mem.add(
        [
            _insight("a", "Embedding L2 of 1e-6 reduced overfitting", "emb_l2", 1e-6, 0.0, 0.4, 0.1, 0.7),
            _insight("b", "Three epochs beat one epoch", "epochs", 3, 1, 1.2, 0.8, 1.6),
            _insight("c", "Embedding L2 of 1e-6 hurt on a small dataset", "emb_l2", 1e-6, 0.0, -0.3, -0.5, -0.1),
        ]
    )  # fmt: skip
    hits = mem.search("embedding regularisation", outcome="helped")
    assert hits[0].insight.id == "a"
    assert [c.id for c in hits[0].conflicts] == ["c"]

    again = InsightMemory(open_chroma(url=chroma_url), embedder)  # a second process would do this
    assert again.count() == 3
    assert [h.insight.id for h in again.search("how many epochs", knobs=["epochs"])] == ["b"]


def test_bad_or_dead_server_urls_say_what_to_do():
    with pytest.raises(ConfigError, match="http://host:port"):
        open_chroma(url="chroma.internal:8000")
    with pytest.raises(ReaError, match="chroma run"):
        open_chroma(url=f"http://127.0.0.1:{_free_port()}")
