"""Data quality of live input against the reference: missing values, categories
the model never saw, numbers outside the range it was trained on.

Shares are fractions (0.05 = 5%). The missing share counts every row of the
window; the unseen and out-of-range shares count the rows that have a value.
Missing means None, NaN, a value that is not a number in a numeric column, and
the empty text that marks missing text (see ``shipyard.schema``). A column that
the window lacks altogether is entirely missing. An empty window has no shares
(None) and no problems: that it is empty is the caller's news, not a quality
finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from shipyard.monitor.drift import (
    CATEGORICAL,
    KINDS,
    NUMERIC,
    category_counts,
    column_of,
    numbers,
)
from shipyard.schema import Schema


@dataclass(frozen=True)
class Limits:
    """When a finding becomes a problem; each is a share (0.1 = 10 percentage points)."""

    missing_increase: float = 0.1  # missing share above the reference's by more than this
    unseen_share: float = 0.01  # values in categories the reference never had
    out_of_range: float = 0.05  # numbers outside the reference's [min, max]
    examples: int = 5  # unseen categories named, most frequent first


def _share(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


@dataclass(frozen=True)
class FeatureQuality:
    feature: str
    kind: str  # the schema's kind
    missing_share: float  # NaN for an empty window
    reference_missing_share: float
    unseen: int | None = None  # categories: how many distinct ones the reference never had
    unseen_share: float | None = None
    unseen_examples: tuple[str, ...] = ()
    out_of_range: float | None = None  # numbers: share outside the reference's range
    reference_range: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        return {"feature": self.feature, "kind": self.kind,
                "missing_share": _share(self.missing_share),
                "reference_missing_share": _share(self.reference_missing_share),
                "unseen": self.unseen, "unseen_share": _share(self.unseen_share),
                "unseen_examples": list(self.unseen_examples),
                "out_of_range": _share(self.out_of_range),
                "reference_range": (list(self.reference_range) if self.reference_range
                                    else None)}


@dataclass(frozen=True)
class QualityResult:
    rows: int
    features: list[FeatureQuality]
    problems: list[str]

    def to_dict(self) -> dict:
        return {"rows": self.rows, "features": [f.to_dict() for f in self.features],
                "problems": list(self.problems)}


def check(current: pd.DataFrame, reference: pd.DataFrame, schema: Schema,
          limits: Limits | None = None) -> QualityResult:
    """Each schema column of the live window ``current`` against ``reference``."""
    limits = limits or Limits()
    features = [_feature(column.name, column.kind, column_of(current, column.name),
                         column_of(reference, column.name), limits)
                for column in schema.columns]
    problems = [p for f in features for p in _problems(f, limits)]
    return QualityResult(len(current), features, problems)


def _missing_share(series: pd.Series, present: int) -> float:
    return (len(series) - present) / len(series) if len(series) else math.nan


def _feature(name: str, kind: str, cur: pd.Series, ref: pd.Series,
             limits: Limits) -> FeatureQuality:
    family = KINDS.get(kind)
    if family == NUMERIC:
        cur_values, ref_values = numbers(cur), numbers(ref)
        missing = _missing_share(cur, len(cur_values))
        ref_missing = _missing_share(ref, len(ref_values))
        if len(ref_values) == 0:
            return FeatureQuality(name, kind, missing, ref_missing)
        low, high = float(ref_values.min()), float(ref_values.max())
        outside = ((cur_values < low) | (cur_values > high)).mean() if len(cur_values) \
            else math.nan
        return FeatureQuality(name, kind, missing, ref_missing, out_of_range=float(outside),
                              reference_range=(low, high))
    if family == CATEGORICAL:
        boolean = kind == "boolean"
        cur_counts, ref_counts = category_counts(cur, boolean), category_counts(ref, boolean)
        missing = _missing_share(cur, int(cur_counts.sum()))
        ref_missing = _missing_share(ref, int(ref_counts.sum()))
        unseen = cur_counts[~cur_counts.index.isin(ref_counts.index)]
        unseen = unseen.sort_values(ascending=False, kind="stable")
        share = unseen.sum() / cur_counts.sum() if cur_counts.sum() else math.nan
        return FeatureQuality(name, kind, missing, ref_missing, unseen=len(unseen),
                              unseen_share=float(share),
                              unseen_examples=tuple(unseen.index[:limits.examples]))
    # date-times: only whether they are there (the log holds them as ISO text)
    return FeatureQuality(name, kind, _missing_share(cur, _present(cur)),
                          _missing_share(ref, _present(ref)))


def _present(series: pd.Series) -> int:
    values = series.astype(object)
    return int((values.notna() & (values != "")).sum())


def _problems(f: FeatureQuality, limits: Limits) -> list[str]:
    found = []
    ref_missing = 0.0 if math.isnan(f.reference_missing_share) else f.reference_missing_share
    if not math.isnan(f.missing_share) and f.missing_share - ref_missing > limits.missing_increase:
        found.append(f"{f.feature}: {f.missing_share:.1%} of the values are missing "
                     f"(training data: {ref_missing:.1%})")
    if f.unseen_share is not None and f.unseen_share > limits.unseen_share:
        named = ", ".join(repr(e) for e in f.unseen_examples)
        more = f" and {f.unseen - len(f.unseen_examples)} more" \
            if f.unseen > len(f.unseen_examples) else ""
        found.append(f"{f.feature}: {f.unseen_share:.1%} of the values are categories the "
                     f"model never saw ({named}{more})")
    if f.out_of_range is not None and f.out_of_range > limits.out_of_range:
        low, high = f.reference_range
        found.append(f"{f.feature}: {f.out_of_range:.1%} of the values are outside the "
                     f"training range [{low:g}, {high:g}]")
    return found

