"""Where a project's things live on disk.

By default everything sits in ``.shipyard/`` beside the project file::

    .shipyard/
      snapshots/<sha256>/      data.parquet + manifest.json, one per distinct extraction
      mlflow.db                MLflow tracking store and model registry (SQLite)
      artifacts/               MLflow artifact store (models, reports, plots)
      reports/<run-id>.html    the self-contained report of each run

With ``tracking: {uri: http://...}`` runs, models and the registry live on that
MLflow server instead (its artifacts too, uploaded through it); the workspace
keeps the snapshots and reports.

Building a Workspace never touches the disk; :meth:`Workspace.create` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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

    @property
    def remote_tracking(self) -> bool:
        """True when tracking goes to an MLflow server over HTTP(S)."""
        return urlsplit(self.tracking_uri).scheme in ("http", "https")

    def create(self) -> Workspace:
        # With a tracking server the artifacts live there: no empty local folder for them.
        local = () if self.remote_tracking else (self.artifacts,)
        for folder in (self.root, self.snapshots, *local, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self
