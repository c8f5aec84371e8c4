"""The demo fleet in PostgreSQL: the same five tables ``fleet.write_duckdb`` writes,
loaded with COPY, so ``shipyard demo --database postgresql+psycopg://...`` runs
the same project file there.

COPY streams CSV text that pandas writes in C; row-by-row INSERTs through a
driver would take minutes for the default fleet. Floats are written in their
shortest exact form, so PostgreSQL holds the very values DuckDB does. Each
write is one transaction: the tables are replaced, or extended, whole or not at
all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from shipyard.data.database import CONNECT_TIMEOUT_S, cannot_connect
from shipyard.data.fleet import KEYS, TYPES, check_tables
from shipyard.errors import SourceError

__all__ = ["append", "connect", "write"]

Progress = Callable[[str, float, "float | None"], None]  # as shipyard.progress.Report
STEP = "Loading the fleet into PostgreSQL"
_CHUNK = 50_000  # rows per piece of CSV handed to COPY: bounded memory, steady progress
# DuckDB's type names (fleet.TYPES) in PostgreSQL.
_PG = {"BIGINT": "BIGINT", "INTEGER": "INTEGER", "SMALLINT": "SMALLINT",
       "DOUBLE": "DOUBLE PRECISION", "VARCHAR": "TEXT", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}


def connect(url: str) -> sa.Engine:
    """An engine for the PostgreSQL database at ``url`` (``postgresql://`` means the
    psycopg driver), checked by connecting once: a wrong host, port, password or
    database name is a :class:`SourceError` here, before anything is written."""
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise SourceError(f"Cannot parse the database URL {url!r}", details=[str(exc)],
                          hint="write it as postgresql+psycopg://user:password@host:port/"
                               "database") from exc
    if parsed.drivername not in ("postgresql", "postgresql+psycopg"):
        raise SourceError(f"The demo fleet can be loaded into PostgreSQL only, not "
                          f"{parsed.drivername}",
                          details=[f"URL: {parsed.render_as_string(hide_password=True)}"],
                          hint="give a postgresql+psycopg://user:password@host:port/database "
                               "URL")
    parsed = parsed.set(drivername="postgresql+psycopg")
    args = {key: value for key, value in (("connect_timeout", CONNECT_TIMEOUT_S),
                                          ("application_name", "shipyard-demo"))
            if key not in parsed.query}
    engine = sa.create_engine(parsed, connect_args=args)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        raise cannot_connect(shown(engine.url), exc, "the URL") from exc
    return engine


def shown(url) -> str:
    """A URL as it can be printed: without its password."""
    return url.render_as_string(hide_password=True)


def write(tables: dict[str, pd.DataFrame], engine: sa.Engine, *,
          drop: Iterable[str] = (), progress: Progress | None = None) -> None:
    """Replace the fleet's tables in the database of ``engine`` with ``tables``,
    dropping the tables named in ``drop`` too (those the fleet's old rows fed), in one
    transaction; keys (``fleet.KEYS``) become primary keys."""
    check_tables(tables)
    with _transaction(engine) as cursor:
        for name in [*tables, *drop]:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
        for name in tables:
            columns = ", ".join(f'"{c}" {_PG[t]} NOT NULL' if c in KEYS[name] else
                                f'"{c}" {_PG[t]}' for c, t in TYPES[name].items())
            cursor.execute(f'CREATE TABLE "{name}" ({columns})')
        _copy(cursor, tables, progress)
        for name in tables:  # after the rows: one index build instead of one per row
            keys = ", ".join(f'"{k}"' for k in KEYS[name])
            cursor.execute(f'ALTER TABLE "{name}" ADD PRIMARY KEY ({keys})')
            cursor.execute(f'ANALYZE "{name}"')  # the planner's statistics for the JOINs


def append(tables: dict[str, pd.DataFrame], engine: sa.Engine, *,
           progress: Progress | None = None) -> dict[str, int]:
    """Add the rows of ``tables`` to the fleet's tables and return how many each got.
    All or nothing, like ``fleet.append_duckdb``: a row whose key a table already has
    adds no row to any table (a ``ValueError``)."""
    import psycopg

    check_tables(tables)
    try:
        with _transaction(engine) as cursor:
            _copy(cursor, tables, progress)
            for name in tables:
                cursor.execute(f'ANALYZE "{name}"')
    except psycopg.errors.UniqueViolation as exc:
        raise ValueError(f"table {exc.diag.table_name} already has a row with the key "
                         f"{exc.diag.message_detail}; nothing was appended") from exc
    return {name: len(frame) for name, frame in tables.items()}


class _transaction:
    """A psycopg cursor inside one transaction of ``engine``'s: committed on success,
    rolled back on any error. psycopg itself, because COPY is its API, not SQLAlchemy's."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def __enter__(self):
        self.conn = self.engine.raw_connection()
        self.cursor = self.conn.driver_connection.cursor()
        return self.cursor

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.cursor.close()
            self.conn.close()


def _copy(cursor, tables: dict[str, pd.DataFrame], progress: Progress | None) -> None:
    total, done = sum(len(frame) for frame in tables.values()), 0
    if progress:
        progress(STEP, 0, total)
    for name, frame in tables.items():
        columns = list(TYPES[name])
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f'COPY "{name}" ({names}) FROM STDIN (FORMAT csv)') as copy:
            for start in range(0, len(frame), _CHUNK):
                piece = frame.iloc[start:start + _CHUNK][columns]
                # An empty unquoted field is NULL in PostgreSQL's CSV: what NaN becomes.
                copy.write(piece.to_csv(header=False, index=False, lineterminator="\n"))
                done += len(piece)
                if progress:
                    progress(STEP, done, total)
