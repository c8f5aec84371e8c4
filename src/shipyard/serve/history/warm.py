"""Warm start: the history store filled from the project's own SQL, so the first
reading after a deployment already has its entity's history."""

from __future__ import annotations

import logging

import numpy as np
import orjson

from shipyard.serve.history.scorer import Stateful, entity_key, time_values

log = logging.getLogger("shipyard.serve")


def from_source(project, history: Stateful) -> int:
    """Run ``serve.history.query`` (default ``source.query``) and store each entity's
    newest readings (as many as the store keeps); the number of rows added."""
    from shipyard import data

    settings = project.serve.history
    query = settings.query or project.source.query
    source = project.source.model_copy(update={"query": query})
    frame = data.to_frame(data.sources.read(source, project.root))
    step = history.step
    for role in (step.entity, step.time):
        if role not in frame.columns:
            raise ValueError(f"serve.history: the warm-start query has no column '{role}'")
    frame = frame.dropna(subset=[step.entity, step.time]).sort_values(
        [step.entity, step.time], kind="stable")
    keys = np.array([entity_key(v) for v in frame[step.entity].tolist()], dtype=object)
    kind = next(c.kind for c in history.model.card.schema.columns if c.name == step.time)
    times = time_values(frame[step.time].to_numpy(), kind)
    # Each row's place in its entity's whole history: the store's `pos`.
    codes = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.array([], dtype=bool)
    starts = np.maximum.accumulate(np.where(codes, np.arange(len(keys)), 0))
    pos = np.arange(len(keys)) - starts
    counts = np.bincount(np.cumsum(codes) - 1)[np.cumsum(codes) - 1] if len(keys) else pos
    keep = pos >= counts - history.keep
    layout = history.layout
    numbers = np.column_stack([frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
                               if c in frame.columns else np.full(len(frame), np.nan)
                               for c in layout.numbers]) if layout.numbers \
        else np.zeros((len(frame), 0))
    if history.layout_id is None:
        history.layout_id = history.store.layout_id(layout)
    kept = np.flatnonzero(keep)
    texts = [None] * len(kept)
    if layout.texts:  # column by column: per-row .iloc lookups cost seconds on a fleet
        columns = [[None if v is None or v != v else str(v)  # missing stays missing
                    for v in frame[c].to_numpy(dtype=object)[kept]]
                   if c in frame.columns else [""] * len(kept) for c in layout.texts]
        texts = [orjson.dumps(list(row)).decode() for row in zip(*columns, strict=True)]
    rows = [{"entity": keys[i], "t": times[i], "pos": int(pos[i]),
             "layout": history.layout_id, "numbers": numbers[i].tobytes(), "texts": text}
            for i, text in zip(kept, texts, strict=True)]
    added = history.store.fill(rows)
    log.info("history store: %d readings added from the source (%d entities)", added,
             len(set(keys.tolist())))
    return added
