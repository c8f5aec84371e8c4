"""When to train a challenger: the project's ``retrain`` policy judged on the
latest monitoring pass.

Each trigger that fires gives one reason in words a person reads in the
decision table; no reason means the cycle stops there. A metric trigger looks
at the live metrics (from labels that have arrived) and, for a metric the pass
could only estimate (a binary classifier's before its labels arrive), at the
estimate, saying so.
"""

from __future__ import annotations

import math
import time

from shipyard.metrics import METRICS
from shipyard.spec.monitoring import MetricTrigger, Retrain


def reasons(policy: Retrain, last_pass: dict | None, new_labels: int, *,
            force: bool = False, now: float | None = None) -> list[str]:
    """Why a challenger should be trained now (empty: it should not).

    ``last_pass`` is a monitoring pass (``Pass.to_dict()``) of the champion, or
    None; ``new_labels`` counts the labels received since the champion was
    promoted."""
    out = ["forced (--force)"] if force else []
    if last_pass is not None and not last_pass.get("empty", False):
        age = _age(last_pass, time.time() if now is None else now)
        if policy.on_drift and (drift := last_pass.get("drift")) and drift.get("dataset_drift"):
            out.append(_drift_reason(drift) + age)
        for trigger in policy.metrics:
            if (why := _metric_reason(trigger, last_pass)) is not None:
                out.append(why + age)
    if policy.new_labels is not None and new_labels >= policy.new_labels:
        out.append(f"{new_labels:,} new labelled rows since the champion was promoted "
                   f"(retrain.new_labels: {policy.new_labels:,})")
    return out


def _drift_reason(drift: dict) -> str:
    features = drift.get("features") or []
    drifted = [f["feature"] for f in features if f.get("drifted")]
    shown = ", ".join(drifted[:5]) + (", ..." if len(drifted) > 5 else "")
    return (f"dataset drift: {len(drifted)} of {len(features)} features drifted"
            + (f" ({shown})" if shown else ""))


def _metric_reason(trigger: MetricTrigger, last_pass: dict) -> str | None:
    value, how = _observed(trigger.metric, last_pass)
    if value is None:
        return None
    metric = METRICS[trigger.metric]
    said = f"{how} {metric.title} {value:.4g}"
    if trigger.min is not None and value < trigger.min:
        return f"{said} is below {trigger.min:g} (retrain.metrics: min)"
    if trigger.max is not None and value > trigger.max:
        return f"{said} is above {trigger.max:g} (retrain.metrics: max)"
    reference = _number((last_pass.get("reference") or {}).get(trigger.metric))
    if trigger.worse_by is not None and reference is not None:
        worse = relative_loss(value, reference, metric.greater_is_better)
        if worse > trigger.worse_by:
            return (f"{said} is {_percent(worse)} worse than the champion's holdout "
                    f"{reference:.4g} (retrain.metrics: worse_by {_percent(trigger.worse_by)})")
    return None


def relative_loss(value: float, reference: float, greater_is_better: bool) -> float:
    """How much worse ``value`` is than ``reference``, relative to it (0.2: 20%
    worse; negative: better). From a reference of 0, any loss counts as infinite."""
    loss = reference - value if greater_is_better else value - reference
    if reference == 0:
        return math.inf if loss > 0 else (0.0 if loss == 0 else -math.inf)
    return loss / abs(reference)


def _observed(name: str, last_pass: dict) -> tuple[float | None, str]:
    live = ((last_pass.get("live") or {}).get("metrics") or {}).get(name)
    if (value := _number(live)) is not None:
        rows = (last_pass.get("live") or {}).get("rows")
        return value, f"live ({rows:,} labelled rows)" if isinstance(rows, int) else "live"
    estimated = _number((last_pass.get("estimated") or {}).get(name))
    return estimated, "estimated"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _age(last_pass: dict, now: float) -> str:
    at = _number(last_pass.get("at"))
    if at is None:
        return ""
    minutes = max(0.0, now - at) / 60
    if minutes < 1:
        return ""  # a pass of this cycle: its age says nothing
    return f" [monitoring pass of {_span(minutes)} ago]"


def _span(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h"
    return f"{minutes / 1440:.0f} days"


def _percent(share: float) -> str:
    return "infinitely" if math.isinf(share) else f"{share:.0%}"
