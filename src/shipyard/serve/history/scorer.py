"""Scoring raw readings: store each one, read its entity's recent history, compute
the series features there and score the row.

The features come from the fitted series step's own ``features_at`` (the
computation training ran over every row), on the rows the store returns; the
rest of the pipeline runs on the compiled fast path when the version has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from shipyard.prepare.series import SeriesFeatures, series_step
from shipyard.serve.companions import merge
from shipyard.serve.history.store import HistoryStore, Layout, numbers_of, texts_of
from shipyard.serve.predict import Batch, Scores, predict_frame

DEFAULT_RETENTION = 200


@dataclass
class Stateful:
    """Scores a :class:`Batch` of readings for one model version, keeping history.

    ``fast`` is the version's FastModel (None: the Python pipeline scores)."""

    model: object  # LoadedModel
    store: HistoryStore
    retention: int | None = None
    fast: object = None

    def __post_init__(self):
        self.step = series_step(self.model.pipeline)
        self.need = self.step.history_rows()
        self.keep = max(self.need, self.retention or DEFAULT_RETENTION)
        card = self.model.card
        roles = (self.step.entity, self.step.time)
        kinds = {c.name: c for c in card.schema.columns}
        self.time_kind = kinds[self.step.time].kind
        self.layout = Layout(
            tuple(c.name for c in card.schema.columns if c.numeric and c.name not in roles),
            tuple(c.name for c in card.schema.columns if c.kind == "string"
                  and c.name not in roles))
        self.layout_id = None
        inner = getattr(self.model.pipeline, "estimator_", self.model.pipeline)
        self.rest = inner[1:]  # everything after the series step (a view of the pipeline)
        self.wanted = self.step.history_columns()
        self.companions = ()  # they read the same history (serve.companions)

    def describe(self) -> dict:
        return {"entity": self.step.entity, "time": self.step.time,
                "history_rows": self.need, "retention": self.keep}

    def readings(self, batch: Batch) -> list[tuple]:
        """The batch's rows as the store keeps them: (entity, time, layout, numbers, texts)."""
        if self.layout_id is None:
            self.layout_id = self.store.layout_id(self.layout)
        cols = batch.columns
        entities = [entity_key(v) for v in cols[self.step.entity].tolist()]
        times = time_values(cols[self.step.time], self.time_kind)
        if self.layout.numbers:
            block = np.column_stack([cols[n] for n in self.layout.numbers]).astype(np.float64)
            numbers = [row.tobytes() for row in block]
        else:
            numbers = [b""] * batch.n_rows
        if self.layout.texts:
            texts = [orjson.dumps(list(row)).decode() for row in
                     zip(*(cols[n].tolist() for n in self.layout.texts), strict=True)]
        else:
            texts = [None] * batch.n_rows
        return [(e, t, self.layout_id, b, x)
                for e, t, b, x in zip(entities, times, numbers, texts, strict=True)]

    def score(self, batch: Batch) -> Scores:
        readings = self.readings(batch)
        recorded = self.store.record(readings, self.need, self.keep)
        blocks, first, at, elapsed, extra = [], [], [], [], []
        start = 0
        for i, (entity, *_rest) in enumerate(readings):
            entity_rows = recorded[entity]
            end = entity_rows.at[i] + 1
            rows = entity_rows.rows[max(0, end - self.need):end]
            blocks.append(rows)
            first.append(np.full(len(rows), start))
            at.append(start + len(rows) - 1)
            elapsed.extend(r.pos for r in rows)
            newest = rows[-1]
            known = newest.pos + 1  # readings of the entity so far, this one included
            item = {"history_rows": min(known, self.need)}
            if len(rows) < min(known, self.need):
                item["history_note"] = (
                    f"the windows read {self.need} readings; {len(rows)} of this entity's "
                    f"{known} are kept, so the features use those")
            if not entity_rows.new[i]:
                item["duplicate"] = True
            extra.append(item)
            start += len(rows)
        flat = [r for rows in blocks for r in rows]
        history = numbers_of(flat, self.store.layout, [c for c in self.wanted
                                                        if c not in self.layout.texts])
        for name in self.wanted:
            if name in self.layout.texts:
                history[name] = texts_of(flat, self.store.layout, name)
        first, at = np.concatenate(first), np.asarray(at)
        elapsed = np.asarray(elapsed, dtype=np.float64)
        features = self.step.features_at(history, first, at, elapsed)
        for name in self.step.passthrough_:
            features[name] = batch.columns[name]
        scores = self._rest(features, batch.n_rows)
        if self.companions:
            extra = merge(extra, [c.score_history(history, first, at, elapsed, batch)
                                  for c in self.companions], batch.n_rows)
        names = self.step.feature_names_out_
        return Scores(values=scores.values, proba=scores.proba, extra=extra,
                      features={k: features[k] for k in names})

    def _rest(self, features: dict[str, np.ndarray], n: int) -> Scores:
        return after_series(self.step, self.rest, self.fast, self.model.card, features, n)


def after_series(step: SeriesFeatures, rest, fast, card, features: dict[str, np.ndarray],
                 n: int) -> Scores:
    """The scores of the pipeline steps after ``step`` on its ``features``: the compiled
    graph (``fast``, a FastModel) when there is one, else ``rest``, the Python steps."""
    names = list(step.feature_names_out_)
    if fast is not None:
        return fast.scores_after_series({k: features[k] for k in names}, n)
    return predict_frame(rest, card, pd.DataFrame({k: features[k] for k in names}), n)


def entity_key(value) -> str:
    """An entity's identifier as the store keys it: 7 and 7.0 are the same engine."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def time_values(values: np.ndarray, kind: str) -> list[float]:
    """Times as the store orders them: numbers as sent, date-times in epoch µs."""
    if kind == "datetime":
        return (values.astype("datetime64[us]").astype(np.int64)).astype(np.float64).tolist()
    return np.asarray(values, dtype=np.float64).tolist()
