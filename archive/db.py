"""Opening the archive database: engine, sessions, automatic migrations.

SQLite (the default) is opened in WAL mode and every transaction starts with
`BEGIN IMMEDIATE`: worker threads then queue for the write lock (up to the
busy timeout) instead of failing with "database is locked" when a read
transaction later tries to write. PostgreSQL is used as it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from archive.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 60


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take transaction control from the driver so that BEGIN is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, refuses a folder that does not exist
    rather than letting the driver say "unable to open database file"."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise DatabaseError(
                f"the archive database folder {Path(database).parent} does not exist: "
                "create it, or set CLADE_DATABASE_URL / CLADE_HOME to a valid place"
            )
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}, pool_size=16
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=16)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None, "the archive has no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    command.upgrade(alembic_config(engine), revision)


def _explain(url: str, error: Exception) -> DatabaseError:
    shown = make_url(url).render_as_string(hide_password=True)
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if any(words in detail.lower() for words in ("disk is full", "no space left")):
        fix = "free space on the disk that holds it (nothing was lost: the archive is as it was), then try again"
    elif make_url(url).get_backend_name() == "sqlite":
        fix = "move the file aside (Clade creates a new archive) or set CLADE_DATABASE_URL to a valid database"
    else:
        fix = "check that the server is running and CLADE_DATABASE_URL is right"
    return DatabaseError(f"cannot open the archive database {shown} ({detail}): {fix}")


class Database:
    """An engine plus a session factory; one per process is enough."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success, rolls back on error."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect, check the database is usable, and upgrade its schema.

    A file that is not a database, or a server that does not answer, raises
    DatabaseError before anything is written.
    """
    engine = make_engine(url)
    try:
        if migrate:
            upgrade(engine)
        else:
            current_revision(engine)
    except exc.SQLAlchemyError as error:
        engine.dispose()
        raise _explain(url, error) from None
    return Database(engine)
