"""Findings: facts about the data that later stages act on.

A finding is a plain record; the report shows them and ``prepare`` can act on
them by kind (``Profile.columns_flagged``). The thresholds are the usual rules
of thumb; each is a named constant so a finding's message and its tests read
the same number. The rules on one column and on the target live here; those
across columns live next to what they measure (correlation, outliers, leakage).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from shipyard.metrics import BINARY, CLASSIFICATION
from shipyard.profile.stats import ColumnProfile, TargetProfile

CONSTANT = "constant"
NEAR_CONSTANT = "near_constant"
HIGH_MISSING = "high_missing"
DUPLICATE_ROWS = "duplicate_rows"
IDENTIFIER = "identifier"
HIGH_CARDINALITY = "high_cardinality"
CLASS_IMBALANCE = "class_imbalance"
SINGLE_CLASS = "single_class"
CLASS_COUNT = "class_count"
MISSING_TARGET = "missing_target"
OUTLIERS = "outliers"
MULTIVARIATE_OUTLIERS = "multivariate_outliers"
CORRELATED = "correlated"
LEAKAGE = "leakage"
# One column far above the rest: a post-outcome value, or an honest strong feature.
# Only a person can tell, so it is kept as a feature and the data gate warns.
DOMINANT = "dominant"
FINDING_KINDS = (CONSTANT, NEAR_CONSTANT, HIGH_MISSING, DUPLICATE_ROWS, IDENTIFIER,
                 HIGH_CARDINALITY, CLASS_IMBALANCE, SINGLE_CLASS, CLASS_COUNT, MISSING_TARGET,
                 OUTLIERS, MULTIVARIATE_OUTLIERS, CORRELATED, LEAKAGE, DOMINANT)
SEVERITIES = ("error", "warning", "info")  # most severe first
# Columns with these findings carry nothing a model should learn from: an identifier
# is memorised, a constant says nothing. Leakage suspects are not among them: a
# person has to judge whether the value is known at prediction time.
NOT_A_FEATURE = (IDENTIFIER, CONSTANT)

NEAR_CONSTANT_SHARE = 0.99  # one value in more than this share of rows
HIGH_MISSING_SHARE = 0.5
DUPLICATE_WARNING_SHARE = 0.01  # fewer duplicates than this are only noted
IDENTIFIER_UNIQUE_SHARE = 0.95  # distinct values per non-missing row
IDENTIFIER_MIN_DISTINCT = 20  # a handful of rows are always "unique"
HIGH_CARDINALITY_DISTINCT = 50
HIGH_CARDINALITY_SHARE = 0.05  # distinct values per row
MINORITY_SHARE = 0.2  # for a binary target; scaled by 2/k for k classes
OUTLIER_SHARE = 0.05  # of a column's values outside its IQR fences


@dataclass(frozen=True)
class Finding:
    """One fact about the data: ``kind`` is one of ``FINDING_KINDS``; ``value`` is
    the number behind it (a share, a count, a ratio) when there is one."""

    kind: str
    severity: str  # "info" | "warning" | "error"
    column: str | None
    message: str
    value: float | None = None
    other_column: str | None = None  # the second column of a pair (``correlated``)

    def to_dict(self) -> dict[str, object]:
        """The finding as a JSON-ready record."""
        return asdict(self)


def _column_findings(col: ColumnProfile, n_rows: int, *, key_columns: set[str]) -> list[Finding]:
    found = []
    name = col.name
    if col.distinct <= 1:
        what = "no values at all" if col.distinct == 0 else "a single value"
        found.append(Finding(CONSTANT, "warning", name,
                             f"'{name}' has {what}: it cannot inform a model.",
                             float(col.distinct)))
    elif col.top_share > NEAR_CONSTANT_SHARE:
        found.append(Finding(NEAR_CONSTANT, "info", name,
                             f"'{name}' holds one value in {col.top_share:.1%} of rows.",
                             col.top_share))
    if col.missing_share > HIGH_MISSING_SHARE:
        found.append(Finding(HIGH_MISSING, "warning", name,
                             f"'{name}' is missing in {col.missing_share:.1%} of rows.",
                             col.missing_share))
    present = n_rows * (1 - col.missing_share)
    unique_share = col.distinct / present if present else 0.0
    if (name not in key_columns and col.kind in ("integer", "string")
            and col.distinct >= IDENTIFIER_MIN_DISTINCT
            and unique_share >= IDENTIFIER_UNIQUE_SHARE):
        found.append(Finding(IDENTIFIER, "warning", name,
                             f"'{name}' looks like an identifier: {unique_share:.1%} of its "
                             "values are distinct. A model would memorise it rather than learn: "
                             "leave it out of the features.",
                             unique_share))
    elif (col.kind == "string" and col.distinct > HIGH_CARDINALITY_DISTINCT
          and col.distinct > HIGH_CARDINALITY_SHARE * n_rows):
        found.append(Finding(HIGH_CARDINALITY, "info", name,
                             f"'{name}' has {col.distinct:,} distinct values: one-hot encoding "
                             "would be wide and sparse.", float(col.distinct)))
    elif (name not in key_columns and col.outlier_share is not None
          and col.outlier_share > OUTLIER_SHARE and col.summary is not None):
        low, high = col.summary.fences()
        found.append(Finding(OUTLIERS, "info", name,
                             f"{col.outlier_share:.1%} of '{name}' lies outside the IQR fences "
                             f"[{low:.4g}, {high:.4g}]: a heavy tail or errors; robust scaling "
                             "or clipping may help.", col.outlier_share))
    return found


def _target_findings(target: TargetProfile, n_rows: int) -> list[Finding]:
    found = []
    name = target.name
    if target.missing:
        found.append(Finding(MISSING_TARGET, "info", name,
                             f"{target.missing:,} of {n_rows:,} rows have no '{name}'; "
                             "they are set aside.", float(target.missing)))
    if target.task not in CLASSIFICATION:
        return found
    k = target.n_classes
    if k < 2:
        found.append(Finding(SINGLE_CLASS, "error", name,
                             f"The target '{name}' has {k} class{'es' if k == 0 else ''}: "
                             "there is nothing to tell apart.", float(k)))
        return found
    if target.task == BINARY and k != 2:
        found.append(Finding(CLASS_COUNT, "error", name,
                             f"The task is binary but '{name}' has {k} classes.", float(k)))
    # with k balanced classes each has 1/k of the rows, so the bar scales with k
    bar = MINORITY_SHARE * 2 / k
    if target.minority_share < bar:
        minority = min(target.counts, key=target.counts.get)
        found.append(Finding(
            CLASS_IMBALANCE, "warning", name,
            f"Class '{minority}' is {target.minority_share:.1%} of rows; the majority class "
            f"has {target.imbalance_ratio:.1f}x as many.", target.imbalance_ratio))
    return found


def by_severity(findings: list[Finding]) -> list[Finding]:
    """``findings`` most severe first, in their order within one severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def find(columns: list[ColumnProfile], target: TargetProfile, *, n_rows: int,
         duplicate_rows: int, key_columns: set[str]) -> list[Finding]:
    """The findings on single columns, the target and duplicate rows, in that
    order. ``key_columns`` (entity, time) are expected to repeat or be unique
    and are not flagged as identifiers."""
    found: list[Finding] = []
    if duplicate_rows:
        share = duplicate_rows / n_rows
        severity = "warning" if share >= DUPLICATE_WARNING_SHARE else "info"
        found.append(Finding(DUPLICATE_ROWS, severity, None,
                             f"{duplicate_rows:,} rows ({share:.1%}) repeat an earlier row "
                             "exactly; across a train/holdout split they inflate scores.",
                             float(duplicate_rows)))
    for col in columns:
        if col.name != target.name:
            found.extend(_column_findings(col, n_rows, key_columns=key_columns))
    found.extend(_target_findings(target, n_rows))
    return found
