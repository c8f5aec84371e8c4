"""Run the project's SQL on a database reached through SQLAlchemy (SQLite,
PostgreSQL...) and hand back an Arrow table.

* Rows stream in chunks: ``stream_results`` makes SQLAlchemy use a server-side cursor
  where the driver has one (a named cursor with psycopg: the server keeps the
  result and sends ``_BATCH`` rows per FETCH), so the client holds one chunk of
  Python rows at a time, never the whole result.
* Columns are typed from the database's own types where the driver says them
  (psycopg's type OIDs), so a column that is NULL in a whole chunk, or an empty
  result, keeps its type; elsewhere each chunk's values decide.
* A connection that drops mid-way is retried from the start with backoff; a
  result is whole or not at all, so nothing partial can become a snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from shipyard.errors import SourceError

_BATCH = 65_536
RETRY_DELAYS_S = (0.5, 1.0, 2.0)  # the waits before each retry of a dropped extraction
CONNECT_TIMEOUT_S = 10  # a host that never answers is an error, not a hang
# PostgreSQL built-in type OIDs -> Arrow. NUMERIC comes as float64 (loaded so by
# psycopg, below): models need numbers, and Python Decimals would make an untyped
# object column. UUID and JSON come as their text.
_PG_TYPES = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 26: pa.int64(),
    700: pa.float32(), 701: pa.float64(), 1700: pa.float64(),
    18: pa.string(), 19: pa.string(), 25: pa.string(), 1042: pa.string(), 1043: pa.string(),
    114: pa.string(), 3802: pa.string(), 2950: pa.string(),
    1082: pa.date32(), 1083: pa.time64("us"), 1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"), 1186: pa.duration("us"), 17: pa.binary(),
}


def read(url: str, query: str, root: Path, progress=None) -> pa.Table:
    """Every row of ``query`` on the database at ``url``."""
    parsed, shown = _parse(url, root)
    engine = _engine(parsed, shown)
    try:
        return _attempts(engine, query, shown, progress)
    finally:
        engine.dispose()


def batches(url: str, query: str, root: Path) -> Iterator:
    """The rows of ``query`` as they are fetched, for results too big to hold (batch
    scoring): the column names first, then one Arrow table per chunk. A dropped
    connection is not retried here: the caller has already used the earlier chunks."""
    parsed, shown = _parse(url, root)
    engine = _engine(parsed, shown)
    try:
        try:
            conn = engine.connect()
        except sa_exc.DBAPIError as exc:
            raise cannot_connect(shown, exc) from exc
        with conn:
            chunks = _chunks(conn, query, shown)
            try:
                names, _ = next(chunks)
                yield names
                yield from chunks
            except sa_exc.DBAPIError as exc:
                raise query_failed(shown, str(exc.orig), query) from exc
    finally:
        engine.dispose()


def _parse(url: str, root: Path):
    """The parsed URL (a relative SQLite path anchored at ``root``) and how to show it
    in messages, without its password."""
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise SourceError(f"Cannot parse the database URL {url!r}", details=[str(exc)],
                          hint="write it as dialect+driver://user:password@host:port/database") \
            from exc
    parsed = _anchor_sqlite(parsed, root)
    return parsed, parsed.render_as_string(hide_password=True)


def _attempts(engine: sa.Engine, query: str, shown: str, progress) -> pa.Table:
    dropped: list[str] = []
    for attempt, wait in enumerate((0.0, *RETRY_DELAYS_S), start=1):
        time.sleep(wait)
        try:
            conn = engine.connect()
        except sa_exc.DBAPIError as exc:
            if not dropped:  # never connected: the URL, the credentials or the server
                raise cannot_connect(shown, exc) from exc
            dropped.append(f"attempt {attempt}: could not reconnect: {_reason(exc)}")
            continue
        try:
            with conn:
                return _stream(conn, query, shown, progress)
        except sa_exc.DBAPIError as exc:
            if not _is_drop(exc):
                raise query_failed(shown, str(exc.orig), query) from exc
            dropped.append(f"attempt {attempt}: {_reason(exc)}")
    raise SourceError(f"The connection to {shown} kept dropping during the extraction",
                      details=[*dropped, f"gave up after {len(dropped)} attempts; "
                                         "no rows were kept"],
                      hint="check that the database server is up and reachable, then run again")


def _stream(conn: sa.Connection, query: str, shown: str, progress) -> pa.Table:
    chunks = _chunks(conn, query, shown)
    names, types = next(chunks)
    tables, rows = [], 0
    for table in chunks:
        tables.append(table)
        rows += table.num_rows
        if progress:
            progress(rows)
    if not tables:
        return pa.table({n: pa.array([], t or pa.null()) for n, t in zip(names, types,
                                                                        strict=True)})
    # an untyped column that is all NULL in one chunk is promoted to the others' type
    return pa.concat_tables(tables, promote_options="permissive")


def _chunks(conn: sa.Connection, query: str, shown: str) -> Iterator:
    """The result's column names and Arrow types (None: unknown) first, then one
    Arrow table per fetched chunk."""
    result = conn.execution_options(stream_results=True, max_row_buffer=_BATCH).execute(
        sa.text(query))
    try:
        if not result.returns_rows:
            raise query_failed(shown, "the statement returns no rows (is it a SELECT?)", query)
        names = list(result.keys())
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:  # a table keeps one column per name: the other would be lost unseen
            raise query_failed(shown, f"the result has more than one column named "
                                      f"{', '.join(map(repr, twice))}: give each its own "
                                      "name (... AS name)", query)
        types = _types(conn, result)
        yield names, types
        for chunk in result.partitions(_BATCH):
            columns = zip(*chunk, strict=True)
            table = pa.table({n: _array(c, t) for n, c, t in
                              zip(names, columns, types, strict=True)})
            del chunk, columns  # before the next fetch: one chunk of Python rows at a time
            yield table
    finally:
        # also on errors: SQLAlchemy leaves the server-side cursor of a dropped
        # connection open, and psycopg warns when it is collected
        result.close()


def _types(conn: sa.Connection, result) -> list[pa.DataType | None]:
    description = result.cursor.description or []
    if conn.dialect.driver != "psycopg":
        return [None] * len(description)
    return [_PG_TYPES.get(column.type_code) for column in description]


def _array(values, type_: pa.DataType | None) -> pa.Array:
    for kind in dict.fromkeys((type_, None)):  # the database's type, else the values'
        try:
            return pa.array(values, kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    # values of mixed kinds (SQLite lets a column hold any): kept as their text
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _engine(url, shown: str) -> sa.Engine:
    args = {}
    if url.drivername.startswith("postgresql"):
        args = {key: value for key, value in (("connect_timeout", CONNECT_TIMEOUT_S),
                                              ("application_name", "shipyard"))
                if key not in url.query}  # the URL's own settings win
    try:
        engine = sa.create_engine(url, connect_args=args)
    except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise SourceError(f"No database driver for {shown}", details=[str(exc)],
                          hint="install the driver the URL names, e.g. pip install "
                               "'psycopg[binary]' for postgresql+psycopg") from exc
    if engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _load_as_columns)
    return engine


def _load_as_columns(dbapi_connection, record) -> None:
    """Have psycopg build the values the Arrow types above want (floats for NUMERIC,
    text for UUID and JSON) instead of Decimals, UUIDs and dicts converted later."""
    from psycopg.types.numeric import FloatLoader
    from psycopg.types.string import TextLoader

    adapters = dbapi_connection.adapters
    adapters.register_loader("numeric", FloatLoader)
    for name in ("uuid", "json", "jsonb"):
        adapters.register_loader(name, TextLoader)


def _is_drop(exc: sa_exc.DBAPIError) -> bool:
    """A lost connection (worth retrying), not an error in the query."""
    state = getattr(exc.orig, "sqlstate", None) or ""
    # 08: connection exception; 57P: the server shut down or killed this backend
    return exc.connection_invalidated or state.startswith(("08", "57P"))


def cannot_connect(shown: str, exc: sa_exc.DBAPIError, where: str = "source.url") -> SourceError:
    """Why a first connection failed, with a hint about the part of the URL (given
    in ``where``) to check."""
    message = str(exc.orig)
    if "password" in message or "authentication" in message or 'role "' in message:
        hint = f"check the user name and password in {where}"
    elif "database" in message and "does not exist" in message:
        hint = f"check the database name in {where}; the database must exist already " \
               "(CREATE DATABASE ...)"
    else:
        hint = f"check the host and port in {where} and that the database server runs " \
               "and accepts connections from here"
    return SourceError(f"Cannot connect to {shown}", details=[first_lines(message)], hint=hint)


def _reason(exc: sa_exc.DBAPIError) -> str:
    return first_lines(str(exc.orig), 1)


def _anchor_sqlite(url, root: Path):
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return url
    path = Path(url.database)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        # SQLite would quietly create an empty database and fail later with "no such table".
        raise SourceError(f"No SQLite database at {path}",
                          hint="check the path; relative paths start at the project file's folder")
    return url.set(database=str(path))


def query_failed(where: str, message: str, query: str) -> SourceError:
    shown = query.strip()
    shown = shown if len(shown) < 2000 else shown[:2000] + " ..."
    return SourceError(f"The query failed on {where}",
                       details=[first_lines(message), "query:", *shown.splitlines()],
                       hint="fix source.query in the project file")


def first_lines(text: str, n: int = 6) -> str:
    return "\n  ".join(text.strip().splitlines()[:n])
