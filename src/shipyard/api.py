"""Shipyard from Python, for notebooks: a layer as thin as the CLI over the same
stage functions. Every failure is the CLI's :class:`~shipyard.errors.ShipyardError`,
with the same headline.

>>> import shipyard
>>> project = shipyard.load("shipyard.yaml")
>>> run = project.run()            # extract, profile, train, evaluate, gate, register
>>> run.metrics["roc_auc"]
>>> run.report                     # the run's HTML report, shown inline in Jupyter
>>> project.champion().predict(frame)
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard import spec
from shipyard.card import LoadedModel, ModelCard
from shipyard.gates import GateResult
from shipyard.loop import Decision
from shipyard.profile import Finding
from shipyard.profile import Profile as DataProfile
from shipyard.workspace import Workspace

REPORT_HEIGHT_PX = 720


@dataclass(frozen=True)
class Report:
    """A self-contained HTML report on disk. Jupyter shows it inline, in a frame of
    its own, so its styles do not touch the notebook's."""

    path: Path

    @property
    def html(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        return (f'<iframe title="{html.escape(self.path.name)}" srcdoc="'
                f'{html.escape(self.html, quote=True)}" style="width: 100%; height: '
                f'{REPORT_HEIGHT_PX}px; border: 1px solid #ddd"></iframe>')

    def __repr__(self) -> str:
        return f"Report({str(self.path)!r})"


@dataclass(frozen=True)
class Run:
    """One ``shipyard run``: its id, holdout metrics (and a constant predictor's),
    gate verdicts, the registered version (None when a gate failed) and the report."""

    id: str
    version: str | None
    passed: bool
    estimator: str
    metrics: dict[str, float]
    baseline: dict[str, float]
    gates: list[GateResult]
    report: Report

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td>"
                       f"<td>{self.baseline.get(k, float('nan')):.4g}</td></tr>"
                       for k, v in self.metrics.items())
        verdict = f"registered as version {self.version}" if self.version else \
            "not registered: a gate failed"
        return (f"<p>Run <code>{self.id}</code>: {html.escape(self.estimator)}, "
                f"{verdict}. Report: <code>{html.escape(str(self.report.path))}</code></p>"
                f"<table><tr><th>metric</th><th>holdout</th><th>constant</th></tr>{rows}"
                "</table>")


@dataclass(frozen=True)
class Profile:
    """The data's profile: ``findings`` (most severe first), per-column statistics
    in ``details``, and the HTML report."""

    details: DataProfile
    report: Report

    @property
    def findings(self) -> list[Finding]:
        return self.details.findings

    def _repr_html_(self) -> str:
        return self.report._repr_html_()


@dataclass(frozen=True)
class Monitoring:
    """A monitoring pass over the logged predictions: ``result`` is the pass as
    saved (drift, data quality, live and estimated performance)."""

    result: dict[str, Any]
    notes: list[str]
    report: Report

    @property
    def drifted(self) -> list[str]:
        return list((self.result.get("drift") or {}).get("drifted") or [])

    def _repr_html_(self) -> str:
        return self.report._repr_html_()


@dataclass(frozen=True)
class Model:
    """A registered version: ``predict(frame)`` answers as the server does."""

    name: str
    version: str
    card: ModelCard
    pipeline: Any = field(repr=False)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per row of ``frame`` (columns the model does not take are
        ignored): ``prediction``, and ``probability`` (binary), ``score`` (anomaly)
        or ``probabilities.<class>`` (classification), as ``POST /predict`` answers."""
        from shipyard.serve.predict import frame_items

        answers = frame_items(self.pipeline, self.card, frame)
        return pd.json_normalize(answers).set_axis(frame.index)

class Project:
    """A project file, loaded and validated. Methods run the life cycle's stages."""

    def __init__(self, loaded: spec.Project):
        self.spec = loaded

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def workspace(self) -> Workspace:
        return Workspace.of(self.spec)

    def __repr__(self) -> str:
        return f"Project({self.name!r}, {self.spec.task}, file={str(self.spec.file)!r})"

    def validate(self) -> list[str]:
        """Run the query (its first rows) and check every column the file names is
        there; the columns it returns."""
        from shipyard.data import check_source

        return list(check_source(self.spec))

    def profile(self, progress: bool = True) -> Profile:
        """Extract and profile the rows (no model is trained, nothing is registered)."""
        from shipyard.lifecycle.explore import profile_project

        with _bars(progress) as bars:
            explored = profile_project(self.spec, bars)
        return Profile(explored.profile, Report(explored.report))

    def run(self, progress: bool = True) -> Run:
        """``shipyard run``: extract, profile, train, evaluate, gate and register. A
        failed gate is not an error here: ``run.passed`` is False and ``run.version``
        None (the CLI exits 1)."""
        from shipyard.lifecycle import run_project

        with _bars(progress) as bars:
            outcome = run_project(self.spec, bars)
        ev = outcome.evaluation
        return Run(id=outcome.run_id, version=outcome.version, passed=outcome.passed,
                   estimator=outcome.card.estimator, metrics=dict(ev.metrics),
                   baseline=dict(ev.baseline_metrics or {}), gates=list(outcome.gates),
                   report=Report(outcome.report))

    def champion(self) -> Model:
        """The registry's champion, its files checked against their digests."""
        return self.version("champion")

    def version(self, which: str | int) -> Model:
        """A registered version by number, or by alias (``champion``, ``previous``)."""
        from shipyard import registry

        ws = self.workspace
        loaded: LoadedModel = registry.load_version(ws, self.name, which) \
            if str(which).isdigit() else registry.load(ws, self.name, str(which))
        return Model(self.name, str(loaded.card.version), loaded.card, loaded.pipeline)

    def monitor(self, report: str | os.PathLike | None = None) -> Monitoring:
        """``shipyard monitor``: a pass over the latest logged predictions."""
        from shipyard.monitor import summary

        done = summary.monitor(self.spec, self.workspace,
                               Path(report) if report is not None else None)
        return Monitoring(done.result, list(done.notes), Report(done.report))

    def serve(self, port: int = 0):
        """The server ``shipyard serve`` runs (one worker), in this process's
        background, as a context manager; its ``url`` is where it listens (port 0:
        a free one). It follows the champion alias and logs what it answers.

        >>> with project.serve() as server:
        ...     httpx.post(f"{server.url}/predict", json=rows)
        """
        from shipyard.serve.background import BackgroundServer
        from shipyard.serve.worker import app_for

        return BackgroundServer(app_for(self.spec), port=port)

    def retrain(self, force: bool = False, progress: bool = True) -> Decision:
        """``shipyard retrain``: one cycle of the retraining policy; the decision
        says whether a challenger was trained and promoted."""
        from shipyard.loop import retrain

        with _bars(progress) as bars:
            return retrain(self.spec, force=force, progress=bars)


def load(path: str | os.PathLike = "shipyard.yaml") -> Project:
    """Read and validate a project file, as every command does first."""
    return Project(spec.load(Path(path)))


class _bars:
    """Rich progress bars on stderr (Jupyter shows them live), or none."""

    def __init__(self, show: bool):
        self.show = show

    def __enter__(self):
        from shipyard.progress import Bars, silent

        if not self.show:
            return silent
        from rich.console import Console

        self.bars = Bars(Console(stderr=True))
        return self.bars.__enter__()

    def __exit__(self, *exc) -> None:
        if self.show:
            self.bars.__exit__(*exc)
