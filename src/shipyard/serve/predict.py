"""Validated columns -> the pipeline's output -> one JSON-ready item per row.

Kept apart from decoding and encoding so that a batching layer can join the
columns of several requests, call :func:`predict` once and split the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.card import LoadedModel, ModelCard
from shipyard.errors import DataError
from shipyard.metrics import ANOMALY, BINARY, CLASSIFICATION, anomaly_scores


@dataclass(frozen=True)
class Batch:
    """Validated rows as one array per schema column, in schema order."""

    columns: dict[str, np.ndarray]
    n_rows: int


@dataclass(frozen=True)
class Scores:
    """What the pipeline said about a batch: regression values (anomaly scores for
    an anomaly detector), or class probabilities (one row per input row, columns in
    ``card.classes`` order)."""

    values: np.ndarray | None = None
    proba: np.ndarray | None = None
    extra: list[dict] | None = None  # per row, merged into its answer (stateful serving)
    # The series step's output for these rows, when stateful serving computed it:
    # what an explanation of the prediction starts from.
    features: dict[str, np.ndarray] | None = None


def to_frame(batch: Batch) -> pd.DataFrame:
    """The pipeline's input, with the dtypes of ``Schema.model_frame``: text stays
    ``object`` (pandas 3 would otherwise infer its own string dtype)."""
    return pd.DataFrame({name: pd.Series(values, dtype=object) if values.dtype == object
                         else values for name, values in batch.columns.items()})


def predict(model: LoadedModel, batch: Batch) -> Scores:
    """Run the pipeline on a batch. A model that answers with the wrong shape is a
    bug in the model, not in the request: it raises ``RuntimeError``."""
    return predict_frame(model.pipeline, model.card, to_frame(batch), batch.n_rows)


def predict_frame(pipeline, card: ModelCard, frame: pd.DataFrame, n_rows: int) -> Scores:
    """``pipeline`` (or the part of it that takes ``frame``) on ``frame``."""
    if card.task in CLASSIFICATION:
        proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        if proba.shape != (n_rows, len(card.classes)):
            raise RuntimeError(
                f"predict_proba returned shape {proba.shape} for {n_rows} rows, "
                f"but the model card lists {len(card.classes)} classes"
            )
        return Scores(proba=proba)
    if card.task == ANOMALY:
        values = anomaly_scores(pipeline, frame)
    else:
        values = np.asarray(pipeline.predict(frame), dtype=np.float64).reshape(-1)
    if values.shape != (n_rows,):
        raise RuntimeError(f"predict returned {values.shape[0]} values for {n_rows} rows")
    return Scores(values=values)


def frame_items(pipeline, card: ModelCard, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One answer per row of a client's frame (as extracted, or as a notebook holds
    it), converted as the server converts rows; columns beyond the schema's are
    ignored, a missing one is a DataError naming it."""
    missing = [name for name in card.schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"The frame lacks {len(missing)} column(s) the model takes: "
                        f"{', '.join(missing[:10])}", hint="pass the columns of the "
                        "project's query (extra columns are ignored)")
    rows = frame.reset_index(drop=True)
    return items(card, predict_frame(pipeline, card, card.schema.model_frame(rows), len(rows)))


def items(card: ModelCard, scores: Scores) -> list[dict[str, Any]]:
    out = _items(card, scores)
    if scores.extra is not None:
        for item, more in zip(out, scores.extra, strict=True):
            item.update(more)
    return out


def _items(card: ModelCard, scores: Scores) -> list[dict[str, Any]]:
    """One response item per row: ``{"prediction": float}`` for regression;
    ``{"prediction": label, "probabilities": {class: p}}`` for classification,
    plus ``"probability"`` of the positive class for binary tasks;
    ``{"prediction": flagged, "score": anomaly score}`` for anomaly detection, flagged
    (true/false) where the score is at least the card's threshold."""
    if card.task == ANOMALY:
        return [{"prediction": v >= card.threshold, "score": v} for v in scores.values.tolist()]
    if scores.proba is None:
        return [{"prediction": v} for v in scores.values.tolist()]
    labels = [plain(c) for c in card.classes]
    keys = [str(c) for c in labels]
    best = scores.proba.argmax(axis=1).tolist()  # the same rule as metrics.predicted
    rows = scores.proba.tolist()
    if card.task != BINARY:
        return [{"prediction": labels[b], "probabilities": dict(zip(keys, p, strict=True))}
                for b, p in zip(best, rows, strict=True)]
    pos = positive_index(card, labels)
    if card.threshold is not None:  # a tuned decision threshold decides, not the argmax
        other = 1 - pos
        best = [pos if p[pos] >= card.threshold else other for p in rows]
    return [{"prediction": labels[b], "probability": p[pos],
             "probabilities": dict(zip(keys, p, strict=True))}
            for b, p in zip(best, rows, strict=True)]


def positive_index(card: ModelCard, labels: list) -> int:
    """Where the positive class sits in ``labels``; the last class when the card
    names none (scikit-learn's convention, also used by the metrics)."""
    if card.positive_class is None:
        return len(labels) - 1
    positive = plain(card.positive_class)
    if positive not in labels:
        raise RuntimeError(f"positive class {positive!r} is not one of the classes {labels}")
    return labels.index(positive)


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so labels are JSON-native."""
    return value.item() if isinstance(value, np.generic) else value
