"""The champion's reference: what live data and live performance are judged against.

Kept with each registered version (``reference/`` beside the model, covered by
the version's digests): a sample of the rows it was trained on, for data drift,
and its holdout rows with what it predicted and the true labels, for prediction
drift and for calibrating the performance estimate; and the model's permutation
importance of each input, which weighs the features in the data set's drift verdict.

``prediction`` and ``score`` follow the prediction log's convention: the served
``prediction`` (a number for regression, a class for classification, a flag for
anomalies) and a numeric ``score`` (the positive class's probability for a
binary task, the anomaly score for anomalies, none otherwise).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PREDICTION, SCORE, LABEL = "__prediction", "__score", "__label"
TRAIN_FILE, HOLDOUT_FILE = "train.parquet", "holdout.parquet"
IMPORTANCE_FILE = "importance.json"  # optional: versions without importances have none
ROWS = 10_000  # at most this many rows of each part: enough for any test, small to keep


@dataclass(frozen=True)
class Reference:
    train: pd.DataFrame  # model inputs (the schema's columns)
    holdout: pd.DataFrame  # model inputs + PREDICTION, SCORE, LABEL
    importance: dict[str, float] | None = None  # input -> mean score drop when shuffled

    @property
    def features(self) -> list[str]:
        return list(self.train.columns)

    @property
    def predictions(self) -> pd.Series:
        return self.holdout[PREDICTION]

    @property
    def scores(self) -> np.ndarray | None:
        values = self.holdout[SCORE]
        return None if values.isna().all() else values.to_numpy(dtype=float)

    @property
    def labels(self) -> pd.Series | None:
        values = self.holdout[LABEL]
        return None if values.isna().all() else values

    def save(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / TRAIN_FILE, folder / HOLDOUT_FILE]
        self.train.to_parquet(paths[0], index=False)
        self.holdout.to_parquet(paths[1], index=False)
        if self.importance is not None:
            paths.append(folder / IMPORTANCE_FILE)
            paths[-1].write_text(json.dumps(self.importance))
        return paths

    @classmethod
    def load(cls, folder: Path) -> Reference:
        found = folder / IMPORTANCE_FILE
        return cls(pd.read_parquet(folder / TRAIN_FILE), pd.read_parquet(folder / HOLDOUT_FILE),
                   _importance(found.read_bytes()) if found.exists() else None)

    def to_files(self) -> dict[str, bytes]:
        """The reference as the files a registered version keeps."""
        files = {}
        for name, frame in ((TRAIN_FILE, self.train), (HOLDOUT_FILE, self.holdout)):
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            files[name] = buffer.getvalue()
        if self.importance is not None:
            files[IMPORTANCE_FILE] = json.dumps(self.importance).encode()
        return files

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> Reference:
        missing = {TRAIN_FILE, HOLDOUT_FILE} - set(files)
        if missing:
            raise ValueError(f"the reference lacks {', '.join(sorted(missing))}")
        found = files.get(IMPORTANCE_FILE)
        return cls(pd.read_parquet(io.BytesIO(files[TRAIN_FILE])),
                   pd.read_parquet(io.BytesIO(files[HOLDOUT_FILE])),
                   None if found is None else _importance(found))


def _importance(raw: bytes) -> dict[str, float]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{IMPORTANCE_FILE} is not an object of input -> importance")
    return {str(k): float(v) for k, v in data.items()}


def outputs(model, X: pd.DataFrame, card) -> tuple[np.ndarray, np.ndarray | None]:
    """What the server logs for rows ``X``: (prediction, score), by the same rules
    as its answers (the card's threshold decides binary classes and anomaly flags)."""
    from shipyard.metrics import ANOMALY, BINARY, predicted

    if card.task == ANOMALY:
        got = predicted(model, X, None, card.task, threshold=card.threshold)
        return got.y_pred, got.score
    dummy = np.zeros(len(X)) if card.task not in (BINARY, "multiclass") else \
        np.full(len(X), card.classes[0], dtype=object)
    got = predicted(model, X, dummy, card.task, positive=card.positive_class,
                    threshold=card.threshold if card.task == BINARY else None)
    score = got.positive_proba if card.task == BINARY else None
    return np.asarray(got.y_pred), score


def build(train: pd.DataFrame, holdout: pd.DataFrame, predictions, scores, labels,
          seed: int = 0, rows: int = ROWS,
          importance: list[tuple[str, float, float]] | None = None) -> Reference:
    """A reference from the training inputs and the holdout's inputs, served
    predictions, scores (or None) and labels (or None), each sampled to ``rows``;
    ``importance`` as ``evaluate.importance.permutation`` ranks the inputs."""
    held = holdout.reset_index(drop=True).copy()
    n = len(held)
    held[PREDICTION] = _column(predictions, n)
    held[SCORE] = np.full(n, np.nan) if scores is None else np.asarray(scores, dtype=float)
    held[LABEL] = _column(labels, n) if labels is not None else pd.Series([None] * n,
                                                                          dtype=object)
    ranked = None if importance is None else {str(c): float(m) for c, m, _ in importance
                                               if np.isfinite(m)}
    return Reference(_sample(train.reset_index(drop=True), rows, seed),
                     _sample(held, rows, seed + 1), ranked)


def _column(values, n: int) -> pd.Series:
    series = pd.Series(np.asarray(values).tolist() if not isinstance(values, pd.Series)
                       else values.tolist())
    if len(series) != n:
        raise ValueError(f"expected {n} values, got {len(series)}")
    if series.map(type).nunique() > 1:  # mixed kinds (True and 1.0): keep them as text
        series = series.astype(str)
    return series


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.sample(rows, random_state=seed).sort_index().reset_index(drop=True)
