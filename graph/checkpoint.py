"""The LangGraph checkpointer: a SQLite file by default, PostgreSQL when REA_CHECKPOINT_URL
says `postgresql://…` (or `postgresql+psycopg://…`, the SQLAlchemy spelling, accepted too)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

from rea.trainers.errors import ConfigError


@contextmanager
def open_checkpointer(url: str) -> Iterator[BaseCheckpointSaver]:
    """A ready checkpointer for `url` (`sqlite:///PATH` or a PostgreSQL URL); closed on exit."""
    if url.startswith("sqlite:///"):
        from langgraph.checkpoint.sqlite import SqliteSaver

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        try:
            saver = SqliteSaver(conn)
            saver.setup()  # journal_mode=WAL
            # As the experiment store's engine: a commit survives the process being killed; only
            # an OS crash or power cut can lose the last ones. FULL would fsync every commit,
            # several per graph step (~2 ms each here), on every wake-up's path.
            conn.execute("PRAGMA synchronous=NORMAL")
            yield saver
        finally:
            conn.close()
    elif url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with Connection.connect(
            dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row
        ) as conn:
            saver = PostgresSaver(conn)  # type: ignore[arg-type]
            saver.setup()
            yield saver
    else:
        raise ConfigError(
            f"REA_CHECKPOINT_URL {url!r} is neither sqlite:///PATH nor postgresql://…; "
            "leave it unset for a SQLite file under REA_HOME"
        )
