"""Fitting while watching: loss on the training and validation rows after every
boosting iteration, with early stopping on the validation rows.

LightGBM and XGBoost take evaluation sets, but only already-transformed ones,
so the pipeline's preparation steps are fitted first (resampling steps act on
the training rows only, as in the pipeline) and the model last. Other models
are fitted as they are; they get learning curves over the training-set size
instead (:func:`learning_curve`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from shipyard.metrics import METRICS, predicted


@dataclass(frozen=True)
class Curve:
    metric: str  # the library's loss name, e.g. "l2", "binary_logloss", "rmse"
    train: list[float]
    valid: list[float]
    best: int  # iterations kept (early stopping), counted from 1


def boosting_kind(estimator) -> str | None:
    module = type(estimator).__module__
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("xgboost") or type(estimator).__name__ == "LabelledXGBClassifier":
        return "xgboost"
    return None


def fit_watched(pipe, X, y, X_val, y_val, patience: int | None) -> Curve | None:
    """Fit ``pipe`` on (X, y). For LightGBM and XGBoost models, record the loss on
    both sets at every iteration and stop ``patience`` iterations after the
    validation loss last improved; other models are simply fitted (None)."""
    model = pipe.steps[-1][1]
    kind = boosting_kind(model)
    if kind is None:
        pipe.fit(X, y)
        return None
    Xt, yt = _fit_steps(pipe, X, y)
    Xv = _transform_steps(pipe, X_val)
    if kind == "lightgbm":
        return _lightgbm(model, Xt, yt, Xv, np.asarray(y_val), patience)
    return _xgboost(model, Xt, yt, Xv, np.asarray(y_val), patience)


def iterations_param(estimator) -> str | None:
    """The parameter that sets how many iterations a refit should run."""
    return "n_estimators" if boosting_kind(estimator) else None


def _fit_steps(pipe, X, y):
    for _, step in pipe.steps[:-1]:
        if step is None or step == "passthrough":
            continue
        if hasattr(step, "fit_resample"):
            X, y = step.fit_resample(X, y)
        else:
            X = step.fit_transform(X, y)
    return X, np.asarray(y)


def _transform_steps(pipe, X):
    for _, step in pipe.steps[:-1]:
        if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
            continue  # resampling never touches validation rows
        X = step.transform(X)
    return X


def _lightgbm(model, Xt, yt, Xv, yv, patience) -> Curve:
    import lightgbm

    record: dict = {}
    callbacks = [lightgbm.record_evaluation(record)]
    if patience:
        callbacks.append(lightgbm.early_stopping(patience, first_metric_only=True,
                                                 verbose=False))
    eval_y = (yt, yv)
    if isinstance(model, lightgbm.LGBMClassifier):
        # LightGBM 4.7 encodes string labels for training but not for eval_y; give it
        # the codes it uses itself (the sorted distinct labels).
        classes = np.unique(yt)
        eval_y = (np.searchsorted(classes, yt), np.searchsorted(classes, yv))
    model.fit(Xt, yt, eval_X=(Xt, Xv), eval_y=eval_y, eval_names=["train", "valid"],
              callbacks=callbacks)
    metric = next(iter(record["valid"]))
    best = model.best_iteration_ or len(record["valid"][metric])
    return Curve(metric, list(record["train"][metric]), list(record["valid"][metric]),
                 int(best))


def _xgboost(model, Xt, yt, Xv, yv, patience) -> Curve:
    if patience:
        model.set_params(early_stopping_rounds=patience)
    model.fit(Xt, yt, eval_set=[(Xt, yt), (Xv, yv)], verbose=False)
    record = model.evals_result()
    metric = next(iter(record["validation_1"]))
    valid = list(record["validation_1"][metric])
    best = getattr(model, "best_iteration", None)
    best = len(valid) if best is None else best + 1
    return Curve(metric, list(record["validation_0"][metric]), valid, int(best))


@dataclass(frozen=True)
class SizeCurve:
    metric: str
    sizes: list[int]  # training rows used
    train: list[float]  # mean over folds
    valid: list[float]


def learning_curve(make, ds, folds, task: str, metric: str, positive=None,
                   fractions=(0.1, 0.25, 0.5, 1.0), seed: int = 0) -> SizeCurve:
    """The primary metric on training and validation rows as the training set grows,
    averaged over the folds; ``make()`` returns a fresh unfitted pipeline."""
    rng = np.random.default_rng(seed)
    train_scores, valid_scores, sizes = [], [], []
    for fraction in fractions:
        tr, va, n = [], [], []
        for fit_rows, val_rows in folds:
            take = fit_rows if fraction >= 1 else rng.choice(
                fit_rows, max(int(len(fit_rows) * fraction), 10), replace=False)
            part = ds.take(np.sort(take))
            pipe = clone(make()).fit(part.X, part.y)
            tr.append(_score(pipe, part, task, metric, positive))
            va.append(_score(pipe, ds.take(val_rows), task, metric, positive))
            n.append(len(take))
        sizes.append(int(np.mean(n)))
        train_scores.append(float(np.nanmean(tr)))
        valid_scores.append(float(np.nanmean(va)))
    return SizeCurve(metric, sizes, train_scores, valid_scores)


def _score(pipe, ds, task, metric, positive) -> float:
    return METRICS[metric].compute(predicted(pipe, ds.X, ds.y, task, positive))
