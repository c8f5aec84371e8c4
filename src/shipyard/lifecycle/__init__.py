"""One run of the life cycle, from the project file to the registry:

extract -> snapshot -> profile -> prepare -> train -> evaluate -> gates ->
report -> register.

Everything is recorded in one MLflow run. A model is registered (and becomes
the champion) only when every gate passes; a run that fails at any step
leaves the registry as it was.

A retraining cycle runs the same project file as a :class:`Challenge`: on rows
it has already extracted, with its own holdout (recent data), warm-started
from the champion's parameters; the champion is scored on the same holdout
rows, and a model that passes its gates is registered as the ``challenger``.
Whether it replaces the champion is the cycle's decision, not the run's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard import evaluate, gates, prepare, registry, report, train
from shipyard.card import LoadedModel, ModelCard
from shipyard.data import Snapshot
from shipyard.errors import DataError
from shipyard.lifecycle.gather import evaluate_held, gather
from shipyard.lifecycle.record import lineage, log_results, page
from shipyard.monitor import reference as monitor_reference
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.workspace import Workspace

__all__ = ["Challenge", "RunOutcome", "Split", "run_project"]

log = logging.getLogger("shipyard.lifecycle")
_FAST_SAMPLE_ROWS = 2_000  # holdout rows on which the ONNX form must agree with the pipeline


# (training rows, holdout rows, which holdout rows are scored: None for all) of a Dataset
Split = Callable[[prepare.Dataset], tuple[np.ndarray, np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class Challenge:
    """What a retraining cycle changes in a run of the project file."""

    table: pa.Table  # the fresh rows, already extracted
    split: Split  # the holdout on which the champion and the challenger are compared
    champion: LoadedModel  # scored on the same holdout rows
    warm: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> parameters


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    workspace: Workspace
    snapshot: Snapshot
    card: ModelCard
    training: train.TrainResult
    evaluation: evaluate.Evaluation
    gates: list[gates.GateResult]
    report: Path
    version: str | None  # the registered version; None when a gate failed
    champion: evaluate.Evaluation | None = None  # a Challenge's champion, on the same rows

    @property
    def passed(self) -> bool:
        return gates.passed(self.gates)


def run_project(project: Project, progress: Report = silent,
                challenge: Challenge | None = None) -> RunOutcome:
    """One run; with a ``challenge``, a challenger's run (registered, when it passes
    its gates, as the ``challenger``: the champion stays)."""
    ws = Workspace.of(project).create()
    with registry.open_run(ws, project.tracking.experiment or project.name,
                           run_name="challenger" if challenge else None) as run:
        run.set_tags(lineage(project) | _parentage(challenge))
        got = gather(project, ws, run, progress, challenge)
        rival = _score_champion(project, got, challenge.champion) if challenge else None
        result = train.train(got.fit, prepare.steps(got.fit, project), project, progress,
                             warm=challenge.warm if challenge else None)
        ev = evaluate_held(project, got, result, progress)
        verdicts = gates.check(project, ev.metrics)
        ds = got.ds
        card = ModelCard(name=project.name, task=project.task, target=project.target,
                         schema=ds.schema, classes=ds.classes, positive_class=ds.positive,
                         threshold=result.threshold, entity=project.entity,
                         estimator=result.best.name, metrics=ev.metrics)
        log_results(run, project, result, ev, verdicts, len(got.fit), len(got.held))
        if rival is not None:
            run.log_metrics({f"champion_holdout_{k}": v for k, v in rival.metrics.items()})
        run.log_model(result.model, card, got.held.X.head(5), registry.requirements())
        run.log_reference(_reference(project, result.model, card, got).to_files())

        text = page(project, run.id, got.snapshot, got.profile, ds, result, ev, verdicts, rival)
        path = report.write(ws.reports / f"{run.id}.html", text)
        run.log_file(path)

        version = None
        if gates.passed(verdicts):
            run.log_fast(*_fast_form(project, result.model, card, got.held.X))
            version = registry.register(ws, project.name, run, promote=challenge is None)
        run.set_tags({"shipyard.gates": "passed" if version else "failed",
                      "shipyard.registered_version": version or "none"})
    return RunOutcome(run.id, ws, got.snapshot, card.with_version(version) if version else card,
                      result, ev, verdicts, path, version, rival)


def _parentage(challenge: Challenge | None) -> dict[str, str]:
    if challenge is None:
        return {"shipyard.kind": "run"}
    card = challenge.champion.card
    return {"shipyard.kind": "challenger", "shipyard.parent": str(card.version),
            "shipyard.parent_run": card.run_id or ""}


def _score_champion(project: Project, got, champion: LoadedModel) -> evaluate.Evaluation:
    """The champion on the challenger's holdout rows, read through its own schema."""
    card = champion.card
    try:
        X = card.schema.model_frame(got.held_rows)
        return evaluate.evaluate(champion.pipeline, X, got.held.y, task=project.task,
                                 positive=card.positive_class, threshold=card.threshold,
                                 seed=project.seed, scored=got.held.scored)
    except Exception as exc:  # a column it needs is gone, a class it never saw...
        raise DataError(f"The champion (version {card.version}) cannot score the recent "
                        "holdout, so it cannot be compared with a challenger",
                        details=[f"{type(exc).__name__}: {str(exc)[:300]}"],
                        hint="promote a version by hand (`shipyard promote VERSION`)") from exc


def _fast_form(project: Project, model, card: ModelCard,
               X: pd.DataFrame) -> tuple[bytes | None, str]:
    """The pipeline compiled to ONNX and checked against it on holdout rows, or None
    and the reason. Never fails the run: without it the pipeline serves as it is."""
    if not project.serve.fast_path:
        return None, "the fast path is off (serve.fast_path: false)"
    # Imported here: the ONNX tool chain is slow to import and only needed now.
    from shipyard.serve.fast import NotCompilable, compile_pipeline

    sample = X.head(_FAST_SAMPLE_ROWS)
    try:
        onnx = compile_pipeline(model, card, sample)
    except NotCompilable as exc:
        log.info("%s: no ONNX form, the Python pipeline will serve: %s", project.name, exc)
        return None, str(exc)
    except Exception as exc:  # a converter's bug must not cost a model that passed its gates
        log.warning("%s: compiling to ONNX failed; the Python pipeline will serve",
                    project.name, exc_info=True)
        return None, f"compiling to ONNX failed: {type(exc).__name__}: {exc}"
    log.info("%s: compiled to ONNX (%d bytes), agrees with the pipeline on %d holdout rows",
             project.name, len(onnx), len(sample))
    return onnx, ""


def _reference(project: Project, model, card: ModelCard, got) -> monitor_reference.Reference:
    """What monitoring judges live data by: training rows, and the holdout's rows with
    the model's outputs and the true labels (only the rows that are graded)."""
    held = got.held if got.held.scored is None else got.held.take(
        np.flatnonzero(got.held.scored))
    prediction, score = monitor_reference.outputs(model, held.X, card)
    return monitor_reference.build(got.fit.X, held.X, prediction, score,
                                   held.y if held.labelled else None, seed=project.seed)


