"""The optional sections of ``shipyard.yaml``: how the target is derived, how rows
become model input, and what evaluation reports beyond the metrics.

Every default here reproduces what a project without the section gets, so a
section is only written to change something.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shipyard.spec.base import Strict

Fraction = Annotated[float, Field(gt=0, lt=1)]
Window = Annotated[int, Field(ge=2, le=10_000)]


class Label(Strict):
    """Derive the target from the entity's history: each entity runs until its last
    row, where it fails (``event`` names a column that is true for entities that
    did fail; the others are censored and get no label)."""

    kind: Literal["rul", "fails_within"]
    cap: Annotated[int, Field(ge=1)] | None = None  # rul: piecewise-linear, min(rul, cap)
    horizon: Annotated[int, Field(ge=1)] | None = None  # fails_within: failure within N rows
    event: str | None = None

    @model_validator(mode="after")
    def _fits_kind(self) -> Label:
        if self.kind == "fails_within" and self.horizon is None:
            raise ValueError("'fails_within' needs 'horizon': fail within how many time steps")
        if self.kind == "rul" and self.horizon is not None:
            raise ValueError("'horizon' is for kind 'fails_within'; 'rul' takes 'cap'")
        if self.kind == "fails_within" and self.cap is not None:
            raise ValueError("'cap' is for kind 'rul'; 'fails_within' takes 'horizon'")
        return self


NumericImpute = Literal["mean", "median", "most_frequent", "constant", "knn", "iterative"]
TextImpute = Literal["most_frequent", "constant"]


class Impute(Strict):
    numeric: NumericImpute = "median"
    text: TextImpute = "constant"
    fill_value: float = 0.0  # for numeric 'constant'
    indicators: bool = False  # add a was-missing column for each column with gaps
    columns: dict[str, NumericImpute] = {}  # per-column overrides


class Encode(Strict):
    text: Literal["onehot", "ordinal", "target"] = "onehot"
    max_onehot: Annotated[int, Field(ge=2)] = 30  # more categories: use high_cardinality
    high_cardinality: Literal["onehot", "ordinal", "target"] = "target"


class Outliers(Strict):
    """Tame extreme numeric values: clip them to fences learnt on the training rows,
    or drop training rows that have them (evaluation and serving keep every row)."""

    action: Literal["none", "clip", "drop"] = "none"
    rule: Literal["iqr", "quantile"] = "iqr"
    iqr: Annotated[float, Field(gt=0)] = 1.5
    quantiles: tuple[Fraction, Fraction] = (0.01, 0.99)

    @model_validator(mode="after")
    def _ordered(self) -> Outliers:
        if not self.quantiles[0] < self.quantiles[1]:
            raise ValueError(f"quantiles must be (low, high) with low < high, got "
                             f"{list(self.quantiles)}")
        return self


class Select(Strict):
    drop_constant: bool = True
    drop_duplicates: bool = True
    max_correlation: Annotated[float, Field(gt=0, le=1)] | None = None
    top_features: Annotated[int, Field(ge=1)] | None = None  # by model importance


DateFeature = Literal["year", "month", "day", "dayofweek", "hour", "elapsed"]
SeriesStat = Literal["mean", "std", "min", "max", "slope"]


class Smooth(Strict):
    method: Literal["median", "ewm"] = "median"
    window: Window = 5  # rows for the rolling median; span for the EWM
    columns: list[str] | None = None  # default: every series column


class Regimes(Strict):
    """Operating regimes found by clustering (see ``prepare.regimes``): on
    ``columns`` (operating settings; default: every series column), into
    ``clusters`` or as many (up to ``max_clusters``) as the silhouette chooses."""

    columns: Annotated[list[str], Field(min_length=1)] | None = None
    clusters: Annotated[int, Field(ge=1, le=50)] | None = None
    max_clusters: Annotated[int, Field(ge=2, le=50)] = 8


class Series(Strict):
    """Features from each entity's history (rows sorted by time), using only past
    and current rows, so nothing leaks from the future. ``windows``, ``stats`` and
    ``smooth`` may each be ``auto``: chosen by grouped cross-validation on the
    training rows (``shipyard.train.series_choice``); ``prepare.series: auto`` sets
    all three so."""

    columns: list[str] | None = None  # default: every numeric feature
    smooth: Smooth | Literal["auto"] | None = None
    windows: Annotated[list[Window], Field(min_length=1)] | Literal["auto"] = [5, 10, 20]
    stats: Annotated[list[SeriesStat], Field(min_length=1)] | Literal["auto"] = \
        ["mean", "std", "slope"]
    lags: list[Annotated[int, Field(ge=1)]] = []
    elapsed: bool = True  # rows since the entity's first row
    # Standardise each column within its operating regime: a column naming the regime,
    # "auto" (found by clustering the series columns) or {columns: [...]} (found by
    # clustering those operating settings)
    regime: Regimes | str | None = None
    keep_raw: bool = True

    @property
    def chosen(self) -> tuple[str, ...]:
        """The settings left to cross-validation (``auto``)."""
        return tuple(key for key in AUTO_SERIES if getattr(self, key) == "auto")


AUTO_SERIES = ("windows", "stats", "smooth")


class Imbalance(Strict):
    method: Literal["none", "smote", "borderline_smote", "adasyn", "undersample",
                    "class_weight"] = "none"
    ratio: Annotated[float, Field(gt=0, le=1)] | None = None  # minority/majority after


class Threshold(Strict):
    """Choose the binary decision threshold on validation predictions."""

    objective: Literal["none", "f1", "recall"] = "none"
    recall: Fraction | None = None  # for 'recall': the highest threshold reaching it

    @model_validator(mode="after")
    def _recall_given(self) -> Threshold:
        if self.objective == "recall" and self.recall is None:
            raise ValueError("objective 'recall' needs 'recall', the target to reach (e.g. 0.9)")
        return self


class Prepare(Strict):
    impute: Impute = Impute()
    encode: Encode = Encode()
    scale: Literal["standard", "robust", "minmax", "none"] = "standard"
    outliers: Outliers = Outliers()
    select: Select = Select()
    dates: list[DateFeature] = []
    series: Series | None = None
    imbalance: Imbalance = Imbalance()
    threshold: Threshold = Threshold()

    @model_validator(mode="before")
    @classmethod
    def _series_auto(cls, data):
        """``series: auto`` is every setting that can be chosen left to the choice."""
        if isinstance(data, dict) and data.get("series") == "auto":
            return {**data, "series": dict.fromkeys(AUTO_SERIES, "auto")}
        return data


class Costs(Strict):
    """Maintenance policies replayed on the holdout (see shipyard.evaluate.costs):
    for a regression whose target is the time left before an event."""

    act_below: float  # the model's policy: inspect when the prediction falls below this
    finds_within: Annotated[float, Field(gt=0)]  # an inspection finds the fault this close
    interval: Annotated[int, Field(ge=1)]  # the fixed policy: inspect every N rows
    recheck_after: Annotated[int, Field(ge=1)] = 10  # rows before inspecting again
    action_cost: Annotated[float, Field(ge=0)]  # one inspection
    event_cost: Annotated[float, Field(ge=0)]  # one event in service (a failure)
    currency: Annotated[str, Field(max_length=10)] = ""


class Evaluate(Strict):
    segment: str | None = None  # report metrics per value of this column
    importance: bool = True  # permutation importance on the holdout
    learning_curves: bool = True
    costs: Costs | None = None
