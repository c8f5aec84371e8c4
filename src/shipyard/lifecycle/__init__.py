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
import pyarrow as pa

from shipyard import compute, evaluate, gates, prepare, registry, report, train
from shipyard.card import LoadedModel, ModelCard
from shipyard.data import Snapshot
from shipyard.errors import DataError, RegistryError, SpecError
from shipyard.lifecycle import challenger
from shipyard.lifecycle.fair import Fairness, assess
from shipyard.lifecycle.gather import evaluate_held, gather
from shipyard.lifecycle.lineage import log_project
from shipyard.lifecycle.lineage import tags as lineage_tags
from shipyard.lifecycle.record import log_results, page, run_tags, version_tags
from shipyard.metrics import REGRESSION
from shipyard.monitor import reference as monitor_reference
from shipyard.prepare.series import series_step
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.train import series_choice
from shipyard.workspace import Workspace

__all__ = ["Challenge", "Replay", "RunOutcome", "Split", "run_project"]

log = logging.getLogger("shipyard.lifecycle")


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
class Replay:
    """A run reproduced: the rows of an earlier run's snapshot instead of an extraction,
    the project's usual split, and nothing registered."""

    table: pa.Table
    of_run: str
    test_table: pa.Table | None = None  # the rows of source.test_query, when the project has one


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
    champion: evaluate.Evaluation | None = None  # the champion, on the same rows
    fairness: Fairness | None = None

    @property
    def passed(self) -> bool:
        return gates.passed(self.gates)


def run_project(project: Project, progress: Report = silent,
                challenge: Challenge | None = None, replay: Replay | None = None,
                overrides: list[gates.Override] | None = None) -> RunOutcome:
    """One run; with a ``challenge``, a challenger's run (registered, when it passes
    its gates, as the ``challenger``: the champion stays); with a ``replay``, an
    earlier run again on its snapshot's rows (never registered). ``overrides`` let
    failed blocking gates through; their reasons are recorded with the version."""
    overrides = overrides or []
    _check_overrides(project, overrides)
    ws = Workspace.of(project)
    registry.reach(ws)  # a tracking server that is not there: said before any folder is made
    ws = ws.create()
    name = "reproduction" if replay else ("challenger" if challenge else None)
    # The cluster first: one that cannot be reached stops the run before any work.
    with compute.connect(project.compute) as client, \
            registry.open_run(ws, project.tracking.experiment or project.name,
                              run_name=name) as run:
        run.set_tags(lineage_tags(project) | _parentage(ws, challenge, replay))
        log_project(run, project)
        if challenge is not None:  # what a reproduction replays the cycle from
            run.log_json(challenger.WARM_FILE, challenge.warm)
        got = gather(project, ws, run, progress, challenge, replay, overrides)
        if challenge is not None:
            rival = _score_champion(project, got, challenge.champion)
            rival_version = str(challenge.champion.card.version)
        else:
            rival, rival_version = _champion_for_gates(project, ws, got, replay)
        chosen = _series_settings(project, got, challenge, progress)
        if chosen is not None:  # from here on, as if the file had written them
            project = series_choice.with_choice(project, chosen)
        result = train.train(got.fit, prepare.steps(got.fit, project), project, progress,
                             warm=challenge.warm if challenge else None, client=client,
                             chosen=chosen)
        ev = evaluate_held(project, got, result, progress)
        importance = ev.importance  # of the model as tuned; weighs drift's features
        model, threshold, fair = result.model, result.threshold, None
        if project.gates.fairness is not None:
            fair = assess(project, got, model, ev, threshold, progress)
            model, threshold, ev = fair.model, fair.threshold, fair.evaluation
        verdicts = gates.apply(
            got.early + (fair.results if fair else []) + gates.check_quality(
                project, ev.metrics, baseline=ev.baseline_metrics,
                champion=rival.metrics if rival else None,
                champion_version=rival_version,
                findings=result.findings), overrides)
        ds = got.ds
        card = ModelCard(name=project.name, task=project.task, target=project.target,
                         schema=ds.schema, classes=ds.classes, positive_class=ds.positive,
                         threshold=threshold, entity=project.entity,
                         estimator=result.best.name + (f"+{fair.method}" if fair and fair.method
                                                       else ""),
                         metrics=ev.metrics, private=tuple(got.unlogged))
        log_results(run, project, result, ev, verdicts, len(got.fit), len(got.held))
        if fair is not None:
            run.log_json("fairness.json", fair.to_dict())
        if rival is not None:
            run.log_metrics({f"champion_holdout_{k}": v for k, v in rival.metrics.items()})
        run.log_model(model, card, got.held_rows, registry.requirements())
        run.log_reference(_reference(project, model, card, got, importance).to_files())

        text = page(project, run.id, got.snapshot, got.profile, ds, result, ev, verdicts, rival,
                    fair)
        path = report.write(ws.reports / f"{run.id}.html", text)
        run.log_file(path)

        version = None
        if gates.passed(verdicts) and replay is None:
            run.log_fast(*_fast_form(project, run, model, card, got.held))
            version = registry.register(ws, project.name, run, promote=challenge is None,
                                        tags=version_tags(verdicts, overrides))
        run.set_tags(run_tags(verdicts) | {"shipyard.registered_version": version or "none"})
    return RunOutcome(run.id, ws, got.snapshot, card.with_version(version) if version else card,
                      result, ev, verdicts, path, version, rival, fair)


