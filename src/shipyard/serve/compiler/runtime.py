"""The compiled pipeline at serving time: :class:`FastModel` scores a validated
:class:`Batch` in ONNX Runtime straight from its column arrays: no pandas, no
copies of numeric columns."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pandas as pd

from shipyard.card import LoadedModel, ModelCard
from shipyard.metrics import ANOMALY, REGRESSION
from shipyard.serve.compiler.graph import PROBA, PYTHON_STEPS, VALUE, NotCompilable, first_line
from shipyard.serve.predict import Batch, Scores, predict, to_frame

CHUNK_ROWS = 16_384  # large batches run in chunks: intermediate matrices stay in cache
_F64 = np.dtype(np.float64)
_VALUES = (REGRESSION, ANOMALY)  # tasks whose graph answers one value per row
SHARED_ROWS = 4_096  # from this many rows a batch is shared among FastModel's threads


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
    another process takes a core. One row never pays for threads.

    A graph whose metadata names leading Python steps (series windows, date
    parts) needs ``pipeline``: those fitted steps run first, on a frame, and the
    graph scores their output."""

    def __init__(self, onnx: bytes, card: ModelCard, threads: int = 1, pipeline=None):
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
            raise NotCompilable(f"ONNX Runtime cannot load the model: {first_line(exc)}") \
                from None
        self._prefix = self._python_steps(pipeline)
        inputs = self._session.get_inputs()
        self._names = [i.name for i in inputs]
        self._numeric = [i.name for i in inputs if i.type == "tensor(double)"]
        self._output = VALUE if card.task in _VALUES else PROBA
        self._outputs = [self._output]
        self._check_signature()
        # The session's own run, without the Python wrapper's check that every input is
        # fed (~17 µs a call for 21 inputs, a third of a one-row request's scoring): the
        # feeds are built from the inputs checked above, so none can be missing.
        self._call = getattr(getattr(self._session, "_sess", None), "run", None) or \
            self._session.run
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def _python_steps(self, pipeline) -> list:
        meta = self._session.get_modelmeta().custom_metadata_map
        names = json.loads(meta.get(PYTHON_STEPS, "[]"))
        if not names:
            return []
        inner = getattr(pipeline, "estimator_", getattr(pipeline, "estimator", pipeline))
        steps = dict(getattr(inner, "steps", None) or getattr(pipeline, "steps", None) or [])
        missing = [n for n in names if n not in steps]
        if missing:
            raise NotCompilable(f"the ONNX model starts after the pipeline's Python steps "
                                f"{names}, and the pipeline has no {missing}")
        return [steps[n] for n in names]

    def _check_signature(self) -> None:
        """Refuse a model whose inputs or output do not fit the card (after a Python
        prefix, the inputs are the prefix's output: only their types are known)."""
        found = [(i.name, i.type) for i in self._session.get_inputs()]
        if self._prefix:
            wanted = [(n, t) for n, t in found if t in ("tensor(string)", "tensor(double)")]
        else:
            wanted = [(c.name, "tensor(string)" if c.kind == "string" else "tensor(double)")
                      for c in self.card.schema.columns]
        if found != wanted:
            raise NotCompilable(f"the ONNX model's inputs {_pairs(found)} do not match the "
                                f"card's {_pairs(wanted)}")
        outputs = {o.name: o for o in self._session.get_outputs()}
        out = outputs.get(self._output)
        if out is None or out.type != "tensor(double)":
            raise NotCompilable(f"the ONNX model has no double output '{self._output}' "
                                f"(it has {sorted(outputs)})")
        width = out.shape[1] if len(out.shape) == 2 else None
        expected = 1 if self.card.task in _VALUES else len(self.card.classes)
        if isinstance(width, int) and width != expected:
            raise NotCompilable(f"the ONNX model gives {width} columns, the card expects "
                                f"{expected}")

    def scores(self, batch: Batch) -> Scores:
        """Same contract as ``serve.predict.predict(model, batch)``: ``proba`` (n,
        classes) float64 in ``card.classes`` order, or ``values`` (n,) float64."""
        if self._prefix:
            batch = self._through_prefix(batch)
        return self._graph(batch)

    def scores_after_series(self, columns: dict[str, np.ndarray], n: int) -> Scores:
        """Scores from the first Python step's output (the series features the server
        computed from its history store), in that step's column order."""
        if len(self._prefix) > 1:
            frame = pd.DataFrame(columns)
            for step in self._prefix[1:]:
                frame = step.transform(frame)
            numeric = set(self._numeric)
            return self._graph(_arrays(frame, [(name, name in numeric) for name in self._names]))
        numeric = set(self._numeric)
        feeds = {name: (np.ascontiguousarray(columns[name], dtype=np.float64)
                        if name in numeric else np.asarray(columns[name], dtype=object))
                 for name in self._names}
        return self._graph(Batch(feeds, n))

    def _graph(self, batch: Batch) -> Scores:
        n = batch.n_rows
        spans = self._spans(n)
        if len(spans) == 1:
            out = self._run(batch.columns)
        else:
            def part(span: tuple[int, int]) -> np.ndarray:
                return self._run({k: v[span[0]:span[1]] for k, v in batch.columns.items()})

            parts = list(self._pool.map(part, spans) if self._pool else map(part, spans))
            out = np.concatenate(parts)
        if self.card.task in _VALUES:
            return Scores(values=out.reshape(-1))
        if out.shape != (n, len(self.card.classes)):
            raise RuntimeError(f"the ONNX model returned shape {out.shape} for {n} rows, but "
                               f"the model card lists {len(self.card.classes)} classes")
        return Scores(proba=out)

    def _through_prefix(self, batch: Batch) -> Batch:
        frame = to_frame(batch)
        for step in self._prefix:
            frame = step.transform(frame)
        numeric = set(self._numeric)
        return _arrays(frame, [(name, name in numeric) for name in self._names])

    def probe(self) -> Scores:
        """The graph alone on one all-missing row (every pipeline imputes): a check
        at load that it runs and answers in shape."""
        feeds = {name: (np.array([[np.nan]]) if name in self._numeric
                        else np.array([[""]], dtype=object)) for name in self._names}
        out = self._session.run(self._outputs, feeds)[0]
        if self.card.task in _VALUES:
            return Scores(values=out.reshape(-1))
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
            if feeds[name].dtype is not _F64:  # `is`: comparing with np.float64 costs ~1 µs
                feeds[name] = feeds[name].astype(np.float64)
        return self._call(self._outputs, feeds, None)[0]

    def close(self) -> None:
        """Stop the chunk threads (they also end with the process)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def scores_python(pipeline, card: ModelCard, batch: Batch) -> Scores:
    """What the Python pipeline says about ``batch``: the slow path, for comparison."""
    return predict(LoadedModel(pipeline=pipeline, card=card), batch)


def batch_of(frame: pd.DataFrame, card: ModelCard) -> Batch:
    """A model frame as the server's :class:`Batch`: one array per schema column."""
    return _arrays(frame, [(c.name, c.numeric) for c in card.schema.columns])


def _arrays(frame: pd.DataFrame, columns: list[tuple[str, bool]]) -> Batch:
    """The named columns of ``frame``: contiguous float64 when numeric, else objects."""
    out = {}
    for name, numeric in columns:
        values = frame[name]
        out[name] = (np.ascontiguousarray(values.to_numpy(dtype=np.float64)) if numeric
                     else values.to_numpy(dtype=object))
    return Batch(out, len(frame))


def _pairs(pairs: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{name}: {kind.removeprefix('tensor(').rstrip(')')}"
                      for name, kind in pairs[:6])
    return "[" + shown + (", ..." if len(pairs) > 6 else "") + "]"
