"""What a retraining challenger's run is made of, in one place so that a cycle
and its reproduction build it alike: the budget it trains with and the recent
holdout on which it meets the champion.

The recent holdout: both must be judged on what the model will meet next, which is what came in
last: ``retrain.recent.share`` of the entities seen in the last
``retrain.recent.span`` of the data (its latest time, not the wall clock) are
held out. All of their rows are kept from training, so the challenger has
never seen them; their rows within the span are scored, the earlier ones are
context (an entity's history, which window features need). Without an entity,
a share of the recent rows is held out; without a time column, every row counts
as recent.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from shipyard.errors import DataError
from shipyard.prepare import Dataset
from shipyard.spec import Project
from shipyard.spec.monitoring import Recent, seconds

SPLIT_FILE = "split.json"  # a challenger's run: which rows trained, which judged
WARM_FILE = "warm.json"  # a challenger's run: the parameters it started from


def budget(project: Project, estimator: str) -> Project:
    """The project with ``retrain.trials`` as its tuning budget, when given, and only
    the champion's kind of model (``estimator``) when ``retrain.models`` says so."""
    update = {}
    if project.retrain.trials is not None:
        update["tuning"] = project.tuning.model_copy(update={"trials": project.retrain.trials})
    if project.retrain.models == "champion":
        same = [m for m in project.models if m.name == estimator]
        update["models"] = same or project.models  # a champion of a model no longer listed
    return project.model_copy(update=update) if update else project


def split_record(fit_rows: np.ndarray, holdout_rows: np.ndarray,
                 scored: np.ndarray | None) -> dict:
    """Which rows trained and which judged, as a challenger's run keeps it: the
    counts and one digest of the positions (a replay must split alike)."""
    digest = hashlib.sha256()
    for part in (fit_rows, holdout_rows, np.ones(0) if scored is None else scored):
        digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes() + b"|")
    return {"policy": "recent", "fit_rows": len(fit_rows), "holdout_rows": len(holdout_rows),
            "scored_rows": len(holdout_rows) if scored is None else int(np.sum(scored)),
            "digest": digest.hexdigest()}


def recent(ds: Dataset, policy: Recent, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray | None]:
    """(training rows, holdout rows, which holdout rows are scored) of ``ds``."""
    in_span = np.ones(len(ds), dtype=bool) if ds.times is None else \
        _in_span(ds.times, policy.span)
    rng = np.random.default_rng(seed)
    if ds.groups is not None:
        entities = pd.unique(ds.groups[in_span])
        chosen = rng.choice(entities, size=_count(len(entities), policy.share, "entities"),
                            replace=False)
        held = np.isin(ds.groups, chosen)
    else:
        candidates = np.flatnonzero(in_span)
        held = np.zeros(len(ds), dtype=bool)
        held[rng.choice(candidates, size=_count(len(candidates), policy.share, "rows"),
                        replace=False)] = True
    if held.all():
        raise DataError("The recent holdout would take every row, leaving none to train on",
                        hint="lower retrain.recent.share or widen retrain.window")
    holdout_rows = np.flatnonzero(held)
    scored = in_span[holdout_rows]
    return np.flatnonzero(~held), holdout_rows, None if scored.all() else scored


def _in_span(times: np.ndarray, span: str) -> np.ndarray:
    values = pd.Series(times)
    if pd.api.types.is_numeric_dtype(values):  # epoch seconds
        numbers = values.astype(float)
        return (numbers >= numbers.max() - seconds(span)).to_numpy()
    stamps = pd.to_datetime(values, errors="coerce", utc=values.dtype == object)
    if stamps.isna().all():
        raise DataError("The time column holds no readable time: the recent holdout cannot "
                        "be found", hint="cast the time column to a timestamp in source.query")
    return (stamps >= stamps.max() - pd.Timedelta(seconds=seconds(span))).to_numpy()


def _count(available: int, share: float, what: str) -> int:
    if available < 2:
        raise DataError(f"Too few recent {what} ({available}) for a recent holdout",
                        hint="widen retrain.recent.span, or gather more recent data")
    return min(available - 1, max(1, round(available * share)))
