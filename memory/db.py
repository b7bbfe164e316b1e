"""Database engines for the experiment store: embedded SQLite or a team PostgreSQL.

SQLite is tuned for several processes sharing one file (the service, `rea run`, a webhook):
WAL journal (readers never block the writer), a 10 s busy timeout (a writer waits instead of
failing), foreign keys on. SQLAlchemy, not the sqlite3 driver, emits BEGIN, so a transaction
covers its SELECTs too; a write transaction uses `BEGIN IMMEDIATE` (take the write lock first)
so a read-check-write such as a budget reservation cannot interleave with another writer.

PostgreSQL goes through psycopg 3 (`postgresql+psycopg://user@host:5432/db`); row locks
(`SELECT … FOR UPDATE`) serialise the read-check-writes there.

`StoreBase` holds what every part of the store shares: the sessions, the clock and the small
get / list / insert / update helpers.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, bindparam, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, select

from rea.trainers.errors import ConfigError

from .errors import DuplicateKey, InvalidValue, NotFound

T = TypeVar("T")
Row = TypeVar("Row")
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option read by the `begin` hook: "IMMEDIATE" for write transactions on SQLite.
SQLITE_BEGIN_OPTION = "rea_sqlite_begin"
_PG_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}


def default_database_url(home: str | Path) -> str:
    """The embedded default: a SQLite file `rea.db` under REA_HOME."""
    return f"sqlite:///{Path(home).expanduser().resolve() / 'rea.db'}"


# 20 digits in a row may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(r"[0-9]{20}")


def json_loads(text: str | bytes) -> Any:
    """JSON columns as read from the database: orjson (configs, metrics and hypotheses are read
    on every wake-up; it is several times faster), and `json` for what orjson reads otherwise
    or refuses: integers beyond 64 bits, and the NaN and Infinity that `json.dumps` writes."""
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode()
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` (`sqlite:///PATH`, `sqlite://` in memory, `postgresql+psycopg://…`).

    Raises `ConfigError` for a malformed URL or an unsupported database or driver.
    Extra keyword arguments go to `sqlalchemy.create_engine` (e.g. `connect_args`).
    """
    kwargs = {"json_deserializer": json_loads, **kwargs}
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError(
            f"database URL {url!r} is malformed ({err}); use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:5432/DB (REA_DATABASE_URL)"
        ) from None
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return _sqlite_engine(parsed.render_as_string(hide_password=False), parsed.database, kwargs)
    if parsed.drivername in _PG_DRIVERS:
        pg_url = parsed.set(drivername="postgresql+psycopg")
        return create_engine(pg_url, pool_pre_ping=True, **kwargs)
    raise ConfigError(
        f"unsupported database URL {parsed.render_as_string()!r}: REA's store runs on SQLite "
        "(sqlite:///PATH) or PostgreSQL with psycopg 3 (postgresql+psycopg://USER@HOST:5432/DB). "
        "Fix REA_DATABASE_URL."
    )


def _sqlite_engine(url: str, database: str | None, kwargs: dict[str, Any]) -> Engine:
    in_memory = not database or database == ":memory:"
    if in_memory:
        # One shared connection, or every session would see its own empty database.
        kwargs = {"poolclass": StaticPool, **kwargs}
        kwargs["connect_args"] = {"check_same_thread": False, **kwargs.get("connect_args", {})}
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level=None stops the sqlite3 driver from emitting its own (late) BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    # Straight to the driver: through `exec_driver_sql` the BEGIN cost ~10 µs of SQLAlchemy's
    # execution machinery (an empty write transaction 39 -> 29 µs, benchmarks/store_calls.py),
    # on every one of a wake-up's ~20 transactions. Errors still reach the caller as
    # SQLAlchemy's, as they would have.
    try:
        conn.connection.driver_connection.execute(f"BEGIN {mode}")
    except sqlite3.Error as err:
        raise OperationalError(f"BEGIN {mode}", None, err) from err


