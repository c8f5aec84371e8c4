"""Choosing and fitting the model.

Every candidate in the project file is cross-validated on the training rows
(tuned first when it has a search space); the best by the primary metric is
refit on all training rows inside a pipeline with the preparation steps, so
the result takes raw rows. Boosting models stop early on each fold's
validation rows and the refit runs the iterations the folds kept; a binary
model's decision threshold can be tuned on the out-of-fold probabilities.
An anomaly detector is chosen the same way when the data has labels; its
threshold on the anomaly score is tuned likewise, or is the detector's own.
Without labels nothing can be scored: the first model listed is fitted.
The holdout is never seen here.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from shipyard import catalogue
from shipyard.metrics import ANOMALY, BINARY, METRICS, Metric, own_threshold
from shipyard.prepare import Dataset, series
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.train import search, splits
from shipyard.train.curves import Curve, SizeCurve, iterations_param, learning_curve
from shipyard.train.cv import Candidate, Maker, cross_validate, failures_named, make_pipeline
from shipyard.train.series_choice import Choice
from shipyard.train.splits import holdout
from shipyard.train.spread import Spread

__all__ = ["Candidate", "Choice", "Curve", "SizeCurve", "TrainResult", "holdout",
           "make_pipeline", "train"]


@dataclass(frozen=True)
class TrainResult:
    model: Any  # the best candidate refit on every training row; takes raw rows
    best: Candidate
    candidates: list[Candidate]
    metric: str
    threshold: float | None = None  # the tuned binary decision threshold, if any;
    # anomaly: the score from which a row is flagged (tuned, or the detector's own)
    size_curve: SizeCurve | None = None  # learning curve of a non-boosting winner
    findings: list[dict] = field(default_factory=list)  # e.g. overfitting, as records
    series: Choice | None = None  # how the series settings left to ``auto`` were chosen


def train(ds: Dataset, steps: list, project: Project, progress: Report = silent,
          warm: dict[str, dict[str, Any]] | None = None, client=None,
          chosen: Choice | None = None) -> TrainResult:
    """``steps`` are the unfitted preparation steps (name, transformer or sampler)
    that go before the model in every pipeline. ``warm`` maps a model's name to
    parameters to start from (a champion's): tuning tries them first; a model
    without a search space takes them, under the project file's own ``params``.
    ``client`` (a ``distributed.Client``) spreads cross-validation over a Dask
    cluster's workers: tuning trials when ``tuning.batch`` is above 1, else each
    trial's folds; the results are the same as without it. ``chosen`` is how the
    steps' series settings were chosen (:func:`.series_choice.choose`), kept with
    the result for the report."""
    metric = METRICS[project.primary_metric]
    weighted = project.prepare.imbalance.method == "class_weight"
    patience = project.tuning.early_stopping

    def maker(name):
        return Maker(steps, name, project.task, project.seed, weighted)

    if not ds.labelled:
        return _unlabelled(ds, project, maker, metric, progress)
    folds = list(splits.folds(ds, project.split_strategy, project.split.folds, project.seed))
    candidates = []
    # each trial transforms the same folds with the same series step: done once
    with series.memo(), (Spread(client, ds, folds) if client is not None
                         else nullcontext()) as spread:
        for spec in project.models:
            make = maker(spec.name)
            fit = spread.fold_fitter(make, project.task, metric.name, patience) if spread else None

            def score(params, on_fold=None, name=spec.name, make=make, fit=fit, quiet=False):
                report = None if quiet else (
                    lambda done, total: progress(f"Cross-validating {name}", done, total))
                return cross_validate(ds, folds, make, name, params, project.task, metric.name,
                                      patience, on_fold=on_fold, progress=report,
                                      workers=_workers(len(folds)), fit=fit)

            space, fixed = _space(spec, project.task, patience)
            # A default search starts from the catalogue's own defaults, a setting
            # known to be sound, as far as they lie in the space.
            start = (warm or {}).get(spec.name) or \
                (catalogue.default_params(spec.name, project.task)
                 if spec.search == "auto" else {})
            if space:
                batch = (spread.trial_scorer(make, project.task, metric.name, patience)
                         if spread else None)
                candidates.append(search.tune(spec.name, fixed, space,
                                              lambda p, f: score(p, f, quiet=True), metric,
                                              project.tuning, project.seed, progress, start,
                                              score_batch=batch))
            else:
                candidates.append(score({**start, **spec.params}))
    best = _best(candidates, metric)
    model = _refit(maker(best.name), best, ds, progress)
    threshold = None
    if project.task == ANOMALY:
        from shipyard.prepare import threshold as thresholds

        threshold = (thresholds.choose(ds.y, best.oof, True, project.prepare.threshold)
                     if project.prepare.threshold.objective != "none" else own_threshold(model))
    elif project.task == BINARY and project.prepare.threshold.objective != "none":
        from shipyard.prepare import threshold as thresholds

        threshold = thresholds.choose(ds.y, best.oof, ds.positive, project.prepare.threshold)
        model = thresholds.apply(model, threshold)
    size_curve = None
    # not for anomalies: a small share of the training rows may hold none of them
    if not best.curves and project.evaluate.learning_curves and project.task != ANOMALY:
        progress("Learning curve", 0, 1)
        size_curve = learning_curve(lambda: maker(best.name)(best.params), ds, folds,
                                    project.task, metric.name, ds.positive, seed=project.seed)
        progress("Learning curve", 1, 1)
    return TrainResult(model, best, candidates, metric.name, threshold, size_curve,
                       _findings(best, metric, size_curve), chosen)


def _unlabelled(ds: Dataset, project: Project, maker, metric: Metric,
                progress: Report) -> TrainResult:
    """An anomaly task without labels: no score can choose between models or
    settings, so the first model listed is fitted as written; it flags rows by its
    own threshold."""
    spec = project.models[0]
    best = Candidate(spec.name, dict(spec.params), {}, 0.0)
    model = _refit(maker(spec.name), best, ds, progress)
    return TrainResult(model, best, [best], metric.name, own_threshold(model))


def _workers(folds: int) -> int:
    """Folds fitted at once: one per core, as far as there are folds."""
    return max(1, min(folds, os.cpu_count() or 1))


def _space(spec, task: str, patience: int | None) -> tuple[dict, dict]:
    """The search space of a candidate and its fixed parameters. In the default
    space of a boosting model with early stopping on, the number of trees is not
    searched: it is the space's top, and each fold stops where it is best."""
    if spec.search != "auto":
        return dict(spec.search), dict(spec.params)
    from shipyard.spec import Range

    space = catalogue.default_space(spec.name, task)
    fixed = dict(spec.params)
    trees = "n_estimators"
    if patience is not None and trees in space and trees not in fixed and \
            iterations_param(catalogue.make_estimator(spec.name, task, {}, 0)) == trees:
        fixed[trees] = space.pop(trees)["high"]
    # Parameters the project file fixes are not searched.
    return {k: (v if isinstance(v, list) else Range.model_validate(v))
            for k, v in space.items() if k not in fixed}, fixed


def _refit(make, best: Candidate, ds: Dataset, progress: Report):
    params = dict(best.params)
    pipe = make(params)
    key = iterations_param(pipe.steps[-1][1])
    if key and best.best_iterations:
        pipe = make({**params, key: best.best_iterations})
    step = f"Refitting {best.name}"
    progress(step, 0, 1)
    with failures_named(best.name):
        pipe.fit(ds.X, ds.y)
    progress(step, 1, 1)
    return pipe


def _best(candidates: list[Candidate], metric: Metric) -> Candidate:
    best = candidates[0]
    for candidate in candidates[1:]:
        if metric.better(candidate.mean(metric.name), best.mean(metric.name)):
            best = candidate
    return best


def _findings(best: Candidate, metric: Metric, size_curve: SizeCurve | None) -> list[dict]:
    """Overfitting: a large gap between training and validation scores, or a
    validation loss that turned up while the training loss kept falling."""
    out = []
    if best.train_scores:
        train = sum(best.train_scores) / len(best.train_scores)
        valid = best.mean(metric.name)
        gap = (valid - train) / abs(valid) if not metric.greater_is_better and valid else \
            train - valid
        if (not metric.greater_is_better and gap > 0.3) or (metric.greater_is_better and
                                                             gap > 0.1):
            out.append({"kind": "overfitting", "severity": "warning", "value": gap,
                        "message": f"{best.name} scores {metric.title} {train:.4g} on its "
                                   f"training rows but {valid:.4g} on validation rows"})
    for curve in best.curves:
        low = min(curve.valid)
        if curve.valid[-1] > low * 1.02 and curve.best == len(curve.valid):
            out.append({"kind": "overfitting", "severity": "warning", "value": curve.valid[-1],
                        "message": f"validation {curve.metric} turned up after iteration "
                                   f"{curve.valid.index(low) + 1}; consider early stopping"})
            break
    return out
