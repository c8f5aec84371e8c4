"""Choosing and fitting the model.

Every candidate in the project file is cross-validated on the training rows
(tuned first when it has a search space); the best by the primary metric is
refit on all training rows inside a pipeline with the preprocessor, so the
result takes raw rows. The holdout is never seen here.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from shipyard import catalogue
from shipyard.errors import TrainError
from shipyard.metrics import METRICS, Metric, predicted, score_all
from shipyard.prepare import Dataset
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.train import search, splits
from shipyard.train.splits import holdout

__all__ = ["Candidate", "TrainError", "TrainResult", "holdout", "make_pipeline", "train"]


@dataclass(frozen=True)
class Candidate:
    name: str
    params: dict[str, Any]  # what the project file set or tuning chose; defaults not included
    scores: dict[str, list[float]]  # metric -> one value per fold
    seconds: float
    trials: int = 0  # tuning trials run; 0 when the parameters were fixed
    history: list[float] = field(default_factory=list)  # each trial's mean score

    def mean(self, metric: str) -> float:
        return float(np.mean(self.scores[metric]))

    def std(self, metric: str) -> float:
        return float(np.std(self.scores[metric]))


@dataclass(frozen=True)
class TrainResult:
    model: Pipeline  # the best candidate, refit on every training row
    best: Candidate
    candidates: list[Candidate]
    metric: str


def make_pipeline(preprocessor, name: str, task: str, params: dict, seed: int) -> Pipeline:
    estimator = catalogue.make_estimator(name, task, params, seed)
    return Pipeline([("prepare", clone(preprocessor)), ("model", estimator)])


def train(ds: Dataset, preprocessor, project: Project, progress: Report = silent) -> TrainResult:
    metric = METRICS[project.primary_metric]
    folds = list(splits.folds(ds, project.split_strategy, project.split.folds, project.seed))
    candidates = []
    for spec in project.models:
        def score(params, spec=spec, quiet=bool(spec.search)):
            return _cross_validate(ds, folds, preprocessor, project, spec.name, params,
                                   progress if not quiet else silent)
        if spec.search:
            candidates.append(search.tune(spec, score, metric, project.tuning, project.seed,
                                          progress))
        else:
            candidates.append(score(dict(spec.params)))
    best = _best(candidates, metric)
    progress(f"Refitting {best.name}", 0, 1)
    model = _fit(make_pipeline(preprocessor, best.name, project.task, best.params, project.seed),
                 ds, best.name)
    progress(f"Refitting {best.name}", 1, 1)
    return TrainResult(model, best, candidates, metric.name)


def _cross_validate(ds, folds, preprocessor, project, name, params, progress) -> Candidate:
    started, scores = time.perf_counter(), {}
    step = f"Cross-validating {name}"
    progress(step, 0, len(folds))
    for i, (fit_rows, val_rows) in enumerate(folds, start=1):
        pipe = make_pipeline(preprocessor, name, project.task, params, project.seed)
        val = ds.take(val_rows)
        with _failures_named(name):
            pipe.fit(*_xy(ds.take(fit_rows)))
            fold = predicted(pipe, val.X, val.y, project.task, ds.positive)
        for metric, value in score_all(fold).items():
            scores.setdefault(metric, []).append(value)
        progress(step, i, len(folds))
    return Candidate(name, dict(params), scores, time.perf_counter() - started)


def _fit(pipe: Pipeline, ds: Dataset, name: str) -> Pipeline:
    with _failures_named(name):
        return pipe.fit(*_xy(ds))


def _xy(ds: Dataset):
    return ds.X, ds.y


@contextmanager
def _failures_named(name: str):
    """Estimators report bad settings as plain exceptions; say which model it was."""
    try:
        yield
    except (ValueError, TypeError, ArithmeticError, MemoryError) as exc:
        raise TrainError(f"The model '{name}' failed to fit", details=[str(exc)[:500]],
                         hint="check its params in the project file") from exc


def _best(candidates: list[Candidate], metric: Metric) -> Candidate:
    best = candidates[0]
    for candidate in candidates[1:]:
        if metric.better(candidate.mean(metric.name), best.mean(metric.name)):
            best = candidate
    return best
