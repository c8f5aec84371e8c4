"""Ground truth from the project's own data: ``monitor.outcomes``.

The ``query`` runs on the project's source (like ``source.query``); its rows
are joined in DuckDB to the logged predictions on the ``on`` columns (logged
input columns, e.g. the entity), and ``label``, a SQL expression, is each
matched prediction's true value. In it, ``p`` is the logged prediction (its
inputs, ``request_id``, ``ts`` in epoch seconds — ``to_timestamp(p.ts)`` —,
``model_version``, ``prediction``, ``score``) and ``o`` the outcome row, e.g.::

    monitor:
      outcomes:
        query: SELECT engine_id, removed_at FROM removals
        on: [engine_id]
        label: o.removed_at <= to_timestamp(p.ts) + INTERVAL 30 DAY

A NULL label leaves the prediction unlabelled. The labels are stored as
feedback with source "outcomes"; running it again stores nothing new, and a
prediction already labelled otherwise keeps its label (the clash is reported).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from shipyard.data import sources
from shipyard.errors import MonitorError
from shipyard.metrics import ANOMALY, CLASSIFICATION
from shipyard.monitor import labels
from shipyard.monitor.store import FeedbackError, LogStore

_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
SHOWN = 5  # examples named in a message


class OutcomesError(MonitorError):
    """``monitor.outcomes`` cannot be applied: a missing column, a failing label."""


@dataclass(frozen=True)
class Joined:
    outcomes: int  # rows the query returned
    matched: int = 0  # logged predictions that matched an outcome row
    labelled: int = 0  # labels stored now
    unchanged: int = 0  # matched predictions that already had that label
    unresolved: int = 0  # matched, but the label expression gave NULL
    conflicts: list[dict] = field(default_factory=list)  # labelled otherwise before: kept
    ambiguous: list[str] = field(default_factory=list)  # several different labels: skipped

    def to_dict(self) -> dict:
        return asdict(self)


def join(project, store: LogStore, card=None, last: int | None = None) -> Joined:
    """Label logged predictions from ``project.monitor.outcomes`` (only the ``last``
    ones when given: a monitoring pass needs no more, and the log grows without
    end). ``card`` (the model's) checks the labels' kind; without it any plain
    value is taken."""
    settings = project.monitor.outcomes
    if settings is None:
        raise OutcomesError("The project has no monitor.outcomes to join",
                            hint="add monitor.outcomes {query, on, label} to the project file")
    source = project.source.model_copy(update={"query": settings.query})
    found = sources.read(source, project.root)  # a broken query: SourceError, with the query
    lacking = [c for c in settings.on if c not in found.column_names]
    if lacking:
        raise OutcomesError(
            f"monitor.outcomes.on names {_names(lacking)}, which the outcomes query does not "
            f"return", details=[f"it returns: {', '.join(found.column_names)}"],
            hint="select those columns in monitor.outcomes.query")
    logged = store.predictions(last=last)
    if logged.empty:
        return Joined(outcomes=found.num_rows)
    lacking = [c for c in settings.on if c not in logged.columns]
    if lacking:
        raise OutcomesError(
            f"monitor.outcomes.on names {_names(lacking)}, which the logged predictions do not "
            f"have", details=[f"logged inputs: {', '.join(map(str, logged.columns[8:]))}"],
            hint="join on model inputs or the entity key, which requests carry")
    pairs = _evaluate(found, _joinable(logged), settings)
    return _store(store, logged, pairs, found.num_rows, card)


def _joinable(logged: pd.DataFrame) -> pd.DataFrame:
    """The logged columns DuckDB can take: nested values (objects, lists) are left out."""
    keep = [c for c in logged.columns if c not in ("label", "labelled_at")
            and not (logged[c].dtype == object
                     and logged[c].map(lambda v: isinstance(v, dict | list)).any())]
    return logged[keep]


def _evaluate(found, logged: pd.DataFrame, settings) -> list[tuple[str, Any]]:
    on = " AND ".join(f"p.{_quoted(c)} = o.{_quoted(c)}" for c in settings.on)
    query = (f"SELECT p.request_id, ({settings.label}) AS label FROM logged AS p "
             f"JOIN outcomes AS o ON {on}")
    with duckdb.connect(config=_OFFLINE) as con:
        con.register("outcomes", found)
        con.register("logged", logged)
        try:
            return con.sql(query).fetchall()
        except duckdb.Error as exc:
            raise OutcomesError("The outcomes' label expression failed",
                                details=[str(exc).strip().splitlines()[0],
                                         f"label: {settings.label}", f"as run: {query}"],
                                hint="fix monitor.outcomes.label: a DuckDB expression over p "
                                     "(the logged prediction) and o (the outcome row)") from exc


def _store(store: LogStore, logged: pd.DataFrame, pairs, n_outcomes: int, card) -> Joined:
    by_id: dict[str, list] = {}
    for rid, value in pairs:
        by_id.setdefault(rid, [])
        if value is not None:
            by_id[rid].append(_plain(value, card))
    check = labels.checker(card) if card is not None else _scalar
    wanted, ambiguous, invalid = {}, [], []
    for rid, values in by_id.items():
        distinct = [v for i, v in enumerate(values)
                    if not any(labels.same(v, w) for w in values[:i])]
        if len(distinct) > 1:
            ambiguous.append(rid)
        elif distinct:
            problem = check(distinct[0])
            if problem:
                invalid.append(f"request id {rid!r}: {problem}")
            else:
                wanted[rid] = distinct[0]
    if invalid:
        raise OutcomesError(f"The outcomes' label expression gave {len(invalid)} label(s) that "
                            f"do not fit the model", details=invalid[:SHOWN],
                            hint="make monitor.outcomes.label give the target's values")
    have = logged.loc[logged["labelled_at"].notna(), ["request_id", "label"]]
    have = dict(zip(have["request_id"], have["label"], strict=True))
    kept = {rid for rid, label in wanted.items() if rid in have and labels.same(have[rid], label)}
    conflicts = [{"request_id": rid, "label": have[rid], "sent": label}
                 for rid, label in wanted.items() if rid in have and rid not in kept]
    new = [(rid, label) for rid, label in wanted.items() if rid not in have]
    stored = 0
    while new:
        try:
            stored = store.add_feedback(new, source="outcomes")
            break
        except FeedbackError as exc:  # labelled by someone else meanwhile
            if not exc.conflicts:
                raise
            clashing = {c["request_id"] for c in exc.conflicts}
            conflicts += exc.conflicts
            new = [(rid, label) for rid, label in new if rid not in clashing]
    return Joined(outcomes=n_outcomes, matched=len(by_id), labelled=stored,
                  unchanged=len(kept), unresolved=sum(1 for v in by_id.values() if not v),
                  conflicts=conflicts, ambiguous=ambiguous)


def _plain(value: Any, card) -> Any:
    """A DuckDB value as the JSON value a label is: Decimal -> float; for models with
    whole-number classes 1.0 -> 1, for anomaly detectors 0/1 -> false/true."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, np.generic):
        value = value.item()
    if card is None:
        return value
    if card.task == ANOMALY and type(value) in (int, float) and value in (0, 1):
        return bool(value)
    if card.task in CLASSIFICATION and type(value) is float and value.is_integer() and \
            any(type(c) is int or isinstance(c, np.integer) for c in card.classes):
        return int(value)
    return value


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | bool | int | float):
        return None
    return f"label {labels.describe(value)} is not a text, number or boolean"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
