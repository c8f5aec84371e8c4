"""Fresh data for a challenger: the project's own query, cut to ``retrain.window``.

The window ends at the latest time in the source (not the wall clock): a source
that is loaded in batches, or a simulated one, still yields the last stretch of
its data. The query is wrapped, never edited::

    SELECT * FROM (<source.query>) AS q WHERE q."<time>" >= <since>

``since`` is rendered from a typed value the source itself returned (a
timestamp, a date or a number; text only as re-formatted timestamps), quoted
by the rules every SQL dialect shares, so nothing of it comes from a person.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyarrow as pa

from shipyard import data
from shipyard.data.sources import read
from shipyard.errors import DataError
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.spec.monitoring import delta, seconds


def extract(project: Project, progress: Report = silent) -> tuple[pa.Table, str | None]:
    """The rows a challenger learns from, and the window's start as text (None:
    every row, when there is no ``retrain.window`` or no time column)."""
    window, time = project.retrain.window, project.time
    if window is None or time is None:
        return _extract(project, progress), None
    query = project.source.query.strip().rstrip(";")
    column = '"' + time.replace('"', '""') + '"'
    probe = project.source.model_copy(
        update={"query": f"SELECT max(q.{column}) AS latest FROM ({query}) AS q"})
    latest = read(probe, project.root).column(0)[0].as_py()
    if latest is None:
        raise DataError(f"The query returns no row with a value in its time column '{time}'",
                        hint="check source.query: the retraining window is measured on it")
    since = _since(latest, window)
    windowed = project.model_copy(update={"source": project.source.model_copy(update={
        "query": f"SELECT * FROM ({query}) AS q WHERE q.{column} >= {_literal(since)}"})})
    return _extract(windowed, progress), str(since)


def _extract(project: Project, progress: Report) -> pa.Table:
    table = data.extract(project, lambda rows: progress("Extracting rows", rows, None))
    progress("Extracting rows", table.num_rows, table.num_rows)
    return table


def _since(latest, window: str):
    """``latest`` minus the window, in the same type."""
    if isinstance(latest, dt.datetime):
        return latest - delta(window)
    if isinstance(latest, dt.date):
        return latest - dt.timedelta(days=math.ceil(seconds(window) / 86400))
    if isinstance(latest, int | float) and not isinstance(latest, bool):
        return latest - seconds(window)  # a number of seconds (an epoch time)
    if isinstance(latest, str):  # SQLite keeps times as text: compare in the same format
        try:
            start = pd.Timestamp(latest) - pd.Timedelta(seconds=seconds(window))
        except ValueError as exc:
            raise DataError(f"Cannot read the latest time {latest!r} as a timestamp",
                            hint="cast the time column to a timestamp in source.query") from exc
        if len(latest) == 10:
            return start.strftime("%Y-%m-%d")
        return start.isoformat(sep="T" if "T" in latest else " ")
    raise DataError(f"The time column's values ({type(latest).__name__}) cannot be windowed",
                    hint="use a timestamp, date or epoch-seconds time column, or drop "
                         "retrain.window")


def _literal(value) -> str:
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"
