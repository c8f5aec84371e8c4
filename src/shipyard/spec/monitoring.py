"""The ``monitor`` and ``retrain`` sections: what the server logs, how drift and
live performance are judged, and when a challenger is trained.

The drift defaults are the ones the field has settled on (Evidently's among
them): windows of fewer than ``small_window`` rows use statistical tests
(Kolmogorov-Smirnov for numbers, chi-square for categories) at p <
``p_value``; larger windows use distances (Wasserstein normalised by the
reference's standard deviation for numbers, Jensen-Shannon for categories) at
>= ``distance``, because on many rows every test rejects. PSI is reported for
every feature with the usual bands (< 0.1 stable, 0.1-0.25 moderate, >= 0.25
major). The data set drifts when at least ``share`` of its features drift.

The data set's verdict follows ``rule``:

- ``weighted`` (the default) weighs each feature by the champion's permutation
  importance (half of each weight; the other half is shared equally, so a feature
  the model ignores still counts a little). A small window drifts when some
  feature's p-value is below ``dataset_p_value`` times its weight (a weighted
  Bonferroni test: the whole data set's false-alarm rate stays at most
  ``dataset_p_value``); a large one when the drifted features carry at least
  ``weighted_share`` of the weight. A shift in a few important features (more
  degree holders) is caught; noise in many unimportant ones is not. Without
  importances (a version registered before Shipyard kept them, or
  ``evaluate.importance: false``) every feature weighs the same.
- ``share``: at least ``share`` of the features drift (Evidently's rule).
- ``any``: any one feature drifts, each test run at ``p_value`` divided by the
  number of features (Bonferroni), which keeps the data set's false-alarm rate at
  ``p_value``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, model_validator

from shipyard.spec.base import Strict

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
Duration = Annotated[str, Field(pattern=_DURATION.pattern, description="e.g. 30m, 12h, 14d")]


def seconds(duration: str) -> float:
    """``"14d"`` -> 1209600.0."""
    number, unit = _DURATION.match(duration.strip()).groups()
    return float(number) * _UNIT_SECONDS[unit]


def delta(duration: str) -> timedelta:
    return timedelta(seconds=seconds(duration))


Share = Annotated[float, Field(gt=0, le=1)]


_RULE_SETTINGS = {"share": ("share",), "dataset_p_value": ("weighted",),
                  "weighted_share": ("weighted",)}


class Drift(Strict):
    small_window: Annotated[int, Field(ge=1)] = 1000
    p_value: Annotated[float, Field(gt=0, lt=1)] = 0.05
    distance: Annotated[float, Field(gt=0)] = 0.1
    share: Share = 0.5
    rule: Literal["weighted", "share", "any"] = "weighted"
    dataset_p_value: Annotated[float, Field(gt=0, lt=1)] = 0.01  # rule weighted, small windows
    weighted_share: Share = 0.1  # rule weighted, large windows
    psi_moderate: Annotated[float, Field(gt=0)] = 0.1
    psi_major: Annotated[float, Field(gt=0)] = 0.25
    bins: Annotated[int, Field(ge=2, le=100)] = 10  # PSI bins: reference quantiles

    @model_validator(mode="after")
    def _bands(self) -> Drift:
        if not self.psi_moderate < self.psi_major:
            raise ValueError(f"expected psi_moderate < psi_major, got {self.psi_moderate} "
                             f"and {self.psi_major}")
        # a setting the chosen rule does not read would be silently ignored
        for name, rules in _RULE_SETTINGS.items():
            if name in self.model_fields_set and self.rule not in rules:
                raise ValueError(f"'{name}' is read by rule {' or '.join(rules)}, and the "
                                 f"rule is {self.rule!r}; set rule: {rules[0]}")
        return self

    @property
    def share_line(self) -> float | None:
        """The drifted share at which the data set drifts, for plots: only the share
        rule has one."""
        return self.share if self.rule == "share" else None


class Outcomes(Strict):
    """Ground truth that arrives in the source rather than through ``POST /feedback``:
    ``query`` runs on the project's source; its rows are matched to logged
    predictions on the ``on`` columns (columns of the logged inputs), and ``label``,
    a SQL expression over both (DuckDB dialect), is each matched prediction's true
    value. Rows where ``label`` is NULL stay unlabelled."""

    query: Annotated[str, Field(min_length=1)]
    on: Annotated[list[str], Field(min_length=1)]
    label: Annotated[str, Field(min_length=1)]


class Monitor(Strict):
    """The prediction log and the monitoring passes over it."""

    log: bool = True  # record every served prediction
    # SQLAlchemy URL of the prediction log; default: predictions.db (SQLite) in the workspace
    store: str | None = None
    window: Annotated[int, Field(ge=1)] = 5000  # the latest rows one pass looks at
    interval: Annotated[float, Field(ge=0)] = 30.0  # seconds between the server's passes; 0: off
    drift: Drift = Drift()
    outcomes: Outcomes | None = None


class MetricTrigger(Strict):
    """Retrain when the live ``metric`` crosses ``min``/``max``, or is worse than the
    champion's holdout value by more than ``worse_by`` (0.2: 20% worse)."""

    metric: str
    min: float | None = None
    max: float | None = None
    worse_by: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> MetricTrigger:
        if self.min is None and self.max is None and self.worse_by is None:
            raise ValueError("give 'min', 'max' and/or 'worse_by'")
        return self


class Recent(Strict):
    """The holdout on which champion and challenger are compared: ``share`` of the
    entities (of the rows, without an entity) seen in the last ``span`` of the
    data. Their rows are kept out of the challenger's training."""

    span: Duration = "14d"
    share: Annotated[float, Field(gt=0, lt=1)] = 0.3


class Retrain(Strict):
    """When a challenger is trained, and when it replaces the champion."""

    on_drift: bool = True  # when the data set drifts
    metrics: list[MetricTrigger] = []
    new_labels: Annotated[int, Field(ge=1)] | None = None  # labelled rows since the champion
    every: Duration | None = None  # `shipyard loop`: check at this interval...
    cron: str | None = None  # ...or on this crontab schedule ("0 3 * * *")
    window: Duration | None = None  # extract only the rows whose time is this recent
    recent: Recent = Recent()
    margin: Annotated[float, Field(ge=0, lt=1)] = 0.0  # relative gain the challenger needs
    warm_start: bool = True  # begin tuning at the champion's parameters
    # "champion": the challenger is the champion's kind of model only (fresh data, same
    # family: faster); "all": every candidate in `models` competes again
    models: Literal["all", "champion"] = "all"
    trials: Annotated[int, Field(ge=1, le=10_000)] | None = None  # default: tuning.trials

    @model_validator(mode="after")
    def _one_schedule(self) -> Retrain:
        if self.every is not None and self.cron is not None:
            raise ValueError("give 'every' or 'cron', not both")
        return self
