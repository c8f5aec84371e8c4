"""SQL input for batch scoring: the query runs once and its rows stream into
Parquet files of at most ``partition_rows`` rows each, which are then scored like
any Parquet input. The client holds one fetched chunk at a time, so a result far
larger than memory goes through.

DuckDB files are read with DuckDB's own Arrow batch reader; any other URL goes
through the data layer's chunked reader (:func:`shipyard.data.database.batches`,
a server-side cursor with psycopg, typed from the database's own types), not
:func:`shipyard.data.extract`, which collects the whole result for a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.data import database
from shipyard.data.database import query_failed
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
        database.batches(url, query, root)
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
                else batch
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
