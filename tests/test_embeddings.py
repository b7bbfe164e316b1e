"""The two embedders: the bundled MiniLM (offline) and an OpenAI-compatible server (a loopback stub)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from chromadb.utils.embedding_functions import known_embedding_functions

from rea.memory.chroma import open_chroma
from rea.memory.embeddings import (
    MINILM_DIM,
    MINILM_NAME,
    OPENAI_NAME,
    MiniLMEmbedder,
    OpenAIEmbedder,
    default_embedder,
)
from rea.memory.insights import Effect, Evidence, Insight, InsightMemory
from rea.trainers.errors import ConfigError, ReaError

STUB_DIM = 8


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """The model must load from the wheel: any non-loopback connection fails the test."""
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in (
            "127.0.0.1",
            "::1",
        ):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def stub_vector(text: str) -> list[float]:
    """Deterministic unit vector from the text's hash (what the stub server returns)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(STUB_DIM)
    return (v / np.linalg.norm(v)).tolist()


class StubEmbeddingServer:
    """`POST /v1/embeddings` like OpenAI's, answering items in reverse order to test re-sorting."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict]] = []
        self.fail_with: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((dict(self.headers), body))
                if self.path != "/v1/embeddings" or outer.fail_with:
                    self.send_response(outer.fail_with or 404)
                    self.end_headers()
                    self.wfile.write(b'{"error": "nope"}')
                    return
                data = [
                    {"object": "embedding", "index": i, "embedding": stub_vector(t)}
                    for i, t in enumerate(body["input"])
                ][::-1]
                payload = json.dumps({"object": "list", "data": data, "model": body["model"]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def stub() -> Iterator[StubEmbeddingServer]:
    srv = StubEmbeddingServer()
    thread = threading.Thread(target=srv.server.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.server.shutdown()
    srv.server.server_close()


def test_minilm_gives_unit_vectors_that_capture_meaning():
    ef = MiniLMEmbedder()
    a, b, c = ef(
        ["lower the learning rate", "reduce the step size of the optimiser", "bake a cake"]
    )
    assert a.shape == (MINILM_DIM,) and a.dtype == np.float32
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)
    assert float(a @ b) > float(a @ c) + 0.2


def test_minilm_restores_torch_threads():
    before = torch.get_num_threads()
    MiniLMEmbedder(num_threads=1)(["x"])
    assert torch.get_num_threads() == before


def test_minilm_is_registered_and_rebuilds_from_config():
    ef = MiniLMEmbedder(num_threads=2, batch_size=16)
    assert known_embedding_functions[MINILM_NAME] is MiniLMEmbedder
    rebuilt = MiniLMEmbedder.build_from_config(ef.get_config())
    assert (rebuilt.num_threads, rebuilt.batch_size, rebuilt.default_space()) == (2, 16, "cosine")
    with pytest.raises(ConfigError):
        MiniLMEmbedder(num_threads=0)


def test_openai_embedder_posts_batches_and_keeps_input_order(stub):
    ef = OpenAIEmbedder(stub.base_url, "text-embed-small", api_key="sk-test", batch_size=2)
    texts = ["one", "two", "three"]
    vectors = ef(texts)
    np.testing.assert_allclose(np.stack(vectors), [stub_vector(t) for t in texts], atol=1e-6)
    assert [body["input"] for _, body in stub.requests] == [["one", "two"], ["three"]]
    headers, body = stub.requests[0]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "text-embed-small"


def test_openai_embedder_config_never_holds_the_key(stub, monkeypatch):
    monkeypatch.setenv("MY_EMBED_KEY", "sk-env")
    ef = OpenAIEmbedder(stub.base_url, "m", api_key_env="MY_EMBED_KEY")
    assert known_embedding_functions[OPENAI_NAME] is OpenAIEmbedder
    assert "sk-env" not in json.dumps(ef.get_config())
    OpenAIEmbedder.build_from_config(ef.get_config())(["hi"])
    assert stub.requests[-1][0]["Authorization"] == "Bearer sk-env"


def test_openai_embedder_errors_are_explicit(stub):
    stub.fail_with = 500
    with pytest.raises(ReaError, match="answered 500"):
        OpenAIEmbedder(stub.base_url, "m")(["x"])
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIEmbedder("localhost:8000", "m")


def test_default_embedder_needs_url_and_model(stub):
    assert isinstance(default_embedder(), MiniLMEmbedder)
    assert isinstance(default_embedder(openai_base_url=stub.base_url), MiniLMEmbedder)
    chosen = default_embedder(stub.base_url, "m", "k")
    assert isinstance(chosen, OpenAIEmbedder) and chosen.model == "m"


def test_insight_memory_works_with_the_server_embedder(stub, tmp_path):
    mem = InsightMemory(open_chroma(tmp_path / "c"), OpenAIEmbedder(stub.base_url, "m"))
    effect = Effect(gain_pct=0.0, seeds=1)
    ins = Insight(id="i1", statement="s", evidence=Evidence(effect=effect), outcome="neutral")
    mem.add([ins])
    hits = mem.search("query text")
    assert [h.insight.id for h in hits] == ["i1"]
    expected = float(np.dot(stub_vector("query text"), stub_vector("s (model: any; knobs: )")))
    assert hits[0].similarity == pytest.approx(expected, abs=1e-4)