def _series_settings(project: Project, got, challenge: Challenge | None,
                     progress: Report) -> series_choice.Choice | None:
    """The series settings the project leaves to ``auto``: a challenger keeps its
    champion's, a run chooses them by cross-validation on its training rows."""
    series = project.prepare.series
    if series is None or not series.chosen:
        return None
    step = series_step(challenge.champion.pipeline) if challenge is not None else None
    if step is not None:
        return series_choice.kept(project, step, str(challenge.champion.card.version))
    return series_choice.choose(got.fit, project, progress)


def _check_overrides(project: Project, overrides: list[gates.Override]) -> None:
    declared = gates.declared(project)
    for o in overrides:
        kind = o.gate.split(".", 1)[0]
        if kind not in declared:
            raise SpecError(f"--override {o.gate}: the project file declares no {kind} gate",
                            hint=f"the gates it declares: {', '.join(sorted(declared))}")


def _champion_for_gates(project: Project, ws: Workspace, got, replay: Replay | None
                        ) -> tuple[evaluate.Evaluation | None, str | None]:
    """The champion scored on this run's holdout, when a quality gate compares with
    it, and its version. A reproduction compares with nothing: the champion has moved
    on since the run it reproduces."""
    if replay is not None or not any(g.vs == "champion" for g in project.gates.quality):
        return None, None
    try:
        champion = registry.load(ws, project.name)
    except RegistryError:
        return None, None  # no champion yet: the gate says so
    return _score_champion(project, got, champion), str(champion.card.version)


def _parentage(ws: Workspace, challenge: Challenge | None,
               replay: Replay | None) -> dict[str, str]:
    if replay is not None:
        return {"shipyard.kind": "reproduce", "shipyard.reproduces": replay.of_run}
    if challenge is None:
        return {"shipyard.kind": "run"}
    card = challenge.champion.card
    # the parent's artifact exactly: its warm start and its series settings come from it
    return {"shipyard.kind": "challenger", "shipyard.parent": str(card.version),
            "shipyard.parent_run": card.run_id or "",
            "shipyard.parent_digest": registry.version_digest(ws, card.name, card.version)}


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


def _fast_form(project: Project, run, model, card: ModelCard,
               held) -> tuple[bytes | None, str]:
    """The pipeline compiled to ONNX and checked against it on every holdout row, or
    None and the reason. Never fails the run: without it the pipeline serves as it is."""
    if not project.serve.fast_path:
        return None, "the fast path is off (serve.fast_path: false)"
    # Imported here: the ONNX tool chain is slow to import and only needed now.
    from shipyard.serve.compiler import NotCompilable, compile_pipeline, listing

    scale = None
    if project.task == REGRESSION and held.labelled:
        y = np.asarray(held.y, dtype=np.float64)
        scale = float(np.nanstd(y)) if np.isfinite(y).any() else None
    try:
        compiled = compile_pipeline(model, card, held.X, scale=scale)
    except NotCompilable as exc:
        log.info("%s: no ONNX form, the Python pipeline will serve: %s", project.name, exc)
        onnx, note = None, str(exc)
    except Exception as exc:  # a converter's bug must not cost a model that passed its gates
        log.warning("%s: compiling to ONNX failed; the Python pipeline will serve",
                    project.name, exc_info=True)
        onnx, note = None, f"compiling to ONNX failed: {type(exc).__name__}: {exc}"
    else:
        onnx, note = compiled.onnx, ""
        log.info("%s: compiled to ONNX (%d bytes), agrees with the pipeline: %s", project.name,
                 len(onnx), compiled.describe())
        run.set_tags({"shipyard.fast_agreement": compiled.describe()})
    for step in listing(model, onnx is not None):
        log.info("%s:   %-40s %-28s %s", project.name, step["step"], step["kind"], step["runs"])
    return onnx, note


def _reference(project: Project, model, card: ModelCard, got,
               importance) -> monitor_reference.Reference:
    """What monitoring judges live data by: training rows, the holdout's rows with
    the model's outputs and the true labels (only the rows that are graded), and the
    inputs' importance."""
    held = got.held if got.held.scored is None else got.held.take(
        np.flatnonzero(got.held.scored))
    prediction, score = monitor_reference.outputs(model, held.X, card)
    return monitor_reference.build(got.fit.X, held.X, prediction, score,
                                   held.y if held.labelled else None, seed=project.seed,
                                   importance=importance)


