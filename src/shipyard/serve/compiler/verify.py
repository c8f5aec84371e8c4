"""Compiling with proof: the ONNX form is kept only if it agrees with the pipeline.

Two checks, both on every row given (at registration, the whole holdout):

- the whole graph against the pipeline on the rows as they are;
- the model step alone against the model on rows of the prepared matrix whose
  values sit on the trees' split thresholds and their nearest neighbours in
  double and in float: the rows a wrong comparison or a rounded threshold
  would send the other way, and that a random sample almost never contains.

Agreement means ``|Δy| <= 1e-6 · scale + 1e-6 · |y|`` for regression and
anomaly scores (``scale`` is the target's standard deviation, or the scores':
an error far below any the model makes), and ``|Δp| <= 1e-6`` for class
probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import numpy_helper

from shipyard.card import ModelCard
from shipyard.metrics import ANOMALY, BINARY, REGRESSION, anomaly_scores
from shipyard.schema import Column, Schema, kind_of
from shipyard.serve.compiler import build as builder
from shipyard.serve.compiler.graph import (
    DOUBLE,
    FLOAT,
    MODEL_INPUT,
    ModelStepFailed,
    NotCompilable,
    first_line,
)
from shipyard.serve.compiler.model import EXACT_TREES
from shipyard.serve.compiler.runtime import FastModel, batch_of, scores_python
from shipyard.serve.predict import Batch, Scores

ABS_TOLERANCE = 1e-6  # x the target's scale, regression
REL_TOLERANCE = 1e-6  # x |y|, regression
PROBA_TOLERANCE = 1e-6  # |Δp|, classification
_VALUES = (REGRESSION, ANOMALY)  # one value per row: a prediction or an anomaly score
MAX_SPLITS = 5_000  # thresholds probed, at most (spread over all the trees' splits)


@dataclass(frozen=True)
class Compiled:
    """A verified ONNX form and how closely it agreed with the pipeline."""

    onnx: bytes
    max_gap: float  # largest |Δy| or |Δp| seen, sample and split rows together
    rows: int  # sample rows checked
    split_rows: int  # rows placed on split thresholds checked
    what: str  # "|Δy|" or "|Δp|"

    def describe(self) -> str:
        return (f"max {self.what} {self.max_gap:.1e} on {self.rows:,} holdout rows and "
                f"{self.split_rows:,} rows on split thresholds")


def compile_pipeline(pipeline, card: ModelCard, sample: pd.DataFrame,
                     scale: float | None = None) -> Compiled:
    """Convert the fitted pipeline to ONNX and verify it on ``sample`` (rows in
    ``card.schema.model_frame`` form, e.g. the holdout) and on split-threshold
    rows made from it. ``scale`` is the target's spread for regression (default:
    the spread of the pipeline's predictions on ``sample``). Returns the
    serialized ONNX model with its agreement; raises :class:`NotCompilable`
    otherwise."""
    if len(sample) == 0:
        raise NotCompilable("no sample rows to check the ONNX form against the pipeline")
    try:
        return _compile(pipeline, card, sample, scale)
    except NotCompilable:
        raise
    except Exception as exc:  # never let a converter's surprise escape
        raise NotCompilable(f"compiling to ONNX failed: {type(exc).__name__}: "
                            f"{first_line(exc)}") from exc


@dataclass(frozen=True)
class Bound:
    """How far the compiled form may be from the pipeline."""

    regression: bool
    atol: float

    @classmethod
    def of(cls, card: ModelCard, expected: Scores, scale: float | None) -> Bound:
        if card.task not in _VALUES:
            return cls(False, PROBA_TOLERANCE)
        if scale is None or not np.isfinite(scale):
            finite = expected.values[np.isfinite(expected.values)]
            scale = float(np.std(finite)) if finite.size else 1.0
        return cls(True, ABS_TOLERANCE * (scale if scale > 0 else 1.0))

    def check(self, expected: np.ndarray, got: np.ndarray, where: str, dtype: str) -> float:
        """The largest gap; raises :class:`ModelStepFailed` beyond the bound."""
        expected, got = np.asarray(expected, np.float64), np.asarray(got, np.float64)
        if expected.shape != got.shape:
            raise ModelStepFailed(f"ONNX ({dtype} model input) gives shape {got.shape} on "
                                  f"{where}, the pipeline {expected.shape}")
        gap = np.abs(got - expected)
        allowed = self.atol + (REL_TOLERANCE * np.abs(expected) if self.regression else 0.0)
        gap = np.where(np.isnan(expected) & np.isnan(got), 0.0, gap)
        bad = ~(gap <= allowed)  # NaN on one side only is a disagreement too
        if bad.any():
            worst = float(np.where(np.isnan(gap), np.inf, gap)[bad].max())  # NaN: a miss
            rule = (f"{self.atol:.1e} + {REL_TOLERANCE:.0e}·|y|" if self.regression
                    else f"{self.atol:.0e}")
            what = "|Δy|" if self.regression else "|Δp|"
            rows = int(bad.reshape(len(bad), -1).any(axis=1).sum())
            raise ModelStepFailed(f"ONNX ({dtype} model input) disagrees with the pipeline on "
                                  f"{rows} of {len(expected)} {where}: max {what} = "
                                  f"{worst:.1e}, allowed {rule}")
        return float(gap.max()) if gap.size else 0.0


def _compile(pipeline, card: ModelCard, sample: pd.DataFrame,
             scale: float | None) -> Compiled:
    parts = builder.parts(pipeline)
    _check_threshold(parts, card)
    frame = card.schema.model_frame(sample)
    batch = batch_of(frame, card)
    expected = scores_python(pipeline, card, batch)
    bound = Bound.of(card, expected, scale)
    schema = _graph_schema(parts, frame, card)
    model = builder.build(pipeline, schema, card.task, _classes(card))
    chosen = {p.key: p.value for p in model.metadata_props}[MODEL_INPUT]
    try:
        return _verified(model.SerializeToString(), pipeline, card, frame, batch, expected,
                         bound, chosen)
    except ModelStepFailed as exc:
        if chosen == EXACT_TREES:
            raise
        first = exc
    # The other input type: ONNX Runtime may lack a kernel for the first (SVR has
    # none for double), or the model may compute otherwise than its choice implies.
    other = FLOAT if chosen == DOUBLE else DOUBLE
    try:
        model = builder.build(pipeline, schema, card.task, _classes(card), other)
        return _verified(model.SerializeToString(), pipeline, card, frame, batch, expected,
                         bound, other)
    except ModelStepFailed:
        raise first from None


def _verified(onnx_bytes: bytes, pipeline, card: ModelCard, frame: pd.DataFrame,
              batch: Batch, expected: Scores, bound: Bound, dtype: str) -> Compiled:
    try:
        fast = FastModel(onnx_bytes, card, pipeline=pipeline)
    except NotCompilable as exc:
        raise ModelStepFailed(str(exc)) from None
    got = fast.scores(batch)
    if card.task in _VALUES:
        gap = bound.check(expected.values, got.values, "the sample rows", dtype)
    else:
        gap = bound.check(expected.proba, got.proba, "the sample rows", dtype)
        _check_decisions(pipeline, card, frame, got)
    split_gap, split_rows = _check_splits(onnx_bytes, pipeline, card, frame, bound, dtype)
    return Compiled(onnx_bytes, max(gap, split_gap), len(frame), split_rows,
                    "|Δy|" if bound.regression else "|Δp|")


def _graph_schema(parts: builder.Parts, frame: pd.DataFrame, card: ModelCard) -> Schema:
    """What the graph takes: the card's schema, or the Python prefix's output."""
    if not parts.prefix:
        return card.schema
    out = parts.python_input(frame)
    columns = []
    for name in out.columns:
        kind = kind_of(out[name])
        if kind is None:
            raise NotCompilable(f"the Python steps make column '{name}' of type "
                                f"{out[name].dtype}, which ONNX cannot take")
        columns.append(Column(str(name), kind))
    return Schema(tuple(columns))


def _check_threshold(parts: builder.Parts, card: ModelCard) -> None:
    """A tuned threshold compiles to the card's: the server applies that one."""
    wrapper = parts.threshold
    if wrapper is None:
        return
    if card.task != BINARY or card.threshold is None or \
            float(wrapper.threshold) != float(card.threshold):
        raise NotCompilable(f"the pipeline's decision threshold {wrapper.threshold!r} is not "
                            f"the model card's {card.threshold!r}")
    positive = card.positive_class if card.positive_class is not None else card.classes[-1]
    if wrapper.pos_label is not None and wrapper.pos_label != positive:
        raise NotCompilable(f"the decision threshold is for class {wrapper.pos_label!r}, the "
                            f"model card's positive class is {positive!r}")


