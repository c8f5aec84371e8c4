"""What the predictions are worth: maintenance policies replayed on the holdout.

For a target that counts the time left before an event (an engine's remaining
useful life, in flights), each held-out entity's rows are replayed in time
order under three policies:

- **no model**: nothing is inspected; every entity whose time left reaches 0
  has its event in service (an unscheduled removal, cancelled flights);
- **every N rows**: an inspection every ``interval`` rows of the entity;
- **the model**: an inspection when the prediction falls below ``act_below``.

An inspection finds the fault when the true time left is below ``finds_within``
(earlier, there is nothing to see yet); the entity then leaves service before
its event. One that finds nothing lets the entity fly on, and no new inspection
comes for ``recheck_after`` rows. Each policy's cost is its inspections times
``action_cost`` plus its events in service times ``event_cost``. The counts come
from the holdout's true labels, so they can be checked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard.spec.options import Costs

COLUMNS = ["policy", "inspections", "faults found", "events in service", "cost"]


@dataclass(frozen=True)
class _Tally:
    inspections: int = 0
    found: int = 0
    events: int = 0


def table(spec: Costs, entity: np.ndarray, time: np.ndarray, y_true: np.ndarray,
          y_pred: np.ndarray) -> pd.DataFrame:
    """One row per policy (``COLUMNS``), the model's last; ``attrs`` holds the
    entities replayed and how many had their event."""
    frame = pd.DataFrame({"e": entity, "t": time, "y": np.asarray(y_true, dtype=np.float64),
                          "p": np.asarray(y_pred, dtype=np.float64)})
    frame = frame.sort_values(["e", "t"], kind="stable")
    none = every = model = _Tally()
    entities = failed = 0
    for _, rows in frame.groupby("e", sort=False):
        truth, predicted = rows["y"].to_numpy(), rows["p"].to_numpy()
        entities += 1
        fails = bool(truth[-1] <= 0)
        failed += fails
        none = _add(none, 0, False, fails)
        steps = np.arange(1, len(truth) + 1)
        every = _add(every, *_replay(truth, steps % spec.interval == 0, spec), fails)
        model = _add(model, *_replay(truth, predicted < spec.act_below, spec), fails)
    names = ["no model", f"inspect every {spec.interval} rows",
             f"the model (inspect below {spec.act_below:g})"]
    out = pd.DataFrame([[name, t.inspections, t.found, t.events,
                         t.inspections * spec.action_cost + t.events * spec.event_cost]
                        for name, t in zip(names, (none, every, model), strict=True)],
                       columns=COLUMNS)
    out.attrs.update(entities=entities, failed=failed, currency=spec.currency)
    return out


def _replay(truth: np.ndarray, wants: np.ndarray, spec: Costs) -> tuple[int, bool]:
    """(inspections, fault found) for one entity under a policy that asks for an
    inspection where ``wants`` is true."""
    inspections, last = 0, -np.inf
    for i in np.flatnonzero(wants):
        if i - last < spec.recheck_after:
            continue
        inspections, last = inspections + 1, i
        if truth[i] < spec.finds_within:
            return inspections, True
    return inspections, False


def _add(tally: _Tally, inspections: int, found: bool, fails: bool) -> _Tally:
    return _Tally(tally.inspections + inspections, tally.found + found,
                  tally.events + (fails and not found))


def money(value: float, costs: pd.DataFrame) -> str:
    """``value`` in the table's currency: ``912,000 USD``."""
    unit = costs.attrs.get("currency") or ""
    return f"{value:,.0f}{' ' + unit if unit else ''}"


def summary(costs: pd.DataFrame) -> str:
    """One sentence: what the model saves against the other policies."""
    model, none, every = costs.iloc[-1], costs.iloc[0], costs.iloc[1]

    fewer = 1 - model["events in service"] / none["events in service"] \
        if none["events in service"] else 0.0
    return (f"On {costs.attrs.get('entities', 0)} held-out entities "
            f"({costs.attrs.get('failed', 0)} reached their event): the model leaves "
            f"{model['events in service']} events in service against "
            f"{none['events in service']} with no model ({fewer:.0%} fewer) and "
            f"{every['events in service']} with {every['policy']}, for "
            f"{model['inspections']} inspections; it costs {money(model['cost'], costs)} against "
            f"{money(none['cost'], costs)} and {money(every['cost'], costs)}.")
