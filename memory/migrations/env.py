"""Alembic environment of the experiment store.

Normally run through `ExperimentStore.migrate()`, which hands over an open connection in
`config.attributes["connection"]`. For writing a new revision with the alembic CLI, point
`sqlalchemy.url` (or REA_DATABASE_URL) at a database upgraded to head, e.g.
`alembic -c <ini with script_location = memory/migrations> revision --autogenerate -m "..."`,
then review the generated script by hand.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from rea.memory.db import make_engine
from rea.memory.tables import STORE_METADATA, VERSION_TABLE, UTCDateTime
from rea.trainers.errors import ConfigError

# Any fixed 64-bit number: concurrent migrators on PostgreSQL queue on this advisory lock.
PG_MIGRATION_LOCK = 0x5245_4153_544F_5245


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write the store's `UTCDateTime` as a plain `sa.DateTime(timezone=True)` in new revisions."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=STORE_METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE is limited
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK}
            )
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("REA_DATABASE_URL")
    if not url:
        raise ConfigError("no database to migrate: set sqlalchemy.url or REA_DATABASE_URL")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise ConfigError("offline (--sql) migrations are not supported; run them against a database")
main()