def write_engine(engine: Engine) -> Engine:
    """`engine` whose transactions take the write lock up front (SQLite); same engine otherwise."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return engine


class Sessions:
    """Short sessions, one per store call (no session outlives a method).

    `read()` opens a plain transaction; `write()` one that holds the write lock from its first
    statement on SQLite (`BEGIN IMMEDIATE`, waiting up to the busy timeout) and commits on exit.
    Objects stay readable after the session closes (`expire_on_commit=False`).
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._writer = write_engine(engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session:
            yield session
            session.commit()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (as `write()`, without an ORM session):
        committed on exit, rolled back on an exception."""
        with self._writer.begin() as conn:
            yield conn


def fetch(session: Session, model: type[T], key: Any, *, lock: bool = False) -> T:
    """The row of `model` with primary key `key`, or `NotFound` naming the table and id.

    `lock=True` takes a row lock (`SELECT … FOR UPDATE`) on PostgreSQL; on SQLite the write
    transaction already holds the database's write lock.
    """
    row = session.get(model, key, with_for_update=True if lock else None)
    if row is None:
        raise not_found(getattr(model, "__tablename__", model.__name__), key)
    return row


@functools.cache
def _by_key(model: type) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    return select(table).where(key == bindparam("key"))


def not_found(table: str, key: Any) -> NotFound:
    return NotFound(f"no row {key!r} in {table}: check the id (list the table to see what exists)")


def utc_now() -> datetime:
    """The default clock: timezone-aware UTC now."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A short random id such as `c-1f3a9b2c4d5e` (the prefix names the table)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def check_value(value: Any, allowed: Sequence[str], what: str) -> None:
    """Raise `InvalidValue` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise InvalidValue(f"{what} must be one of {', '.join(allowed)} (got {value!r})")


class StoreBase:
    """Sessions, clock and row helpers shared by the store's parts (one session per call)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now):
        self.engine = engine
        self._db = Sessions(engine)
        self._now = clock

    def _get(self, model: type[Row], key: Any) -> Row:
        """The row of `model` with primary key `key` (`NotFound` otherwise), read with one
        prebuilt Core query and made into a (transient) model object: ~40 % less CPU than an
        ORM session's `get`, and the wake path reads a campaign and experiments this way."""
        with self.engine.connect() as conn:
            row = conn.execute(_by_key(model), {"key": key}).first()
        if row is None:
            raise not_found(model.__tablename__, key)
        return model(**row._mapping)

    def _list(self, model: type[Row], conditions: list[Any], *order: Any) -> list[Row]:
        with self._db.read() as session:
            return list(session.exec(select(model).where(*conditions).order_by(*order)))

    def _insert(self, row: Row, parents: Sequence[tuple[type, Any]] = ()) -> Row:
        """Insert `row` after checking its parents exist (a clear NotFound instead of an FK error)."""
        try:
            with self._db.write() as session:
                for model, key in parents:
                    fetch(session, model, key)
                session.add(row)
        except IntegrityError as err:
            raise DuplicateKey(
                f"cannot add {type(row).__name__}: {err.orig}. Its id (or another unique key) "
                "is taken: use a new id, or get the existing row"
            ) from None
        return row

    def _update(
        self, model: type[Row], key: Any, changes: dict[str, Any], allowed: dict[str, Any]
    ) -> Row:
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise InvalidValue(f"cannot update {unknown}; updatable fields: {', '.join(allowed)}")
        for name, vocabulary in allowed.items():
            if name in changes and vocabulary:
                check_value(changes[name], vocabulary, name)
        try:
            with self._db.write() as session:
                row = fetch(session, model, key, lock=True)
                for name, value in changes.items():
                    setattr(row, name, value)
                if hasattr(row, "updated_at"):
                    row.updated_at = self._now()
                session.add(row)
        except IntegrityError as err:
            raise DuplicateKey(
                f"cannot update {key!r}: a unique key is taken ({err.orig})"
            ) from None
        return row
