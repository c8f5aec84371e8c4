"""Where a project's things live on disk.

By default everything sits in ``.shipyard/`` beside the project file::

    .shipyard/
      snapshots/<sha256>/      data.parquet + manifest.json, one per distinct extraction
      mlflow.db                MLflow tracking store and model registry (SQLite)
      artifacts/               MLflow artifact store (models, reports, plots)
      reports/<run-id>.html    the self-contained report of each run

Building a Workspace never touches the disk; :meth:`Workspace.create` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.spec import Project


@dataclass(frozen=True)
class Workspace:
    root: Path
    tracking_uri: str

    @classmethod
    def of(cls, project: Project) -> Workspace:
        root = project.resolve(project.workspace).resolve()
        uri = project.tracking.uri or f"sqlite:///{root / 'mlflow.db'}"
        return cls(root=root, tracking_uri=uri)

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def embedded_tracking(self) -> bool:
        """True when tracking uses the workspace's own SQLite store."""
        return self.tracking_uri.startswith("sqlite:///") and \
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent == self.root

    def create(self) -> Workspace:
        for folder in (self.root, self.snapshots, self.artifacts, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self
