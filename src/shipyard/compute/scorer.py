"""What a worker needs to score rows: the fitted pipeline and what its card says
about inputs and outputs, without the ONNX bytes and monitoring files a
:class:`~shipyard.card.LoadedModel` also carries (they would be shipped for nothing).

Predictions are shaped as the server shapes them, one column each: ``prediction``
(the value; the label for classifiers, the decision threshold applied for binary
ones; flagged or not for anomaly detectors), then ``probability`` (binary: of the
positive class), ``probability_<class>`` (multiclass) or ``score`` (anomaly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard.card import LoadedModel
from shipyard.metrics import ANOMALY, BINARY, CLASSIFICATION, anomaly_scores
from shipyard.schema import Schema


@dataclass(frozen=True)
class Scorer:
    pipeline: Any
    schema: Schema
    task: str
    classes: tuple = ()
    positive_class: Any = None
    threshold: float | None = None

    @classmethod
    def of(cls, model: LoadedModel) -> Scorer:
        card = model.card
        return cls(pipeline=model.pipeline, schema=card.schema, task=card.task,
                   classes=tuple(_plain(c) for c in card.classes),
                   positive_class=_plain(card.positive_class), threshold=card.threshold)

    @property
    def inputs(self) -> list[str]:
        """The columns the pipeline takes."""
        return self.schema.names

    def predict(self, table: pa.Table) -> dict[str, np.ndarray]:
        """The prediction columns for the rows of ``table`` (which has the inputs)."""
        frame = self.schema.model_frame(table.select(self.inputs).to_pandas())
        n = len(frame)
        if self.task == ANOMALY:
            score = anomaly_scores(self.pipeline, frame)
            return {"prediction": score >= self.threshold, "score": score}
        if self.task not in CLASSIFICATION:
            values = np.asarray(self.pipeline.predict(frame), dtype=np.float64).reshape(-1)
            _check(values.shape, (n,))
            return {"prediction": values}
        proba = np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)
        _check(proba.shape, (n, len(self.classes)))
        labels = np.asarray(self.classes, dtype=object)
        best = proba.argmax(axis=1)  # the rule of metrics.predicted and the server
        if self.task != BINARY:
            out = {"prediction": _typed(labels[best])}
            out.update({f"probability_{c}": proba[:, i] for i, c in enumerate(self.classes)})
            return out
        pos = self._positive()
        if self.threshold is not None:  # a tuned decision threshold decides, not the argmax
            best = np.where(proba[:, pos] >= self.threshold, pos, 1 - pos)
        return {"prediction": _typed(labels[best]), "probability": proba[:, pos]}

    def _positive(self) -> int:
        if self.positive_class is None:
            return len(self.classes) - 1
        if self.positive_class not in self.classes:
            raise RuntimeError(f"positive class {self.positive_class!r} is not one of the "
                               f"classes {list(self.classes)}")
        return self.classes.index(self.positive_class)


def _check(got: tuple, expected: tuple) -> None:
    # A model answering with the wrong shape is a bug in the model, not in the input.
    if got != expected:
        raise RuntimeError(f"the model returned shape {got}, expected {expected}")


def _typed(labels: np.ndarray) -> np.ndarray:
    """Labels as a column Arrow can type (all strings, all ints...), not Python objects."""
    return pd.Series(labels).infer_objects().to_numpy()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