def _check_decisions(pipeline, card: ModelCard, frame: pd.DataFrame, got: Scores) -> None:
    """With a tuned threshold, the labels too: the pipeline's ``predict`` against
    the card's threshold applied to the compiled probabilities."""
    if card.threshold is None or card.task != BINARY or not hasattr(pipeline, "threshold"):
        return
    labels = list(card.classes)
    positive = card.positive_class if card.positive_class is not None else labels[-1]
    pos = labels.index(positive)
    decided = np.where(got.proba[:, pos] >= card.threshold, positive,
                       labels[1 - pos])
    wanted = np.asarray(pipeline.predict(frame))
    differ = int((decided != wanted).sum())
    if differ:
        raise ModelStepFailed(f"the compiled threshold decides {differ} of {len(frame)} "
                              "sample rows otherwise than the pipeline")


def _check_splits(onnx_bytes: bytes, pipeline, card: ModelCard, frame: pd.DataFrame,
                  bound: Bound, dtype: str) -> tuple[float, int]:
    """The largest gap on split-threshold rows, and how many were checked."""
    splits = _splits(onnx.load_model_from_string(onnx_bytes))
    if not splits:
        return 0.0, 0
    parts = builder.parts(pipeline)
    matrix = parts.python_input(frame)
    for _, step in parts.transforms:
        matrix = step.transform(matrix)
    columns = matrix.columns if isinstance(matrix, pd.DataFrame) else None
    base = np.asarray(matrix, dtype=np.float64)
    rows = _probes(base, splits)
    probe = pd.DataFrame(rows, columns=columns) if columns is not None else rows
    if card.task == ANOMALY:
        expected = anomaly_scores(parts.model, probe).reshape(-1, 1)
    elif card.task == REGRESSION:
        expected = np.asarray(parts.model.predict(probe), dtype=np.float64).reshape(-1, 1)
    else:
        expected = np.asarray(parts.model.predict_proba(probe), dtype=np.float64)
    alone = builder.model_only(pipeline, base.shape[1], card.task, _classes(card),
                               FLOAT if dtype == FLOAT else DOUBLE)
    session = ort.InferenceSession(alone.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {builder.FEATURES: rows})[0]
    where = f"rows on the trees' {len(splits)} split thresholds"
    return bound.check(expected, got, where, dtype), len(rows)


