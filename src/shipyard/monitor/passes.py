"""One monitoring pass: the latest window of logged predictions against the
champion's reference.

A pass measures data drift per feature and of the predictions, data quality,
live performance from the rows whose ground truth has arrived, and (for binary
classifiers) an estimate of performance from the predicted probabilities alone.
It is plain data (:meth:`Pass.to_dict`), saved in the prediction log's store so
the report, the dashboard and the retraining policy read the same figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.card import LoadedModel, ModelCard
from shipyard.metrics import (
    ANOMALY,
    BINARY,
    CLASSIFICATION,
    MULTICLASS,
    REGRESSION,
    Prediction,
    for_task,
)
from shipyard.monitor import drift, estimate, loss, quality
from shipyard.monitor.reference import Reference
from shipyard.schema import Schema
from shipyard.spec import Project

MIN_LABELLED = 10  # fewer labelled rows than this give no live metrics: too noisy to act on


@dataclass
class Pass:
    at: float
    version: str | None
    task: str
    metric: str
    rows: int = 0
    since: float | None = None
    until: float | None = None
    drift: drift.DriftResult | None = None
    prediction_drift: drift.FeatureDrift | None = None
    # the outputs' distribution: quantiles of scores or values, or each class's share
    outputs: dict[str, dict[str, float]] | None = None
    quality: quality.QualityResult | None = None
    live: dict[str, Any] | None = None  # {"rows": n, "metrics": {...}}
    estimated: dict[str, float] | None = None
    reference: dict[str, float] = field(default_factory=dict)  # the champion's holdout metrics
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.rows == 0

    def to_dict(self) -> dict:
        return {
            "at": self.at, "version": self.version, "task": self.task, "metric": self.metric,
            "rows": self.rows, "since": self.since, "until": self.until, "empty": self.empty,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "prediction_drift": None if self.prediction_drift is None
            else self.prediction_drift.to_dict(),
            "outputs": self.outputs,
            "quality": None if self.quality is None else self.quality.to_dict(),
            "live": self.live, "estimated": self.estimated,
            "reference": {k: _finite(v) for k, v in self.reference.items()},
            "notes": list(self.notes),
        }


def run(project: Project, model: LoadedModel, logged: pd.DataFrame,
        now: float | None = None) -> Pass:
    """A pass over ``logged`` (rows of :meth:`LogStore.predictions`, the window to
    judge) for ``model``, the champion."""
    card = model.card
    result = Pass(at=time.time() if now is None else now, version=card.version, task=card.task,
                  metric=project.primary_metric, reference=dict(card.metrics))
    if model.reference is None:
        result.notes.append(f"version {card.version} has no monitoring reference (it was "
                            "registered before Shipyard kept one); retrain to get one")
        return result
    if logged.empty:
        result.notes.append("no predictions were logged in the window")
        return result
    ref = Reference.from_files(model.reference)
    names = [n for n in card.schema.names if n in logged.columns]
    missing = sorted(set(card.schema.names) - set(names))
    if missing:
        result.notes.append(f"logged rows lack {len(missing)} input(s): {', '.join(missing)}")
    current = card.schema.model_frame(logged.reindex(columns=card.schema.names))
    result.rows = len(logged)
    result.since, result.until = float(logged["ts"].min()), float(logged["ts"].max())
    settings = project.monitor.drift
    watched = _watched(card)
    result.drift = drift.compare(ref.train, current, watched, settings, ref.importance)
    result.prediction_drift = _prediction_drift(card, ref, logged, settings)
    result.quality = quality.check(current, ref.train, watched)
    result.outputs = _outputs(card, logged)
    result.live = _live(card, logged)
    try:
        result.estimated = _estimated(card, ref, logged)
    except estimate.EstimateError as exc:  # e.g. a holdout with too few of one class
        result.notes.append(f"no performance estimate: {exc.headline}")
    return result


def _watched(card: ModelCard) -> Schema:
    """The inputs whose distribution says something: not the entity, whose ids (new
    engines get new numbers) drift and leave the training range by design."""
    return Schema(tuple(c for c in card.schema.columns if c.name != card.entity))


def _prediction_drift(card: ModelCard, ref: Reference, logged: pd.DataFrame, settings):
    if card.task in (BINARY, ANOMALY):
        scores = ref.scores
        if scores is None:
            return None
        current = pd.to_numeric(logged["score"], errors="coerce").dropna().to_numpy()
        return drift.prediction_drift(scores, current, False, settings)
    categorical = card.task == MULTICLASS
    reference = ref.predictions
    current = logged["prediction"]
    if not categorical:
        reference = pd.to_numeric(reference, errors="coerce").dropna().to_numpy()
        current = pd.to_numeric(current, errors="coerce").dropna().to_numpy()
    return drift.prediction_drift(reference, current, categorical, settings)


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _outputs(card: ModelCard, logged: pd.DataFrame) -> dict[str, dict[str, float]] | None:
    """Quantiles of the window's scores (binary, anomaly) or values (regression), or
    the share of each predicted class (multiclass)."""
    if card.task == MULTICLASS:
        shares = logged["prediction"].astype(str).value_counts(normalize=True)
        return {"shares": {str(k): float(v) for k, v in shares.items()}}
    column = "score" if card.task in (BINARY, ANOMALY) else "prediction"
    values = pd.to_numeric(logged[column], errors="coerce").dropna().to_numpy(dtype=float)
    if values.size == 0:
        return None
    found = np.quantile(values, QUANTILES)
    return {"quantiles": {f"{q:g}": float(v) for q, v in zip(QUANTILES, found, strict=True)},
            "count": int(values.size), "sum": float(values.sum())}


def _live(card: ModelCard, logged: pd.DataFrame) -> dict[str, Any] | None:
    labelled = logged[logged["label"].notna()]
    if len(labelled) < MIN_LABELLED:
        return {"rows": len(labelled), "metrics": {}} if len(labelled) else None
    prediction = _prediction(card, labelled)
    metrics = {}
    for metric in for_task(card.task):
        try:
            value = metric.compute(prediction)
        except (ValueError, TypeError, IndexError):  # e.g. one class only in the window
            continue
        if _finite(value) is not None:
            metrics[metric.name] = float(value)
    return {"rows": len(labelled), "metrics": metrics}


def _prediction(card: ModelCard, rows: pd.DataFrame) -> Prediction:
    if card.task == ANOMALY:
        truth = rows["label"].astype(bool).to_numpy()
        return Prediction(ANOMALY, truth, rows["prediction"].astype(bool).to_numpy(), None,
                          (False, True), True, rows["score"].astype(float).to_numpy())
    if card.task not in CLASSIFICATION:
        return Prediction(card.task, rows["label"].astype(float).to_numpy(),
                          rows["prediction"].astype(float).to_numpy())
    classes = tuple(card.classes)
    truth = _as_classes(rows["label"], classes)
    predicted = _as_classes(rows["prediction"], classes)
    proba = None
    if card.task == BINARY and rows["score"].notna().all():
        positive = card.positive_class if card.positive_class is not None else classes[-1]
        p = rows["score"].astype(float).to_numpy()
        proba = np.column_stack([1 - p, p]) if classes.index(positive) == 1 else \
            np.column_stack([p, 1 - p])
    return Prediction(card.task, truth, predicted, proba, classes, card.positive_class)


def _as_classes(values: pd.Series, classes: tuple) -> np.ndarray:
    """Logged labels (JSON values) in the classes' own type, matched by text. A column
    of whole-number labels with gaps (unlabelled rows) comes back as floats: 1.0 is 1.
    The array has the classes' dtype when every value is a class: scikit-learn cannot
    tell the kind of target of an object array of numbers."""
    by_text = {str(c): c for c in classes}
    found = []
    for v in values:
        text = str(v)
        if text not in by_text and isinstance(v, float) and v.is_integer():
            text = str(int(v))
        found.append(by_text.get(text, v))
    every = classes and all(str(v) in by_text for v in found)
    return np.array(found, dtype=np.asarray(classes).dtype if every else object)


_LOSS: dict[tuple, object] = {}  # (model, version) -> its LossEstimator, one at a time


def _estimated(card: ModelCard, ref: Reference, logged: pd.DataFrame) -> dict | None:
    if card.task == REGRESSION:
        return _estimated_loss(card, ref, logged)
    if card.task != BINARY or ref.scores is None or ref.labels is None:
        return None
    positive = card.positive_class if card.positive_class is not None else card.classes[-1]
    truth = (_as_classes(ref.labels, tuple(card.classes)) == positive).astype(int)
    scores = pd.to_numeric(logged["score"], errors="coerce").dropna().to_numpy()
    if scores.size == 0:
        return None
    threshold = card.threshold if card.threshold is not None else 0.5
    fitted = estimate.Estimator.fit(ref.scores, truth, threshold)
    return {k: v for k, v in fitted.estimate(scores).items() if _finite(v) is not None}


def _estimated_loss(card: ModelCard, ref: Reference, logged: pd.DataFrame) -> dict | None:
    """RMSE and MAE estimated by direct loss estimation, learnt from the reference."""
    if ref.labels is None:
        return None
    key = (card.name, card.version)
    if key not in _LOSS:
        _LOSS.clear()
        _LOSS[key] = loss.LossEstimator.fit(loss.inputs_of(ref.holdout, card.schema, card.entity),
                                            ref.predictions, ref.labels)
    fitted = _LOSS[key]
    if fitted is None:
        return None
    current = card.schema.model_frame(logged.reindex(columns=card.schema.names))
    found = fitted.estimate(loss.inputs_of(current, card.schema, card.entity),
                            logged["prediction"])
    return {k: v for k, v in found.items() if _finite(v) is not None}


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
