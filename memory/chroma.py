"""Opening Chroma: embedded on a laptop, a `chroma run` server for a team.

* `open_chroma(path=...)` — an embedded `PersistentClient`. One process owns a path: Chroma's
  embedded store is not process-safe (concurrent writers corrupt the HNSW files and other readers
  do not see new vectors). When the API service and the agent worker are separate processes, run
  a server instead.
* `open_chroma(url="http://host:port")` — an `HttpClient` against `chroma run --path DIR --host
  HOST --port PORT`. Embeddings are still computed in *this* process.
* neither — an in-memory client (tests, dry runs); nothing is persisted.

Collections are always opened through `get_collection`, which passes our embedding function and
the cosine space explicitly: Chroma's default embedding function would download an ONNX model.
Telemetry is off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import EmbeddingFunction
from chromadb.config import Settings

from rea.trainers.errors import ConfigError, ReaError

from . import embeddings as _embeddings  # noqa: F401  (registers our embedding functions)


def _settings() -> Settings:
    return Settings(anonymized_telemetry=False, allow_reset=False)


def open_chroma(path: str | Path | None = None, url: str | None = None) -> ClientAPI:
    """A Chroma client: `HttpClient` when `url` is given, else `PersistentClient(path)`.

    With neither, an in-memory (ephemeral) client. Raises `ConfigError` for a malformed URL and
    `ReaError` when no server answers there.
    """
    if url:
        return _http_client(url)
    if path is None:
        return chromadb.EphemeralClient(settings=_settings())
    Path(path).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=_settings())


def _http_client(url: str) -> ClientAPI:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"REA_CHROMA_URL must look like http://host:port (got {url!r})")
    port = parts.port or (443 if parts.scheme == "https" else 8000)
    try:
        return chromadb.HttpClient(
            host=parts.hostname, port=port, ssl=parts.scheme == "https", settings=_settings()
        )
    except Exception as err:  # chromadb raises ValueError/httpx errors depending on the failure
        raise ReaError(
            f"no Chroma server answered at {url} ({err}). Start one with "
            f"`chroma run --path DIR --host {parts.hostname} --port {port}` or unset REA_CHROMA_URL."
        ) from err


def get_collection(client: ClientAPI, name: str, embedder: EmbeddingFunction[Any]) -> Collection:
    """Get or create collection `name` with `embedder` and cosine distance.

    Raises `ConfigError` when the collection was created with a different embedder (its vectors
    would not be comparable): use another collection name or re-embed.
    """
    try:
        collection = client.get_or_create_collection(
            name=name,
            embedding_function=embedder,
            configuration={"hnsw": {"space": "cosine"}},
        )
    except ValueError as err:
        if "Embedding function conflict" not in str(err):
            raise
        raise ConfigError(
            f"Chroma collection {name!r} was built with another embedding function "
            f"({err}); open it with that one, or use a new collection name."
        ) from None
    _check_same_embedder(collection, embedder)
    return collection


def _check_same_embedder(collection: Collection, embedder: EmbeddingFunction[Any]) -> None:
    """Two OpenAI-compatible embedders with different models share a name: compare the model."""
    persisted = (collection.configuration_json or {}).get("embedding_function") or {}
    old = (persisted.get("config") or {}).get("model")
    new = embedder.get_config().get("model")
    if old is not None and new is not None and old != new:
        raise ConfigError(
            f"Chroma collection {collection.name!r} holds vectors from embedding model {old!r}, "
            f"not {new!r}; use a new collection name or the original model."
        )
