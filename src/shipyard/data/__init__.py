"""Getting the data: run the project's SQL against its source, check that the
result has what the project file names, and store it as a content-addressed
snapshot (once the rows are known to be usable, so that a failed run stores
nothing). ``fleet`` simulates the demo's airline fleet."""

from __future__ import annotations

import pyarrow as pa

from shipyard.data.snapshot import Snapshot, content_hash, open_snapshot, to_frame
from shipyard.data.sources import Progress, describe, read
from shipyard.errors import DataError, did_you_mean
from shipyard.spec import Project
from shipyard.workspace import Workspace

__all__ = ["Snapshot", "check_source", "content_hash", "extract", "open_snapshot",
           "required_columns", "store", "to_frame"]


def extract(project: Project, progress: Progress | None = None, test: bool = False) -> pa.Table:
    """Run the project's query (``source.test_query`` when ``test``); refuse a result
    that has no rows or lacks a column the project file names."""
    source = project.source
    if test:
        source = source.model_copy(update={"query": source.test_query})
    table = read(source, project.root, progress)
    _check(table.column_names, table.num_rows, project, test)
    return table


def store(table: pa.Table, project: Project, workspace: Workspace,
          test: bool = False) -> Snapshot:
    """Keep ``table`` as a snapshot in the workspace (once per distinct content)."""
    from shipyard.data import snapshot

    source = project.source
    if test:
        source = source.model_copy(update={"query": source.test_query})
    return snapshot.save(table, workspace.snapshots, describe(source))


def check_source(project: Project) -> list[str]:
    """Run the query for its columns only (wrapped in LIMIT 0) and check that every
    column the project names is among them; return the columns."""
    query = project.source.query.strip().rstrip(";")
    probe = project.source.model_copy(update={"query": f"SELECT * FROM ({query}) AS q LIMIT 0"})
    columns = read(probe, project.root).column_names
    _check(columns, None, project)
    if project.source.test_query:
        query = project.source.test_query.strip().rstrip(";")
        probe = project.source.model_copy(
            update={"query": f"SELECT * FROM ({query}) AS q LIMIT 0"})
        _check(read(probe, project.root).column_names, None, project, test=True)
    return columns


def required_columns(project: Project, test: bool = False) -> dict[str, str]:
    """Columns the project file names, each with the key that names it. A derived
    target (``label``) is made later, so the main query need not return it."""
    named = {} if (project.label and not test) or project.target is None else \
        {project.target: "target"}
    if project.label and project.label.event:
        named.setdefault(project.label.event, "label.event")
    if project.evaluate.segment:
        named.setdefault(project.evaluate.segment, "evaluate.segment")
    series = project.prepare.series
    if series is not None:
        for key in ("columns",):
            for i, col in enumerate(getattr(series, key) or []):
                named.setdefault(col, f"prepare.series.{key}[{i}]")
        if isinstance(series.regime, str) and series.regime != "auto":
            named.setdefault(series.regime, "prepare.series.regime")
        for i, col in enumerate(getattr(series.regime, "columns", None) or []):
            named.setdefault(col, f"prepare.series.regime.columns[{i}]")
    for key in ("entity", "time"):
        if getattr(project, key):
            named[getattr(project, key)] = key
    fair = project.gates.fairness
    for i, col in enumerate(fair.sensitive if fair else []):
        named.setdefault(col, f"gates.fairness.sensitive[{i}]")
    data_gate = project.gates.data
    for col, rule in (data_gate.columns.items() if data_gate else []):
        if rule.required:
            named.setdefault(col, f"gates.data.columns.{col}")
    for i, col in enumerate(project.features.include or []):
        named.setdefault(col, f"features.include[{i}]")
    for i, col in enumerate(project.features.exclude):
        named.setdefault(col, f"features.exclude[{i}]")
    return named


def _check(columns: list[str], rows: int | None, project: Project, test: bool = False) -> None:
    which = "source.test_query" if test else "The query"
    missing = [(col, key) for col, key in required_columns(project, test).items()
               if col not in columns]
    if missing:
        raise DataError(
            f"{which} does not return {len(missing)} column(s) that the project file names",
            details=[f"{key}: '{col}' is not in the result{did_you_mean(col, columns)}"
                     for col, key in missing] + [f"the query returns: {', '.join(columns)}"],
            hint="fix the column name in the project file, or select it in source.query")
    if rows == 0:
        query = project.source.test_query if test else project.source.query
        raise DataError(f"{which} returned no rows", details=[query.strip()[:500]],
                        hint="check the query's filters and that the source has data")
