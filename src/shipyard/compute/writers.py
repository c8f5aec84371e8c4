"""Where scored partitions go, written so that a partition scored twice (a retried
task, a task a lost worker had already finished) replaces itself, never adds rows.

* :class:`ParquetOutput`: one file per partition, ``part-00012.parquet`` in a folder,
  written under a hidden temporary name and renamed into place (atomic on one
  filesystem), so a reader never sees half a file and a second write overwrites.
* :class:`TableOutput`: a database table with a ``_partition`` column; each partition
  is written in one transaction that first deletes the partition's rows.

Both check at the end that each partition holds exactly its rows (``_row`` runs over
the partition's range of global row numbers, once each) and say which do not.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.compute.partitions import Partition
from shipyard.errors import SourceError

ROW = "_row"  # the input's global row number: the key every output row carries
PARTITION = "_partition"
SUMMARY = "_shipyard_score.json"  # the leading _ keeps Parquet readers from reading it
_TABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")


@dataclass(frozen=True)
class ParquetOutput:
    folder: str

    def describe(self) -> str:
        return self.folder

    def check_free(self, overwrite: bool) -> None:
        folder = Path(self.folder)
        if folder.exists() and not folder.is_dir():
            raise SourceError(f"The output {folder} is a file, not a folder",
                              hint="give --output a folder for the part-*.parquet files")
        old = sorted(folder.iterdir()) if folder.is_dir() else []
        if old and not overwrite:
            raise SourceError(f"The output folder {folder} is not empty",
                              details=[f"it holds {len(old)} entries, e.g. {old[0].name}"],
                              hint="choose a new folder, or pass --overwrite to replace the "
                                   "scores in it")

    def create(self, schema: pa.Schema, overwrite: bool) -> None:
        folder = Path(self.folder)
        self.check_free(overwrite)
        for path in folder.glob("*") if folder.is_dir() else []:
            # only what a scoring run writes: other files are the user's
            if path.name.startswith(("part-", ".part-")) or path.name == SUMMARY:
                path.unlink()
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, part: Partition, table: pa.Table) -> None:
        final = Path(self.folder) / f"{part.name}.parquet"
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def problems(self, parts: list[Partition]) -> list[str]:
        folder = Path(self.folder)
        found = {p.name for p in folder.glob("part-*.parquet")}
        wrong = [f"{name}: not one of the planned partitions"
                 for name in sorted(found - {f"{p.name}.parquet" for p in parts})]
        for part in parts:
            path = folder / f"{part.name}.parquet"
            if path.name not in found:
                wrong.append(f"{part.name}: missing")
                continue
            rows = pq.read_table(path, columns=[ROW]).column(ROW).to_numpy()
            wrong += _compare(part, rows)
        return wrong

    def finish(self, summary: dict) -> None:
        (Path(self.folder) / SUMMARY).write_text(json.dumps(summary, indent=2, default=str))


@dataclass(frozen=True)
class TableOutput:
    url: str
    table: str

    def __post_init__(self) -> None:
        if not _TABLE.match(self.table):
            raise SourceError(f"Cannot write to a table named {self.table!r}",
                              hint="give a plain name such as scores or analytics.scores")

    def describe(self) -> str:
        return f"table {self.table} on {_shown(self.url)}"

    def check_free(self, overwrite: bool) -> None:
        import sqlalchemy as sa

        owner, name = self._parts()
        engine = self._engine()
        try:
            exists = sa.inspect(engine).has_table(name, schema=owner)
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"Cannot connect to {_shown(self.url)} to write the scores",
                              details=[str(exc.orig)[:300]],
                              hint="check --output-url and that the database server runs"
                              ) from exc
        finally:
            engine.dispose()
        if exists and not overwrite:
            raise SourceError(f"The table {self.table} already exists on {_shown(self.url)}",
                              hint="choose another --table, or pass --overwrite to replace it")

    def create(self, schema: pa.Schema, overwrite: bool) -> None:
        import sqlalchemy as sa

        self.check_free(overwrite)
        owner, name = self._parts()
        engine = self._engine()
        try:
            empty = schema.append(pa.field(PARTITION, pa.int64())).empty_table().to_pandas()
            empty.to_sql(name, engine, schema=owner, index=False, if_exists="replace")
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"Cannot create the table {self.table} on {_shown(self.url)}",
                              details=[str(exc.orig)[:300]]) from exc
        finally:
            engine.dispose()

    def write(self, part: Partition, table: pa.Table) -> None:
        import sqlalchemy as sa

        owner, name = self._parts()
        frame = table.append_column(PARTITION, pa.array(np.full(table.num_rows, part.index),
                                                        pa.int64())).to_pandas()
        engine = self._engine()
        try:
            with engine.begin() as conn:  # the delete and the rows commit together
                conn.execute(sa.text(f"DELETE FROM {self._quoted(engine)} "
                                     f"WHERE {PARTITION} = :p"), {"p": part.index})
                frame.to_sql(name, conn, schema=owner, index=False, if_exists="append",
                             chunksize=10_000, method="multi")
        finally:
            engine.dispose()

    def problems(self, parts: list[Partition]) -> list[str]:
        import sqlalchemy as sa

        engine = self._engine()
        try:
            with engine.connect() as conn:
                got = {row[0]: row[1:] for row in conn.execute(sa.text(
                    f"SELECT {PARTITION}, count(*), count(DISTINCT {ROW}), min({ROW}), "
                    f"max({ROW}) FROM {self._quoted(engine)} GROUP BY {PARTITION}"))}
        finally:
            engine.dispose()
        planned = {p.index for p in parts}
        wrong = [f"partition {i}: not one of the planned partitions"
                 for i in sorted(set(got) - planned)]
        for part in parts:
            if part.index not in got:
                wrong.append(f"{part.name}: missing")
                continue
            count, distinct, low, high = got[part.index]
            if (count, distinct, low, high) != (part.rows, part.rows, part.first_row,
                                                part.first_row + part.rows - 1):
                wrong.append(f"{part.name}: {count} rows ({distinct} distinct) over rows "
                             f"{low}..{high}, expected {part.rows} over {part.first_row}.."
                             f"{part.first_row + part.rows - 1}")
        return wrong

    def finish(self, summary: dict) -> None:
        """Nothing to add: the table is the result."""

    def _parts(self) -> tuple[str | None, str]:
        owner, _, name = self.table.rpartition(".")
        return owner or None, name

    def _quoted(self, engine) -> str:
        quote = engine.dialect.identifier_preparer.quote
        owner, name = self._parts()
        return f"{quote(owner)}.{quote(name)}" if owner else quote(name)

    def _engine(self):
        import sqlalchemy as sa

        url = sa.engine.make_url(self.url)
        args = {"connect_timeout": 10} if url.drivername.startswith("postgresql") else {}
        return sa.create_engine(url, connect_args=args)


def _compare(part: Partition, rows: np.ndarray) -> list[str]:
    expected = np.arange(part.first_row, part.first_row + part.rows)
    if len(rows) == part.rows and np.array_equal(np.sort(rows), expected):
        return []
    distinct = len(np.unique(rows))
    return [f"{part.name}: {len(rows)} rows ({distinct} distinct), expected rows "
            f"{part.first_row}..{part.first_row + part.rows - 1} once each"]


def _shown(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@")[-1]
