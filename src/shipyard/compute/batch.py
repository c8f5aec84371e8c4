"""Batch scoring of a table too big for memory, in this process or on a Dask cluster.

The input (Parquet files, or a query staged into Parquet files once, see
:mod:`~shipyard.compute.staging`) is cut into row ranges (:mod:`~shipyard.compute.
partitions`); each is read, scored and written on its own (:mod:`~shipyard.compute.
writers`), so memory is bounded by a partition. On Dask the model is scattered to
every worker once, each partition is one task retried on failure, and a worker that
dies has its tasks (and results it had produced) rescheduled elsewhere; since a
partition's output replaces itself, a partition scored twice is still there once.
At the end every partition is checked to hold exactly its rows.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from shipyard.card import LoadedModel
from shipyard.compute import partitions
from shipyard.compute.partitions import PARTITION_ROWS, Partition
from shipyard.compute.scorer import Scorer
from shipyard.compute.staging import stage
from shipyard.compute.writers import ROW, ParquetOutput, TableOutput
from shipyard.errors import ComputeError, DataError, did_you_mean
from shipyard.progress import Report, silent

Output = ParquetOutput | TableOutput
RETRIES = 2  # a partition that fails is tried this many more times before giving up
STEP = "Scoring partitions"


@dataclass(frozen=True)
class Query:
    """SQL input: ``text`` run once on the database at ``url`` (relative SQLite and
    DuckDB paths start at ``root``)."""

    url: str
    text: str
    root: Path = Path(".")


@dataclass(frozen=True)
class ScoreResult:
    rows: int
    partitions: int
    output: str
    seconds: float
    where: str  # "in-process" or "Dask, N workers"


def score(model: LoadedModel | Scorer, source: Sequence[str | Path] | Query, output: Output, *,
          client=None, keys: Sequence[str] = (), partition_rows: int = PARTITION_ROWS,
          overwrite: bool = False, retries: int = RETRIES, staging: Path | None = None,
          progress: Report = silent) -> ScoreResult:
    """Score every row of ``source`` (Parquet paths or globs, or a :class:`Query`) with
    ``model`` and write ``keys`` (input columns kept to identify rows; those the input
    lacks are skipped), ``_row`` (the input's row number) and the prediction columns
    to ``output``. ``client``: a ``distributed.Client``, or None to work in this
    process. A SQL result is staged in ``staging`` (a temporary folder by default;
    on a remote cluster it must be a folder the workers can read). An output that
    exists is refused unless ``overwrite``. Raises ComputeError when a partition
    cannot be scored or the output does not hold each input row exactly once."""
    started = time.perf_counter()
    scorer = model if isinstance(model, Scorer) else Scorer.of(model)
    output.check_free(overwrite)
    folder = None
    try:
        if isinstance(source, Query):
            folder = Path(tempfile.mkdtemp(prefix="shipyard-staging-", dir=staging))
            files = stage(source.url, source.text, source.root, folder, scorer.inputs,
                          partition_rows, lambda n: progress("Reading the query", n, None))
        else:
            files = partitions.expand(source)
        keys = _checked(scorer, files, keys)
        parts = partitions.plan(files, partition_rows)
        sample = _score_rows(scorer, _head(parts[0], [*keys, *scorer.inputs]), keys)
        output.create(sample.schema, overwrite)
        progress(STEP, 0, len(parts))
        if client is None:
            where = "in-process"
            _in_process(scorer, parts, output, keys, retries, progress)
        else:
            where = f"Dask, {len(client.scheduler_info().get('workers', {}))} workers"
            _on_dask(client, scorer, parts, output, keys, retries, progress)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    wrong = output.problems(parts)
    if wrong:
        raise ComputeError(f"The scores in {output.describe()} do not hold each input row "
                           f"exactly once ({len(wrong)} partition(s) wrong)", details=wrong[:20],
                           hint="score again with --overwrite")
    rows = sum(p.rows for p in parts)
    result = ScoreResult(rows=rows, partitions=len(parts), output=output.describe(),
                         seconds=time.perf_counter() - started, where=where)
    output.finish({"rows": rows, "partitions": len(parts), "where": where,
                   "columns": sample.schema.names, "seconds": round(result.seconds, 3)})
    return result


def score_partition(scorer: Scorer, part: Partition, output: Output,
                    keys: Sequence[str]) -> int:
    """Read, score and write one partition (a Dask task); returns its row count."""
    columns = list(dict.fromkeys([*keys, *scorer.inputs]))
    output.write(part, _score_rows(scorer, partitions.read(part, columns), keys,
                                   part.first_row))
    return part.rows


def _score_rows(scorer: Scorer, table: pa.Table, keys: Sequence[str],
                first_row: int = 0) -> pa.Table:
    columns = {key: table.column(key) for key in keys}
    columns[ROW] = pa.array(np.arange(first_row, first_row + table.num_rows, dtype=np.int64))
    columns.update(scorer.predict(table))
    return pa.table(columns)


def _head(part: Partition, columns: list[str]) -> pa.Table:
    """A few rows of the first partition: scored to learn the output's columns."""
    few = Partition(part.index, part.path, part.start, min(part.rows, 20), part.first_row)
    return partitions.read(few, list(dict.fromkeys(columns)))


def _checked(scorer: Scorer, files: list[Path], keys: Sequence[str]) -> list[str]:
    """The keys every file has; a column the model needs that a file lacks is an error."""
    found = partitions.columns_of(files)
    for path, names in found.items():
        missing = [c for c in scorer.inputs if c not in names]
        if missing:
            raise DataError(f"{path} lacks {len(missing)} column(s) the model needs",
                            details=[f"'{c}' is missing{did_you_mean(c, names)}"
                                     for c in missing] + [f"it has: {', '.join(names)}"],
                            hint="score a table with the columns the model was trained on")
    return [k for k in dict.fromkeys(keys) if k != ROW and all(k in n for n in found.values())]


def _in_process(scorer, parts, output, keys, retries, progress) -> None:
    for done, part in enumerate(parts, start=1):
        for attempt in range(retries + 1):
            try:
                score_partition(scorer, part, output, keys)
                break
            except Exception as exc:  # any failure: retried, then named with its partition
                if attempt == retries:
                    raise _failed([(part, exc)], len(parts)) from exc
        progress(STEP, done, len(parts))


def _on_dask(client, scorer, parts, output, keys, retries, progress) -> None:
    from distributed import as_completed

    # Once to every worker, not once per task: a forest can weigh hundreds of MB.
    [model] = client.scatter([scorer], broadcast=True, hash=False)
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(score_partition, model, part, output, list(keys),
                             key=f"shipyard-score-{run}-{part.index:05d}", retries=retries,
                             pure=False): part for part in parts}
    failed = []
    for done, future in enumerate(as_completed(futures), start=1):
        if future.status == "error":
            failed.append((futures[future], future.exception()))
        progress(STEP, done, len(parts))
    for future in futures:
        future.release()
    if failed:
        raise _failed(failed, len(parts))


def _failed(failed: list, total: int) -> ComputeError:
    failed.sort(key=lambda item: item[0].index)
    return ComputeError(
        f"{len(failed)} of {total} partition(s) could not be scored",
        details=[f"{part.name} ({part.path}, rows {part.start}..{part.start + part.rows - 1}): "
                 f"{type(exc).__name__}: {str(exc)[:300]}" for part, exc in failed[:20]],
        hint="the other partitions were written; fix the cause and score again with "
             "--overwrite")
