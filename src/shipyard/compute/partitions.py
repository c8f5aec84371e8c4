"""The input of a batch scoring job cut into partitions: row ranges of Parquet files.

A partition is a slice of one file (``rows`` rows from row ``start``), numbered in
file order, so the whole input is covered once and the global row number of each row
(``first_row`` + its place in the slice) is known before any work runs. Reading a
partition touches only the row groups it overlaps and only the columns asked for,
batch by batch: memory is bounded by the partition, never by the file.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.errors import DataError, SourceError

PARTITION_ROWS = 200_000  # about 100 MB of scoring frames for the demo's ~25 columns
_BATCH = 65_536


@dataclass(frozen=True)
class Partition:
    index: int
    path: str  # an absolute path the workers can read too
    start: int  # first row of the slice within the file
    rows: int
    first_row: int  # the global row number of the slice's first row

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


def expand(patterns: Iterable[str | Path]) -> list[Path]:
    """Files named by paths or glob patterns, sorted within each pattern; a pattern
    that matches nothing is an error naming it."""
    files: list[Path] = []
    for pattern in patterns:
        text = str(Path(pattern).expanduser())
        found = sorted(glob.glob(text)) if glob.has_magic(text) else \
            ([text] if Path(text).is_file() else [])
        if not found:
            raise SourceError(f"No input file at {text}",
                              hint="check the path or the glob pattern given with --input")
        files.extend(Path(f).resolve() for f in found)
    return list(dict.fromkeys(files))  # a file named twice is still scored once


def columns_of(files: list[Path]) -> dict[Path, list[str]]:
    """Each file's column names, from its footer (no data is read)."""
    out = {}
    for path in files:
        try:
            out[path] = pq.read_schema(path).names
        except (OSError, pa.ArrowInvalid) as exc:
            raise SourceError(f"Cannot read {path} as Parquet",
                              details=[str(exc)[:300]]) from exc
    return out


def plan(files: list[Path], partition_rows: int = PARTITION_ROWS) -> list[Partition]:
    """Slices of at most ``partition_rows`` rows covering every row of ``files`` once."""
    if partition_rows < 1:
        raise ValueError("partition_rows must be at least 1")
    parts: list[Partition] = []
    total = 0
    for path in files:
        n = pq.ParquetFile(path).metadata.num_rows
        for start in range(0, n, partition_rows):
            rows = min(partition_rows, n - start)
            parts.append(Partition(len(parts), str(path), start, rows, total + start))
        total += n
    if not parts:
        raise DataError("The input has no rows", details=[str(f) for f in files])
    return parts


def read(part: Partition, columns: list[str]) -> pa.Table:
    """The partition's rows, only ``columns``."""
    source = pq.ParquetFile(part.path)
    meta = source.metadata
    groups, offset, skip = [], 0, None
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if offset + n > part.start and offset < part.start + part.rows:
            groups.append(g)
            skip = part.start - offset if skip is None else skip
        offset += n
    batches, have = [], -(skip or 0)
    for batch in source.iter_batches(batch_size=_BATCH, row_groups=groups, columns=columns):
        begin = max(0, -have)
        end = min(batch.num_rows, part.rows - have)
        if end > begin:
            batches.append(batch.slice(begin, end - begin))
        have += batch.num_rows
        if have >= part.rows:
            break
    table = pa.Table.from_batches(batches) if batches else None
    if table is None or table.num_rows != part.rows:  # the file changed since the plan was made
        raise DataError(f"{part.path} no longer has the rows planned for {part.name}",
                        details=[f"expected {part.rows} rows from row {part.start}, "
                                 f"read {0 if table is None else table.num_rows}"],
                        hint="do not change the input files while they are scored")
    return table
