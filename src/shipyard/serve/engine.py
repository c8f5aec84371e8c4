"""The model as the server runs it: the ONNX fast path when the registry holds a
verified one, else the Python pipeline, and why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, partial

import numpy as np

from shipyard.card import LoadedModel, ModelCard
from shipyard.serve import predict
from shipyard.serve.inputs import Batch

log = logging.getLogger("shipyard.serve")

ONNX, PYTHON = "onnx", "python"


@dataclass(frozen=True)
class Engine:
    """One loaded model version and the scorer that answers for it."""

    model: LoadedModel
    score: Callable[[Batch], predict.Scores]
    path: str  # ONNX or PYTHON
    note: str  # why the Python pipeline serves, when it does
    probe: Callable[[], predict.Scores] | None = None  # the compiled graph on a probe row
    fast: object = None  # the FastModel behind `score` on the ONNX path
    history: object = None  # shipyard.serve.history.Stateful: readings scored from history
    companions: tuple = ()  # shipyard.serve.companions.Companion: they answer each row too

    @property
    def stateful(self) -> bool:
        return self.history is not None

    @cached_property
    def extra(self) -> frozenset[str]:
        """Keys every request row carries besides the inputs: the entity, when the
        model has one and does not take it as an input."""
        entity = self.card.entity
        return frozenset([entity]) if entity and entity not in self.card.schema.names \
            else frozenset()

    @cached_property
    def expected(self) -> frozenset[str]:
        """Every key a request row carries: the inputs and the extra keys."""
        return frozenset(self.card.schema.names) | self.extra

    @cached_property
    def required(self) -> tuple[str, ...]:
        """Keys that may not be null: the entity; and the time when readings are
        scored from history."""
        out = (self.card.entity,) if self.card.entity else ()
        if self.history is not None:
            out = tuple(dict.fromkeys((self.history.step.entity, *out,
                                       self.history.step.time)))
        return out

    @property
    def card(self) -> ModelCard:
        return self.model.card

    def describe(self) -> dict:
        """The path, why not ONNX when it is not, and where each pipeline step runs."""
        from shipyard.serve.compiler import listing

        out = {"path": self.path, **({"note": self.note} if self.note else {}),
               "steps": listing(self.model.pipeline, compiled=self.path == ONNX)}
        if self.companions:
            out["companions"] = {c.key: c.describe() for c in self.companions}
        if self.history is not None:
            out["history"] = self.history.describe()
        return out


def engine_for(model: LoadedModel, fast: bool = True, companions: tuple = ()) -> Engine:
    """An engine for ``model``, with ``companions`` answering each row too. An ONNX
    engine is checked on a probe row first and replaced by the Python pipeline if
    it fails. (The pipeline itself is not probed: steps such as per-entity series
    features rightly refuse a row with no entity, and the pipeline is the one that
    was evaluated.)"""
    engine = _choose(model, fast)
    if engine.path == ONNX:
        try:
            check(engine)
        except Exception as exc:
            note = f"the ONNX model failed its check at load ({exc}); serving the pipeline"
            log.warning("version %s: %s", model.card.version, note)
            engine = _python(model, note)
    if engine.path == PYTHON:
        log.info("version %s serves the Python pipeline: %s", model.card.version, engine.note)
    if companions:
        from shipyard.serve import companions as companion

        companion.check(companions, model.card)
        engine = replace(engine, score=partial(_with_companions, engine.score, companions),
                         companions=companions)
    return engine


def _with_companions(score, companions, batch: Batch) -> predict.Scores:
    from shipyard.serve.companions import merge

    scores = score(batch)
    extra = merge(scores.extra, [c.score(batch) for c in companions], batch.n_rows)
    return replace(scores, extra=extra)


def _choose(model: LoadedModel, fast: bool) -> Engine:
    if not fast:
        return _python(model, "the fast path is off (serve.fast_path: false)")
    if model.onnx is None:
        return _python(model, model.fast_note or "no ONNX form was registered")
    from shipyard.serve.compiler import FastModel, NotCompilable

    try:
        scorer = FastModel(model.onnx, model.card, pipeline=model.pipeline)
    except NotCompilable as exc:
        return _python(model, f"the registered ONNX model does not load: {exc}")
    return Engine(model, scorer.scores, ONNX, "", scorer.probe, fast=scorer)


def _python(model: LoadedModel, note: str) -> Engine:
    return Engine(model, partial(predict.predict, model), PYTHON, note)


def check(engine: Engine) -> None:
    """Score one all-missing row (every pipeline imputes) and check the shape and
    that every number is finite. A graph after Python steps is probed alone: those
    steps (per-entity windows) rightly refuse a row with no entity."""
    if engine.probe is not None:
        finite(engine.probe())
        return
    columns = {}
    for col in engine.card.schema.columns:
        if col.kind == "datetime":
            columns[col.name] = np.array(["NaT"], dtype="datetime64[ns]")
        elif col.numeric:
            columns[col.name] = np.array([np.nan])
        else:
            columns[col.name] = np.array([""], dtype=object)
    scores = engine.score(Batch(columns, 1))
    finite(scores)


def finite(scores: predict.Scores) -> None:
    """Refuse scores JSON cannot carry: NaN or infinity from a broken model."""
    out = scores.proba if scores.proba is not None else scores.values
    if not np.isfinite(out).all():
        raise RuntimeError("the model returned NaN or infinity")
