"""Looking at the data before any model: extract, derive the label, profile, and
write the profile as its own HTML report (a run's report holds the same section)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard import data, profile, report
from shipyard.errors import DataError
from shipyard.lifecycle.gather import labelled, profile_rows
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.workspace import Workspace


@dataclass(frozen=True)
class Explored:
    profile: profile.Profile
    report: Path


def profile_project(project: Project, progress: Report = silent) -> Explored:
    """The profile of the project's rows (no snapshot is kept, nothing is logged)."""
    if project.target is None:
        raise DataError(f"Project '{project.name}' has no target: a profile describes "
                        "features against a target",
                        hint="name the column to predict as `target:`")
    table = data.extract(project, lambda n: progress("Extracting rows", n, None))
    progress("Extracting rows", table.num_rows, table.num_rows)
    found = profile_rows(project, labelled(project, table), progress)
    text = report.render(f"{project.name}: data profile", [profile.section(found)],
                         subtitle=f"{found.n_rows:,} rows from the project's query",
                         facts={"rows": f"{found.n_rows:,}", "columns": str(found.n_columns),
                                "findings": str(len(found.findings))})
    path = report.write(Workspace.of(project).create().reports / "profile.html", text)
    return Explored(found, path)
