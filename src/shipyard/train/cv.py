"""Cross-validation of one candidate setting: fit on each fold's training rows,
score its validation rows, and keep what choosing and reporting need (scores per
fold, training scores, boosting curves, out-of-fold probabilities)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from shipyard import catalogue
from shipyard.errors import TrainError
from shipyard.metrics import ANOMALY, BINARY, METRICS, predicted, score_all
from shipyard.prepare import Dataset
from shipyard.train.curves import Curve, fit_watched

_TRAIN_SCORE_ROWS = 20_000  # enough to see overfitting, cheap to predict
# An estimator's own thread counts, by the names the libraries give them
_THREADS = ("n_jobs", "num_threads", "nthread", "thread_count")


@dataclass(frozen=True)
class Candidate:
    name: str
    params: dict[str, Any]  # what the project file set or tuning chose; defaults not included
    scores: dict[str, list[float]]  # metric -> one value per fold (validation rows)
    seconds: float
    train_scores: list[float] = field(default_factory=list)  # primary metric, training rows
    curves: list[Curve] = field(default_factory=list)  # per fold, boosting models only
    oof: np.ndarray | None = None  # binary: out-of-fold probability of the positive class
    # (anomaly: the out-of-fold anomaly score)
    trials: int = 0  # tuning trials run; 0 when the parameters were fixed
    history: list[float] = field(default_factory=list)  # each trial's mean score

    def mean(self, metric: str) -> float:
        """NaN when the candidate was not scored (an anomaly task without labels)."""
        return float(np.mean(self.scores[metric])) if metric in self.scores else float("nan")

    def std(self, metric: str) -> float:
        return float(np.std(self.scores[metric])) if metric in self.scores else float("nan")

    @property
    def best_iterations(self) -> int | None:
        """The iterations the folds kept on average: what a refit should run."""
        return int(round(np.mean([c.best for c in self.curves]))) if self.curves else None


def make_pipeline(steps: list, name: str, task: str, params: dict, seed: int,
                  class_weight: bool = False, one_thread: bool = False):
    """A fresh pipeline: clones of the preparation ``steps`` and the model.
    ``one_thread``: the model's own thread count is 1 (a task on a cluster worker,
    which has one core to itself)."""
    from imblearn.pipeline import Pipeline

    estimator = catalogue.make_estimator(name, task, params, seed)
    if class_weight and "class_weight" in estimator.get_params() and "class_weight" not in params:
        estimator.set_params(class_weight="balanced")
    if one_thread:
        known = estimator.get_params()
        estimator.set_params(**{k: 1 for k in _THREADS if known.get(k) not in (None, 1)
                                and k in known})
    return Pipeline([*((n, clone(s)) for n, s in steps), ("model", estimator)])


@dataclass(frozen=True)
class Maker:
    """Makes the pipeline of one model for given parameters; a plain value, so that
    it can be sent to a cluster's workers."""

    steps: list
    name: str
    task: str
    seed: int
    class_weight: bool = False
    one_thread: bool = False

    def __call__(self, params: dict):
        return make_pipeline(self.steps, self.name, self.task, params, self.seed,
                             self.class_weight, self.one_thread)


def cross_validate(ds: Dataset, folds, make: Callable[[dict], Any], name: str,
                   params: dict, task: str, metric: str, patience: int | None,
                   on_fold: Callable[[int, float], None] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   workers: int = 1, fit: Callable | None = None) -> Candidate:
    """Score ``params`` on every fold. ``on_fold(i, mean so far)`` may raise to stop
    early (pruning); ``progress(done, total)`` follows the folds.

    ``workers`` folds are fitted at once, in threads: the boosting libraries and
    most of scikit-learn release the GIL while they fit. ``fit(params)``, when given,
    fits them elsewhere instead (a cluster) and yields what :func:`fit_fold` returns,
    fold by fold. Results are reported in fold order, so they are the same whatever
    the number of workers and wherever the folds ran."""
    started, scores, train_scores, curves = time.perf_counter(), {}, [], []
    oof = np.full(len(ds), np.nan) if task in (BINARY, ANOMALY) else None
    folds = list(folds)
    results = fit(params) if fit else _in_threads(ds, folds, make, params, task, metric,
                                                   patience, workers)
    try:
        for i, (_, val_rows) in enumerate(folds, start=1):
            with failures_named(name):
                fold, train_score, curve = next(results)
            train_scores.append(train_score)
            if curve is not None:
                curves.append(curve)
            if oof is not None:
                oof[val_rows] = fold.positive_proba
            for key, value in score_all(fold).items():
                scores.setdefault(key, []).append(value)
            if progress:
                progress(i, len(folds))
            if on_fold:
                on_fold(i, float(np.mean(scores[metric])))
    finally:
        results.close()  # a pruned trial: folds still running elsewhere are cancelled
    return Candidate(name, dict(params), scores, time.perf_counter() - started,
                     train_scores=train_scores, curves=curves, oof=oof)


def _in_threads(ds: Dataset, folds: list, make, params: dict, task: str, metric: str,
                patience, workers: int) -> Iterator:
    """The folds fitted here, ``workers`` at a time, in threads."""
    step = max(workers, 1)
    for start in range(0, len(folds), step):
        batch = folds[start:start + step]
        yield from Parallel(n_jobs=len(batch), backend="threading")(
            delayed(fit_fold)(ds, make(params), fit_rows, val_rows, task, metric, patience)
            for fit_rows, val_rows in batch)


def fit_fold(ds: Dataset, pipe, fit_rows, val_rows, task: str, metric: str, patience):
    """Fit one fold; its validation prediction, training score and curve."""
    fit, val = ds.take(fit_rows), ds.take(val_rows)
    curve = fit_watched(pipe, fit.X, fit.y, val.X, val.y, patience)
    fold = predicted(pipe, val.X, val.y, task, ds.positive)
    seen = fit.take(_sample(len(fit), fit_rows)) if len(fit) > _TRAIN_SCORE_ROWS else fit
    train_score = METRICS[metric].compute(predicted(pipe, seen.X, seen.y, task, ds.positive))
    return fold, train_score, curve


def _sample(n: int, salt) -> np.ndarray:
    rng = np.random.default_rng(len(salt))
    return np.sort(rng.choice(n, _TRAIN_SCORE_ROWS, replace=False))


@contextmanager
def failures_named(name: str):
    """Estimators report bad settings as plain exceptions; say which model it was."""
    try:
        yield
    except (ValueError, TypeError, ArithmeticError, MemoryError) as exc:
        raise TrainError(f"The model '{name}' failed to fit", details=[str(exc)[:500]],
                         hint="check its params in the project file") from exc
