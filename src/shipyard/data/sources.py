"""Run the project's SQL where the data is and hand back an Arrow table.

Three kinds of source, chosen by the project file:

* ``duckdb:///path.duckdb``: the embedded default, opened read-only;
* ``files:`` CSV/Parquet/JSON files, exposed as views to an in-memory DuckDB;
* any other URL: a database reached through SQLAlchemy (SQLite, PostgreSQL...).

Relative paths (``duckdb:///data/x.duckdb``, ``sqlite:///x.db``, files) are
relative to the project file, so a project runs the same from any folder.
Errors carry the database's own message and the query.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from shipyard.errors import SourceError
from shipyard.spec import Source

Progress = Callable[[int], None]  # called with the number of rows read so far
_BATCH = 65_536
# DuckDB would otherwise try to download extensions on first use; this machine
# may be offline, and a silent network wait is worse than a clear error.
_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# DuckDB's CSV sniffer reads Yes/No as booleans, which turns labels such as a churn
# flag into True/False behind the user's back; text stays text unless the query casts it.
_CSV_TYPES = (", auto_type_candidates = ['BIGINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'TIME', "
              "'VARCHAR']")
_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".parquet": "read_parquet",
            ".pq": "read_parquet", ".json": "read_json", ".jsonl": "read_json",
            ".ndjson": "read_json"}


def read(source: Source, root: Path, progress: Progress | None = None) -> pa.Table:
    """Run ``source.query`` and return every row."""
    if source.files is not None:
        return _read_files(source, root, progress)
    if source.url.startswith("duckdb://"):
        return _read_duckdb(source, root, progress)
    return _read_sqlalchemy(source, root, progress)


def describe(source: Source) -> dict:
    """Where the data came from, safe to store (no passwords)."""
    if source.files is not None:
        files = {k: v if isinstance(v, str) else v.model_dump() for k, v in source.files.items()}
        return {"kind": "files", "files": files, "query": source.query}
    if source.url.startswith("duckdb://"):
        return {"kind": "duckdb", "url": source.url, "query": source.query}
    return {"kind": "sqlalchemy", "url": _safe_url(source.url), "query": source.query}


def duckdb_path(url: str, root: Path) -> Path:
    """The file a ``duckdb:///`` URL points at (``duckdb:////abs`` is absolute)."""
    rest = url.removeprefix("duckdb://")
    if not rest.startswith("/") or rest == "/":
        raise SourceError(f"Cannot read the DuckDB URL {url!r}",
                          hint="write duckdb:///relative/path.duckdb or duckdb:////absolute/path")
    path = Path(rest[1:])
    return path if path.is_absolute() else root / path


def _read_duckdb(source: Source, root: Path, progress) -> pa.Table:
    path = duckdb_path(source.url, root)
    if not path.is_file():
        raise SourceError(f"No DuckDB database at {path}", details=[f"source.url: {source.url}"],
                          hint="check the path; relative paths start at the project file's folder")
    try:
        con = duckdb.connect(str(path), read_only=True, config=_OFFLINE)
    except duckdb.Error as exc:
        raise SourceError(f"Cannot open the DuckDB database {path}", details=[str(exc)]) from exc
    with con:
        return _run_duckdb(con, source, str(path), progress)


