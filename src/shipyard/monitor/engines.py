"""Connections to the prediction log's database, set up for many writers.

SQLite: WAL (readers never wait for the writer), a busy timeout (a writer waits
for another process's commit instead of failing), ``synchronous=FULL`` (a
commit is on disk when it returns) and SQLAlchemy in charge of BEGIN, so a
transaction can ask for the write lock up front (``immediate=True``).
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from shipyard.errors import MonitorError

CHUNK = 500  # ids per IN (...) list: well under every database's parameter limit
TIMEOUT_S = 30.0  # how long a writer waits for another's commit (SQLite) or a connection


class StoreError(MonitorError):
    """The prediction log's database cannot be reached or written."""


def connect(url: str, wait_s: float = TIMEOUT_S) -> sa.Engine:
    """An engine for ``url``; a SQLite writer waits up to ``wait_s`` for another's
    commit (0: the caller retries a locked database itself)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"Cannot parse the prediction log's URL {url!r}", details=[str(exc)],
                         hint="monitor.store is a SQLAlchemy URL, e.g. sqlite:///log.db or "
                              "postgresql+psycopg://user@host/db") from exc
    try:
        if parsed.drivername.startswith("sqlite"):
            return _sqlite(parsed, wait_s)
        args = {"connect_timeout": int(TIMEOUT_S)} if parsed.drivername.startswith(
            "postgresql") else {}
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
    except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(f"No database driver for the prediction log at {shown(url)}",
                         details=[str(exc)],
                         hint="install the driver the URL names, e.g. pip install "
                              "'psycopg[binary]' for postgresql+psycopg") from exc


def _sqlite(url, wait_s: float = TIMEOUT_S) -> sa.Engine:
    if url.database not in (None, "", ":memory:"):
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder of the prediction log {url.database}",
                             details=[str(exc)]) from exc
    engine = sa.create_engine(url, connect_args={"timeout": wait_s,
                                                 "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _setup(dbapi_connection, record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, not the driver
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        _wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _wal(cursor) -> None:
    # Switching to WAL needs a moment alone with the file; workers starting
    # together may each have to wait for the others.
    import sqlite3

    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def shown(url: str) -> str:
    """The URL without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url.split("@")[-1]


def unavailable(url: str, exc: BaseException, kind: type[MonitorError] = StoreError):
    """The error for a database failure: its own first lines, not a traceback."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return kind(f"The prediction log at {shown(url)} is unavailable",
                details=reason[:4] or [type(exc).__name__],
                hint="check that the database is running and writable (monitor.store)")


@contextmanager
def guard(url: str) -> Iterator[None]:
    """Database failures as :class:`StoreError`, naming the store (not its password).
    Integrity errors pass: callers retry them."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except sa_exc.SQLAlchemyError as exc:
        raise unavailable(url, exc) from exc


def insert_new(conn: sa.Connection, table: sa.Table, values: list[dict]) -> int:
    """Insert rows whose key is not there yet; the number inserted."""
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert = (sqlite if name == "sqlite" else postgresql).insert(table)
        statement = insert.on_conflict_do_nothing(index_elements=["request_id"])
        return max(executemany(conn, statement, values), 0)
    key = table.c.request_id
    have = known(conn, key, [v["request_id"] for v in values])
    fresh = [v for v in values if v["request_id"] not in have]
    if fresh:
        conn.execute(table.insert(), fresh)
    return len(fresh)


def executemany(conn: sa.Connection, statement, values: list[dict]) -> int:
    """``statement`` once per row of ``values``, straight to the driver: SQLAlchemy's
    per-row parameter handling costs more than SQLite's insert. The rows affected."""
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(values[0]))
    if compiled.positiontup is not None:  # e.g. sqlite's ?: tuples in the statement's order
        order = compiled.positiontup
        pick = operator.itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
        values = list(map(pick, values))
    return conn.exec_driver_sql(str(compiled), values).rowcount


def select_in(conn: sa.Connection, columns: list, key, ids: list[str]) -> list[tuple]:
    found = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        found += conn.execute(sa.select(*columns).where(key.in_(chunk))).all()
    return found


def known(conn: sa.Connection, key, ids: list[str]) -> set[str]:
    return {row[0] for row in select_in(conn, [key], key, ids)}
