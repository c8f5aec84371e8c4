"""The fast inference path: the fitted pipeline compiled to ONNX, scored by ONNX Runtime.

At registration :func:`compile_pipeline` converts the pipeline and keeps the
result only if it agrees with the Python pipeline on sample rows. At serving
:class:`FastModel` scores a validated :class:`Batch` straight from its column
arrays: no pandas, no copies of numeric columns.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pandas as pd

from shipyard.card import LoadedModel, ModelCard
from shipyard.metrics import ANOMALY, REGRESSION
from shipyard.serve.inputs import Batch
from shipyard.serve.predict import Scores, predict

PROBA_TOLERANCE = 1e-5  # max |Δp| between ONNX and the pipeline, classification
VALUE_TOLERANCE = 1e-4  # max |Δy| / max(|y|, 1), regression
CHUNK_ROWS = 16_384  # large batches run in chunks: intermediate matrices stay in cache
SHARED_ROWS = 4_096  # from this many rows a batch is shared among FastModel's threads
PROBA, VALUE = "proba", "value"  # the compiled graph's output, by task


class NotCompilable(Exception):
    """The pipeline has no ONNX form that agrees with it; ``str(exc)`` says why in one line."""


class ModelStepFailed(NotCompilable):
    """The model step failed for one input type (it did not convert, load or
    agree); the other type may work."""


def compile_pipeline(pipeline, card: ModelCard, sample: pd.DataFrame) -> bytes:
    """Convert the fitted pipeline to ONNX and verify it on ``sample`` (rows in
    ``card.schema.model_frame`` form, e.g. the holdout): classification max abs
    difference of predict_proba <= 1e-5, regression max relative difference <= 1e-4
    (relative to max(|y|, 1)). Returns the serialized ONNX model; raises
    :class:`NotCompilable` otherwise."""
    if len(sample) == 0:
        raise NotCompilable("no sample rows to check the ONNX form against the pipeline")
    if card.task == ANOMALY:
        raise NotCompilable("anomaly detectors have no ONNX form here; the Python pipeline "
                            "serves them")
    try:
        return _compile(pipeline, card, sample)
    except NotCompilable:
        raise
    except Exception as exc:  # never let a converter's surprise escape
        raise NotCompilable(f"compiling to ONNX failed: {type(exc).__name__}: "
                            f"{_first_line(exc)}") from exc


def _compile(pipeline, card: ModelCard, sample: pd.DataFrame) -> bytes:
    from shipyard.serve import converters  # the ONNX tool chain is slow to import

    model = converters.build(pipeline, card.schema, card.task, card.classes)
    batch = batch_of(card.schema.model_frame(sample), card)
    expected = scores_python(pipeline, card, batch)
    chosen = {p.key: p.value for p in model.metadata_props}[converters.MODEL_INPUT]
    onnx = model.SerializeToString()
    try:
        return _verified(onnx, card, batch, expected, chosen)
    except ModelStepFailed as exc:
        first = exc
    # The other input type: ONNX Runtime may lack a kernel for the first (SVR has
    # none for double), or the model may compute otherwise than its choice implies.
    other = converters.FLOAT if chosen == converters.DOUBLE else converters.DOUBLE
    try:
        onnx = converters.build(pipeline, card.schema, card.task, card.classes, other)
        return _verified(onnx.SerializeToString(), card, batch, expected, other)
    except ModelStepFailed:
        raise first from None


def _verified(onnx: bytes, card: ModelCard, batch: Batch, expected: Scores,
              dtype: str) -> bytes:
    try:
        model = FastModel(onnx, card)
    except NotCompilable as exc:
        raise ModelStepFailed(str(exc)) from None
    _check_agreement(card, expected, model.scores(batch), dtype)
    return onnx


def _check_agreement(card: ModelCard, expected: Scores, got: Scores, dtype: str) -> None:
    if card.task == REGRESSION:
        y, onnx = expected.values, got.values
        gap = np.abs(onnx - y) / np.maximum(np.abs(y), 1.0)
        what, limit = "relative |Δy|", VALUE_TOLERANCE
    else:
        y, onnx = expected.proba, got.proba
        gap = np.abs(onnx - y)
        what, limit = "|Δp|", PROBA_TOLERANCE
    same_nan = np.isnan(y) & np.isnan(onnx)
    gap = np.where(same_nan, 0.0, gap)
    worst = float(np.max(gap)) if gap.size else 0.0
    if not worst <= limit:  # also true for NaN
        raise ModelStepFailed(f"ONNX ({dtype} model input) disagrees with the pipeline on "
                              f"the sample: max {what} = {worst:.1e} > {limit:.0e}")


class FastModel:
    """A compiled pipeline in an ONNX Runtime session, scoring batches like
    :func:`shipyard.serve.predict.predict`.

    ``threads`` is how many cores a large batch may use. The batch is cut into
    chunks that run side by side on that many Python threads (ONNX Runtime
    releases the GIL while it runs), and the session itself runs each chunk on
    one thread. Measured on 2 shared cores, this beat ONNX Runtime's own
    intra-op threads: those split every tree pass in lockstep, wait for the
    slower core and spin while waiting, and leave the preparation nodes on one
    core; whole chunks parallelise every node and degrade gracefully when
    another process takes a core. One row never pays for threads."""

    def __init__(self, onnx: bytes, card: ModelCard, threads: int = 1):
        self.card = card
        self.threads = max(1, int(threads))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # see the class docstring: threads run chunks
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no notes on stderr per session
        try:
            self._session = ort.InferenceSession(onnx, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise NotCompilable(f"ONNX Runtime cannot load the model: {_first_line(exc)}") \
                from None
        self._names = card.schema.names
        self._numeric = [c.name for c in card.schema.columns if c.numeric]
        self._output = VALUE if card.task == REGRESSION else PROBA
        self._outputs = [self._output]
        self._check_signature()
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def _check_signature(self) -> None:
        """Refuse a model whose inputs or output do not fit the card."""
        wanted = [(c.name, "tensor(string)" if c.kind == "string" else "tensor(double)")
                  for c in self.card.schema.columns]
        found = [(i.name, i.type) for i in self._session.get_inputs()]
        if found != wanted:
            raise NotCompilable(f"the ONNX model's inputs {_pairs(found)} do not match the "
                                f"card's {_pairs(wanted)}")
        outputs = {o.name: o for o in self._session.get_outputs()}
        out = outputs.get(self._output)
        if out is None or out.type != "tensor(double)":
            raise NotCompilable(f"the ONNX model has no double output '{self._output}' "
                                f"(it has {sorted(outputs)})")
        width = out.shape[1] if len(out.shape) == 2 else None
        expected = 1 if self.card.task == REGRESSION else len(self.card.classes)
        if isinstance(width, int) and width != expected:
            raise NotCompilable(f"the ONNX model gives {width} columns, the card expects "
                                f"{expected}")

    def scores(self, batch: Batch) -> Scores:
        """Same contract as ``serve.predict.predict(model, batch)``: ``proba`` (n,
        classes) float64 in ``card.classes`` order, or ``values`` (n,) float64."""
        n = batch.n_rows
        spans = self._spans(n)
        if len(spans) == 1:
            out = self._run(batch.columns)
        else:
            def part(span: tuple[int, int]) -> np.ndarray:
                return self._run({k: v[span[0]:span[1]] for k, v in batch.columns.items()})

            parts = list(self._pool.map(part, spans) if self._pool else map(part, spans))
            out = np.concatenate(parts)
        if self.card.task == REGRESSION:
            return Scores(values=out.reshape(-1))
        if out.shape != (n, len(self.card.classes)):
            raise RuntimeError(f"the ONNX model returned shape {out.shape} for {n} rows, but "
                               f"the model card lists {len(self.card.classes)} classes")
        return Scores(proba=out)

    def _spans(self, n: int) -> list[tuple[int, int]]:
        """Row ranges to run: one for small batches; chunks of at most CHUNK_ROWS,
        and at least one per thread once a batch is worth sharing."""
        size = CHUNK_ROWS
        if self._pool is not None and n >= SHARED_ROWS:
            size = min(size, -(-n // self.threads))
        return [(start, min(start + size, n)) for start in range(0, max(n, 1), size)]

    def _run(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        # Views, not copies: a Batch's numeric columns are already contiguous float64.
        feeds = {name: columns[name].reshape(-1, 1) for name in self._names}
        for name in self._numeric:
            if feeds[name].dtype != np.float64:
                feeds[name] = feeds[name].astype(np.float64)
        return self._session.run(self._outputs, feeds)[0]

    def close(self) -> None:
        """Stop the chunk threads (they also end with the process)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def scores_python(pipeline, card: ModelCard, batch: Batch) -> Scores:
    """What the Python pipeline says about ``batch``: the slow path, for comparison."""
    return predict(LoadedModel(pipeline=pipeline, card=card), batch)


def batch_of(frame: pd.DataFrame, card: ModelCard) -> Batch:
    """A model frame as the server's :class:`Batch`: one array per schema column."""
    columns = {}
    for col in card.schema.columns:
        values = frame[col.name]
        if col.numeric:
            columns[col.name] = np.ascontiguousarray(values.to_numpy(dtype=np.float64))
        else:
            columns[col.name] = values.to_numpy(dtype=object)
    return Batch(columns, len(frame))


def _pairs(pairs: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{name}: {kind.removeprefix('tensor(').rstrip(')')}"
                      for name, kind in pairs[:6])
    return "[" + shown + (", ..." if len(pairs) > 6 else "") + "]"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