def _splits(model: onnx.ModelProto) -> list[tuple[int, float]]:
    """(feature, threshold) of every split in the graph's tree ensembles."""
    found = set()
    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attributes = {a.name: a for a in node.attribute}
        features = list(attributes["nodes_featureids"].ints)
        if "nodes_splits" in attributes:
            values = numpy_helper.to_array(attributes["nodes_splits"].t)
        elif "nodes_values_as_tensor" in attributes:
            values = numpy_helper.to_array(attributes["nodes_values_as_tensor"].t)
        else:
            values = np.asarray(attributes["nodes_values"].floats, dtype=np.float32)
        modes = attributes.get("nodes_modes")
        leaves = set()
        if modes is not None and modes.strings:  # ai.onnx.ml 3 marks leaves as LEAF
            leaves = {i for i, m in enumerate(modes.strings) if m == b"LEAF"}
        found.update((f, float(v)) for i, (f, v) in enumerate(zip(features, values,
                                                                 strict=True))
                     if i not in leaves)
    return sorted(found)


def _probes(base: np.ndarray, splits: list[tuple[int, float]]) -> np.ndarray:
    """For each split, rows of ``base`` (taken in turn) with the split's feature set
    to the threshold and its neighbours in double and in float."""
    if len(splits) > MAX_SPLITS:
        pick = np.linspace(0, len(splits) - 1, MAX_SPLITS).round().astype(int)
        splits = [splits[i] for i in pick]
    rows = []
    for k, (feature, threshold) in enumerate(splits):
        rounded = np.float32(threshold)
        values = {threshold, np.nextafter(threshold, -np.inf), np.nextafter(threshold, np.inf),
                  float(rounded), float(np.nextafter(rounded, np.float32(-np.inf))),
                  float(np.nextafter(rounded, np.float32(np.inf)))}
        for j, value in enumerate(sorted(v for v in values if np.isfinite(v))):
            row = base[(k + j) % len(base)].copy()
            row[feature] = value
            rows.append(row)
    return np.ascontiguousarray(rows, dtype=np.float64)


def _classes(card) -> tuple:
    """The probability columns the graph gives: none for an anomaly detector, whose
    card lists the classes of the labels it is judged on, not of its output."""
    return () if card.task == ANOMALY else tuple(card.classes)