def _read_files(source: Source, root: Path, progress) -> pa.Table:
    with duckdb.connect(config=_OFFLINE) as con:
        for name, entry in source.files.items():
            pattern, given = (entry, {}) if isinstance(entry, str) else (entry.path,
                                                                         entry.options)
            path = Path(pattern).expanduser()
            path = path if path.is_absolute() else root / path
            fmt = None if isinstance(entry, str) else entry.format
            reader = f"read_{fmt}" if fmt else _READERS.get(path.suffix.lower())
            if reader is None:
                raise SourceError(f"source.files.{name}: cannot read {path.suffix!r} files",
                                  hint=f"give its format (csv, parquet, json), or use one of "
                                       f"{', '.join(sorted(_READERS))}")
            literal = _quote(str(path))
            options = (_CSV_TYPES if reader == "read_csv" and "types" not in given and
                       "columns" not in given else "")
            options += "".join(f", {key} = {_literal(value)}" for key, value in given.items())
            try:
                con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {reader}({literal}'
                            f'{options})')
            except duckdb.Error as exc:
                raise SourceError(f"Cannot read source.files.{name} ({path})",
                                  details=[_first_lines(str(exc))]) from exc
        return _run_duckdb(con, source, "the source files", progress)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _literal(value) -> str:
    """A project-file value as a DuckDB literal for a reader option."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_quote(str(v)) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quote(k)}: {_quote(str(v))}" for k, v in value.items()) + "}"
    return _quote(str(value))


def _run_duckdb(con, source: Source, where: str, progress) -> pa.Table:
    try:
        relation = con.sql(source.query)
        if relation is None:
            raise _query_failed(where, "the statement returns no rows (is it a SELECT?)",
                                source.query)
        reader = relation.to_arrow_reader(_BATCH)
        return _collect(reader.schema, reader, progress)
    except duckdb.Error as exc:
        raise _query_failed(where, str(exc), source.query) from exc


def _read_sqlalchemy(source: Source, root: Path, progress) -> pa.Table:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        url = sa.engine.make_url(source.url)
    except sa_exc.ArgumentError as exc:
        raise SourceError(f"Cannot parse the database URL {source.url!r}", details=[str(exc)],
                          hint="write it as dialect+driver://user:password@host:port/database") \
            from exc
    url = _anchor_sqlite(url, root)
    shown = url.render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(url)
    except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise SourceError(f"No database driver for {shown}", details=[str(exc)],
                          hint="install the driver the URL names, e.g. pip install "
                               "'psycopg[binary]' for postgresql+psycopg") from exc
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(sa.text(source.query))
            return _collect_rows(list(result.keys()), result, progress)
    except sa_exc.OperationalError as exc:
        if getattr(exc, "statement", None) and "connect" not in str(exc.orig).lower():
            raise _query_failed(shown, str(exc.orig), source.query) from exc
        raise SourceError(f"Cannot connect to {shown}", details=[_first_lines(str(exc.orig))],
                          hint="check the host, port, credentials and that the database runs") \
            from exc
    except sa_exc.DBAPIError as exc:
        raise _query_failed(shown, str(exc.orig), source.query) from exc
    finally:
        engine.dispose()


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


def _collect(schema: pa.Schema, batches, progress) -> pa.Table:
    collected, rows = [], 0
    for batch in batches:
        collected.append(batch)
        rows += batch.num_rows
        if progress:
            progress(rows)
    return pa.Table.from_batches(collected, schema=schema)


def _collect_rows(names: list[str], result, progress) -> pa.Table:
    """Arrow from DB-API rows, chunk by chunk. Each chunk infers its own types, so
    a column that is all NULL in one chunk is promoted when the chunks are joined."""
    tables, rows = [], 0
    for chunk in iter(lambda: result.fetchmany(_BATCH), []):
        columns = list(zip(*chunk, strict=True))
        tables.append(pa.table({n: pa.array(c) for n, c in zip(names, columns, strict=True)}))
        rows += len(chunk)
        if progress:
            progress(rows)
    if not tables:
        return pa.table({n: pa.array([], pa.null()) for n in names})
    return pa.concat_tables(tables, promote_options="permissive")


def _query_failed(where: str, message: str, query: str) -> SourceError:
    shown = query.strip()
    shown = shown if len(shown) < 2000 else shown[:2000] + " ..."
    return SourceError(f"The query failed on {where}",
                       details=[_first_lines(message), "query:", *shown.splitlines()],
                       hint="fix source.query in the project file")


def _first_lines(text: str, n: int = 6) -> str:
    return "\n  ".join(text.strip().splitlines()[:n])


def _safe_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
