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


def extract(project: Project, progress: Progress | None = None) -> pa.Table:
    """Run the project's query; refuse a result that has no rows or lacks a column
    the project file names."""
    table = read(project.source, project.root, progress)
    _check(table.column_names, table.num_rows, project)
    return table


def store(table: pa.Table, project: Project, workspace: Workspace) -> Snapshot:
    """Keep ``table`` as a snapshot in the workspace (once per distinct content)."""
    from shipyard.data import snapshot

    return snapshot.save(table, workspace.snapshots, describe(project.source))


def check_source(project: Project) -> list[str]:
    """Run the query for its columns only (wrapped in LIMIT 0) and check that every
    column the project names is among them; return the columns."""
    query = project.source.query.strip().rstrip(";")
    probe = project.source.model_copy(update={"query": f"SELECT * FROM ({query}) AS q LIMIT 0"})
    columns = read(probe, project.root).column_names
    _check(columns, None, project)
    return columns


def required_columns(project: Project) -> dict[str, str]:
    """Columns the project file names, each with the key that names it."""
    named = {project.target: "target"}
    for key in ("entity", "time"):
        if getattr(project, key):
            named[getattr(project, key)] = key
    for i, col in enumerate(project.features.include or []):
        named.setdefault(col, f"features.include[{i}]")
    for i, col in enumerate(project.features.exclude):
        named.setdefault(col, f"features.exclude[{i}]")
    return named


def _check(columns: list[str], rows: int | None, project: Project) -> None:
    missing = [(col, key) for col, key in required_columns(project).items() if col not in columns]
    if missing:
        raise DataError(
            f"The query does not return {len(missing)} column(s) that the project file names",
            details=[f"{key}: '{col}' is not in the result{did_you_mean(col, columns)}"
                     for col, key in missing] + [f"the query returns: {', '.join(columns)}"],
            hint="fix the column name in the project file, or select it in source.query")
    if rows == 0:
        raise DataError("The query returned no rows", details=[project.source.query.strip()[:500]],
                        hint="check the query's filters and that the source has data")
