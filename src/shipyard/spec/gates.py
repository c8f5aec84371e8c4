"""The ``gates:`` section: what a model must pass before it may become the champion.

Four kinds of gate, each a list of checks that yield records (see
``shipyard.gates``): ``quality`` (metric thresholds, absolute or relative to the
dummy baseline or the current champion), ``fairness`` (group metric gaps over
sensitive columns, with optional mitigation), ``privacy`` (no personal data as
features or in the prediction log unless allowed) and ``data`` (schema and
sanity of the extracted rows). A gate that is not ``blocking`` only warns.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shipyard.spec.base import Strict

Share = Annotated[float, Field(ge=0, le=1)]
Reason = Annotated[str, Field(min_length=3)]


class QualityGate(Strict):
    """``metric`` against ``min``/``max``; or, with ``vs``, better than the dummy
    baseline's or the current champion's figure on the same holdout rows by at
    least ``margin`` (a relative gain: 0.05 is 5%; 0 means at least as good)."""

    metric: str
    min: float | None = None
    max: float | None = None
    vs: Literal["baseline", "champion"] | None = None
    margin: Annotated[float, Field(ge=0, lt=1)] = 0.0
    blocking: bool = True

    @model_validator(mode="after")
    def _bounded(self) -> QualityGate:
        if self.vs is None and self.min is None and self.max is None:
            raise ValueError("give 'min' and/or 'max' for the metric, or 'vs: baseline' / "
                             "'vs: champion' to compare with a reference")
        if self.vs is not None and (self.min is not None or self.max is not None):
            raise ValueError(f"a gate 'vs: {self.vs}' compares with a reference; give its "
                             "'margin', not 'min'/'max' (write a second gate for a threshold)")
        return self


FairnessMetric = Literal[
    "demographic_parity_difference", "demographic_parity_ratio",
    "equalized_odds_difference", "equalized_odds_ratio",
    "accuracy_difference",  # classification: the accuracy gap between groups
    "mae_difference", "rmse_difference",  # regression: the error gap between groups
]
# Differences must stay at most their bound; ratios at least theirs.
RATIO_METRICS = ("demographic_parity_ratio", "equalized_odds_ratio")


class FairnessCheck(Strict):
    metric: FairnessMetric
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> FairnessCheck:
        ratio = self.metric in RATIO_METRICS
        if ratio and (self.min is None or self.max is not None):
            raise ValueError(f"'{self.metric}' is a ratio (1 is equal treatment): give "
                             "'min', e.g. 0.8")
        if not ratio and (self.max is None or self.min is not None):
            raise ValueError(f"'{self.metric}' is a gap (0 is equal treatment): give "
                             "'max', e.g. 0.1")
        return self


class Mitigation(Strict):
    """Fairlearn's reduction (``exponentiated_gradient``: retrains the model under
    the constraint) or post-processing (``threshold_optimizer``: a threshold per
    group, so the sensitive column must be among the model's inputs)."""

    method: Literal["exponentiated_gradient", "threshold_optimizer"]
    constraint: Literal["demographic_parity", "equalized_odds", "true_positive_rate_parity",
                        "false_positive_rate_parity", "error_rate_parity"] = \
        "demographic_parity"
    eps: Annotated[float, Field(gt=0, lt=1)] = 0.01  # exponentiated_gradient: allowed violation
    max_iter: Annotated[int, Field(ge=1, le=1000)] = 50


class FairnessGate(Strict):
    """Group metrics over the ``sensitive`` columns (which the query must return; they
    may be left out of the features and are then kept for auditing only)."""

    sensitive: Annotated[list[str], Field(min_length=1)]
    checks: list[FairnessCheck] = []
    mitigation: Mitigation | None = None
    blocking: bool = True


class PrivacyGate(Strict):
    """Columns that hold personal data or direct identifiers are refused as features
    and left out of the prediction log, unless ``allow`` names them with a reason."""

    allow: dict[str, Reason] = {}
    blocking: bool = True


ColumnType = Literal["number", "integer", "text", "boolean", "datetime"]


class ColumnRule(Strict):
    type: ColumnType | None = None
    min: float | None = None
    max: float | None = None
    categories: list[str | int | bool] | None = None  # the only values allowed
    max_missing: Share | None = None  # default: the data gate's max_missing
    required: bool = True  # the query must return it

    @model_validator(mode="after")
    def _ordered(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"expected min <= max, got min={self.min}, max={self.max}")
        return self


class DataGate(Strict):
    """Checked on the extracted rows, before anything is trained."""

    min_rows: Annotated[int, Field(ge=1)] | None = None
    max_missing: Share | None = None  # per column, for every column
    columns: dict[str, ColumnRule] = {}
    leakage: Literal["block", "warn", "off"] = "warn"  # leakage suspects from the profile
    blocking: bool = True


class Gates(Strict):
    quality: list[QualityGate] = []
    # An overfitting finding from training (a large train/validation gap, or a
    # validation loss that turned up): recorded as a warning, or blocking.
    overfitting: Literal["block", "warn", "off"] = "warn"
    fairness: FairnessGate | None = None
    privacy: PrivacyGate = PrivacyGate()
    data: DataGate | None = None
