"""Engines and sessions: the only place that opens a database connection.

SQLite (the embedded default) runs in WAL mode with foreign keys on; every
transaction starts with ``BEGIN IMMEDIATE`` so that a writer holds the database's
write lock from its first statement (the audit chain's head is read under it).
PostgreSQL writers take a transaction-level advisory lock for the chain head
(:func:`kyphos.registry.audit.lock_chain`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kyphos.config import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 60_000

_engines: dict[str, Engine] = {}


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _register_sqlite_adapters() -> None:
    """Dates go to SQLite as ISO text, as SQLAlchemy's Date type stores them.

    Python 3.12 deprecates sqlite3's built-in date adapters; kyphos's plain-SQL bulk path
    (:mod:`kyphos.registry.bulk`) relies on these explicit ones instead.
    """
    sqlite3.register_adapter(dt.date, dt.date.isoformat)
    sqlite3.register_adapter(dt.datetime, lambda value: value.isoformat(sep=" "))


def make_engine(url: str, *, reader: bool = False) -> Engine:
    """A new engine for ``url`` with kyphos's connection settings.

    On SQLite a writer's transactions start with ``BEGIN IMMEDIATE``; a ``reader`` engine's
    with a plain (deferred) ``BEGIN``, so reads never wait for the write lock — nor
    deadlock against a read the same thread has open.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _register_sqlite_adapters()
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # kyphos issues BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def engine_for(url: str, *, reader: bool = False) -> Engine:
    """The process-wide engine for ``url`` (created once; readers have their own)."""
    key = f"reader:{url}" if reader else url
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = make_engine(url, reader=reader)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, restore)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def get_engine(settings: Settings | None = None) -> Engine:
    return engine_for((settings or get_settings()).url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
