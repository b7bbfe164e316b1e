"""Engines and migrations of the experiment store, on SQLite and PostgreSQL.

Also the shared way the other store tests get a migrated, empty database (`open_store`, with
the session fixture `store_databases`): a copy of a migrated SQLite file under tmp_path, or one
PostgreSQL schema `rea_test_<hex>` created and migrated once per test run, emptied before each
test and dropped at the end. The server is REA_TEST_POSTGRES_URL (default
postgres@127.0.0.1:5432/test); PostgreSQL tests skip, saying why, when it is unreachable.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from rea.memory.db import default_database_url, make_engine
from rea.memory.store import ExperimentStore
from rea.memory.tables import STORE_METADATA, VERSION_TABLE
from rea.trainers.errors import ConfigError

PG_URL = os.environ.get(
    "REA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@cache
def _pg_unreachable() -> str | None:
    """Why PostgreSQL can't be used (None when it can); checked once per test run."""
    engine = make_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as err:  # any failure to connect means: skip, and say why
        return f"{type(err).__name__}: {str(err).splitlines()[0]}"
    finally:
        engine.dispose()


def _pg_schema_engine() -> tuple[Engine, str]:
    """An engine whose connections use a new, empty schema `rea_test_<hex>`."""
    reason = _pg_unreachable()
    if reason:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    schema = f"rea_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE SCHEMA "{schema}"')
    return make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}), schema


def _pg_admin(sql: str) -> None:
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(sql))
    admin.dispose()


def open_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty (unmigrated) database: a SQLite file, or a unique PostgreSQL schema."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield engine
        engine.dispose()
        return
    engine, schema = _pg_schema_engine()
    try:
        yield engine
    finally:
        engine.dispose()
        _pg_admin(f'DROP SCHEMA "{schema}" CASCADE')


class StoreDatabases:
    """Migrated databases reused by the tests of one run (migrating per test is slow)."""

    def __init__(self, workdir: Path):
        self._sqlite_template = workdir / "template.db"
        self._pg: tuple[Engine, str] | None = None

    def sqlite(self, tmp_path: Path) -> ExperimentStore:
        if not self._sqlite_template.exists():
            template = ExperimentStore(f"sqlite:///{self._sqlite_template}")
            template.migrate()
            template.close()  # the last connection out folds the WAL into the file
        shutil.copy(self._sqlite_template, tmp_path / "store.db")
        return ExperimentStore(f"sqlite:///{tmp_path / 'store.db'}")

    def postgres(self) -> ExperimentStore:
        if self._pg is None:
            self._pg = _pg_schema_engine()
            ExperimentStore(self._pg[0]).migrate()
        tables = ", ".join(t.name for t in STORE_METADATA.sorted_tables)
        with self._pg[0].begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return ExperimentStore(self._pg[0])

    def close(self) -> None:
        if self._pg is not None:
            self._pg[0].dispose()
            _pg_admin(f'DROP SCHEMA "{self._pg[1]}" CASCADE')


@pytest.fixture(scope="session")
def store_databases(tmp_path_factory) -> Iterator[StoreDatabases]:
    databases = StoreDatabases(tmp_path_factory.mktemp("store-template"))
    yield databases
    databases.close()


def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExperimentStore]:
    """A migrated, empty store on the backend `request.param` (for a parametrized fixture)."""
    databases: StoreDatabases = request.getfixturevalue("store_databases")
    if request.param == "sqlite":
        store = databases.sqlite(tmp_path)
        yield store
        store.close()
    else:
        yield databases.postgres()


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path) -> Iterator[Engine]:
    yield from open_engine(request.param, tmp_path)


def _schema_diff(engine: Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return compare_metadata(context, STORE_METADATA)


def test_migrate_creates_the_schema_of_the_tables_module(engine):
    assert len(_schema_diff(engine)) >= 9  # empty database: every table is missing
    store = ExperimentStore(engine)
    assert store.revision() is None
    assert store.migrate() == "0002"
    assert _schema_diff(engine) == []


def test_second_migrate_is_a_no_op(engine):
    store = ExperimentStore(engine)
    store.migrate()
    campaign = store.create_campaign("fm", "synthetic:tiny", 60)
    assert store.migrate() == "0002"
    assert store.get_campaign(campaign.id).budget_seconds == 60
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all() == [("0002",)]


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/rea", "postgresql+psycopg2://u@h/db", "not a url"]
)
def test_unsupported_urls_raise_config_error(url):
    with pytest.raises(ConfigError, match="REA_DATABASE_URL"):
        make_engine(url)


def test_plain_postgres_urls_use_psycopg3():
    engine = make_engine("postgresql://user@db.example:5432/rea")  # no connection is made
    assert engine.url.drivername == "postgresql+psycopg"


def test_sqlite_connections_are_tuned_for_several_processes(tmp_path):
    engine = make_engine(default_database_url(tmp_path / "home"))  # creates REA_HOME
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
    assert (tmp_path / "home" / "rea.db").exists()


def test_in_memory_sqlite_keeps_one_database_across_sessions():
    store = ExperimentStore("sqlite://")
    store.migrate()
    campaign = store.create_campaign("lr", "synthetic:tiny", 10)
    assert [c.id for c in store.list_campaigns()] == [campaign.id]
