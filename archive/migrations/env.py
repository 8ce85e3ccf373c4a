"""Alembic environment: migrations run on the engine `archive.db` hands over.

On PostgreSQL an advisory lock serialises processes that start at the same
time; on SQLite the `BEGIN IMMEDIATE` transaction does the same.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from archive.models import Base

MIGRATION_LOCK_ID = 0x0C1ADE


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            context.run_migrations()


run_migrations()
