"""Run the project's SQL where the data is and hand back an Arrow table.

Three kinds of source, chosen by the project file:

* ``duckdb:///path.duckdb``: the embedded default, opened read-only;
* ``files:`` CSV/Parquet/JSON files, exposed as views to an in-memory DuckDB;
* any other URL: a database reached through SQLAlchemy (SQLite, PostgreSQL...),
  streamed and retried as :mod:`shipyard.data.database` says.

Relative paths (``duckdb:///data/x.duckdb``, ``sqlite:///x.db``, files) are
relative to the project file, so a project runs the same from any folder.
Errors carry the database's own message and the query.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from shipyard.data import database
from shipyard.data.database import first_lines as _first_lines
from shipyard.data.database import query_failed as _query_failed
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
    return database.read(source.url, source.query, root, progress)


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


def _collect(schema: pa.Schema, batches, progress) -> pa.Table:
    collected, rows = [], 0
    for batch in batches:
        collected.append(batch)
        rows += batch.num_rows
        if progress:
            progress(rows)
    return pa.Table.from_batches(collected, schema=schema)


def _safe_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
