"""SQL input for batch scoring: the query runs once and its rows stream into
Parquet files of at most ``partition_rows`` rows each, which are then scored like
any Parquet input. The client holds one fetched chunk at a time, so a result far
larger than memory goes through.

DuckDB files are read with DuckDB's own Arrow batch reader; any other URL goes
through SQLAlchemy with ``stream_results`` (a server-side cursor with psycopg).
:func:`shipyard.data.extract` collects whole results into one table, which is
what a snapshot needs but not what a table too big for memory allows, so the
fetching is done here, chunk by chunk, with the data layer's error messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.data.database import first_lines, query_failed
from shipyard.data.sources import duckdb_path
from shipyard.errors import DataError, SourceError, did_you_mean

_BATCH = 65_536
_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def stage(url: str, query: str, root: Path, folder: Path, required: list[str],
          partition_rows: int, progress: Callable[[int], None] | None = None) -> list[Path]:
    """Run ``query`` on ``url`` and write its rows to ``input-*.parquet`` files in
    ``folder``; a result without a column in ``required`` is refused before any row
    is fetched. Returns the files in row order."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = _duckdb(url, query, root) if url.startswith("duckdb://") else \
        _sqlalchemy(url, query, root)
    names = next(batches)  # the result's columns, before the first fetch
    missing = [c for c in required if c not in names]
    if missing:
        batches.close()
        raise DataError(f"The query does not return {len(missing)} column(s) the model needs",
                        details=[f"'{c}' is not in the result{did_you_mean(c, names)}"
                                 for c in missing] + [f"the query returns: {', '.join(names)}"],
                        hint="select the model's input columns in --query")
    files: list[Path] = []
    writer, written, rows = None, 0, 0
    try:
        for batch in batches:
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) \
                else pa.table(batch)
            if writer is not None and not table.schema.equals(writer.schema):
                try:  # a column that was all NULL in one chunk and typed in the next
                    table = table.cast(writer.schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    writer.close()
                    writer = None
            while table.num_rows:
                if writer is None:
                    files.append(folder / f"input-{len(files):05d}.parquet")
                    writer, written = pq.ParquetWriter(files[-1], table.schema), 0
                take = min(table.num_rows, partition_rows - written)
                writer.write_table(table.slice(0, take))
                written, rows, table = written + take, rows + take, table.slice(take)
                if written == partition_rows:
                    writer.close()
                    writer = None
            if progress:
                progress(rows)
    finally:
        if writer is not None:
            writer.close()
    if not files:
        raise DataError("The query returned no rows", details=[query.strip()[:500]],
                        hint="check the query's filters and that the source has data")
    return files


def _duckdb(url: str, query: str, root: Path) -> Iterator:
    import duckdb

    path = duckdb_path(url, root)
    if not path.is_file():
        raise SourceError(f"No DuckDB database at {path}", details=[f"url: {url}"])
    try:
        con = duckdb.connect(str(path), read_only=True, config=_OFFLINE)
    except duckdb.Error as exc:
        raise SourceError(f"Cannot open the DuckDB database {path}", details=[str(exc)]) from exc
    with con:
        try:
            relation = con.sql(query)
            if relation is None:
                raise query_failed(str(path), "the statement returns no rows (is it a "
                                              "SELECT?)", query)
            reader = relation.to_arrow_reader(_BATCH)
            yield reader.schema.names
            yield from reader
        except duckdb.Error as exc:
            raise query_failed(str(path), str(exc), query) from exc


def _sqlalchemy(url: str, query: str, root: Path) -> Iterator:
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise SourceError(f"Cannot parse the database URL {url!r}", details=[str(exc)]) from exc
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database)
        parsed = parsed.set(database=str(database if database.is_absolute() else
                                         root / database))
    shown = parsed.render_as_string(hide_password=True)
    args = {"connect_timeout": 10} if parsed.drivername.startswith("postgresql") else {}
    engine = sa.create_engine(parsed, connect_args=args)
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"Cannot connect to {shown}",
                              details=[first_lines(str(exc.orig))]) from exc
        with conn:
            try:
                result = conn.execution_options(stream_results=True, max_row_buffer=_BATCH
                                                ).execute(sa.text(query))
            except sa.exc.DBAPIError as exc:
                raise query_failed(shown, str(exc.orig), query) from exc
            try:
                if not result.returns_rows:
                    raise query_failed(shown, "the statement returns no rows (is it a "
                                              "SELECT?)", query)
                names = list(result.keys())
                yield names
                for chunk in result.partitions(_BATCH):
                    yield {n: _array(c) for n, c in zip(names, zip(*chunk, strict=True),
                                                        strict=True)}
            except sa.exc.DBAPIError as exc:
                raise query_failed(shown, str(exc.orig), query) from exc
            finally:
                result.close()
    finally:
        engine.dispose()


def _array(values) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # values of mixed kinds (SQLite lets a column hold any): kept as their text
        return pa.array([None if v is None else str(v) for v in values], pa.string())
