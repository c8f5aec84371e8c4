"""The profile of a whole frame."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from shipyard.errors import DataError, did_you_mean
from shipyard.metrics import BINARY, REGRESSION, TASKS
from shipyard.profile import leaks
from shipyard.profile.correlation import Correlations, correlated_findings, correlations
from shipyard.profile.findings import (
    NEAR_CONSTANT,
    NOT_A_FEATURE,
    SEVERITIES,
    Finding,
    by_severity,
    find,
)
from shipyard.profile.leakage import (
    MIN_ROWS,
    held_out,
    leakage_findings,
    metric_for,
    single_column_scores,
)
from shipyard.profile.leaks import Ablation
from shipyard.profile.outliers import multivariate_findings, multivariate_outlier_share
from shipyard.profile.stats import (
    ColumnProfile,
    TargetProfile,
    as_floats,
    column_profile,
    factorized,
    target_profile,
)

# Row samples for the costlier checks: their answers settle well before these sizes
CORRELATION_ROWS = 50_000
ISOLATION_ROWS = 20_000
LEAKAGE_ROWS = 10_000


@dataclass(frozen=True)
class Profile:
    """What the data looks like: size, per-column statistics, the target,
    correlations, outliers, how well each column alone predicts the target, and
    findings (plain records, most severe first)."""

    n_rows: int
    n_columns: int
    duplicate_rows: int
    columns: list[ColumnProfile]
    target: TargetProfile
    findings: list[Finding]
    entity: str | None = None
    time: str | None = None
    correlations: Correlations | None = None  # numeric features and a numeric target
    # share of rows an isolation forest on ``outlier_columns`` finds far out
    multivariate_outlier_share: float | None = None
    outlier_columns: tuple[str, ...] = ()
    # held-out score of a one-column model of the target, per feature, in ``score_metric``
    column_scores: dict[str, float] = field(default_factory=dict)
    score_metric: str | None = None  # "r2", "roc_auc" or "balanced_accuracy"
    ablation: Ablation | None = None  # the quick model with and without leakage suspects

    def column(self, name: str) -> ColumnProfile:
        """The profile of the column ``name``; KeyError when there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def columns_flagged(self, *kinds: str) -> list[str]:
        """The columns with a finding of any of ``kinds``, in the frame's order;
        e.g. ``columns_flagged(*NOT_A_FEATURE)`` for the columns to leave out."""
        flagged = {f.column for f in self.findings if f.kind in kinds}
        return [col.name for col in self.columns if col.name in flagged]

    def flagged(self, kind: str) -> list[str]:
        """The columns with a finding of ``kind``."""
        return self.columns_flagged(kind)

    def not_features(self) -> list[str]:
        """Columns that carry nothing to learn from (identifiers, constants)."""
        return self.columns_flagged(*NOT_A_FEATURE)

    def count(self, severity: str) -> int:
        """How many findings have ``severity``."""
        if severity not in SEVERITIES:
            raise ValueError(f"The 'severity' parameter of Profile.count must be one of "
                             f"{SEVERITIES}. Got {severity!r} instead.")
        return sum(f.severity == severity for f in self.findings)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def _check_column(frame: pd.DataFrame, name: str | None, role: str) -> None:
    if name is not None and name not in frame.columns:
        raise DataError(
            f"The {role} column '{name}' is not in the data{did_you_mean(name, frame.columns)}.",
            details=[f"columns: {', '.join(map(str, frame.columns[:20]))}"],
        )


def _duplicates(codes: list[np.ndarray], n_rows: int) -> int:
    """Rows equal to an earlier row, from the columns' value codes: the running
    row key is re-factorized after each column, so it stays below ``n_rows``
    and ``key * (n_values + 1) + code`` cannot overflow. The most varied columns
    go first: once every key is distinct there is no duplicate to find."""
    key = np.zeros(n_rows, dtype=np.int64)
    distinct = 1
    for column in sorted(codes, key=lambda c: int(c.max()), reverse=True):
        key, uniques = pd.factorize(key * (int(column.max()) + 2) + column + 1)
        distinct = len(uniques)
        if distinct == n_rows:
            break
    return n_rows - distinct


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` of ``rows``, chosen at random, in their order."""
    return rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))


def _scores(frame: pd.DataFrame, target: TargetProfile, features: list[ColumnProfile],
            codes: dict[str, np.ndarray], rng: np.random.Generator,
            seed: int) -> tuple[dict[str, float], str | None, list[Finding], Ablation | None]:
    """How well each feature alone predicts the target, on a sample of labelled
    rows; the leakage findings (one column, sub-labels, a dominant column) and the
    quick model's ablation of the suspects."""
    series = frame[target.name]
    if target.task == REGRESSION:
        y_all = as_floats(series)
        labelled = np.flatnonzero(~np.isnan(y_all))
        n_classes, classes = 0, []
    else:
        y_all, classes = pd.factorize(series, use_na_sentinel=True)
        labelled = np.flatnonzero(y_all >= 0)
        n_classes = len(classes)
        if n_classes < 2:
            return {}, None, [], None
    rows = _sample(labelled, LEAKAGE_ROWS, rng)
    metric = metric_for(target.task, n_classes)
    numeric = {c.name: as_floats(frame[c.name])[rows] for c in features if c.numeric}
    text = {c.name: codes[c.name][rows] for c in features if c.kind in ("string", "other")}
    y = np.asarray(y_all)[rows]
    scores = single_column_scores(numeric, text, y, metric=metric, n_classes=n_classes,
                                  seed=seed)
    found = leakage_findings(scores, metric, target=target.name)
    if metric != "r2" and len(y) >= MIN_ROWS:  # fewer: a perfect match happens by chance
        few = {c.name: codes[c.name][rows] for c in features if c.distinct <= leaks.MAX_VALUES}
        flagged = {f.column for f in found}
        found += [f for f in leaks.sub_label_findings(few, y, [_plain(c) for c in classes],
                                                      target=target.name)
                  if f.column not in flagged]
    # the quick model only when there is something to weigh: it costs a second or so
    if len(y) < MIN_ROWS or not (found or leaks.could_dominate(scores, metric)):
        return scores, metric, found, None
    test = held_out(y, metric != "r2", np.random.default_rng(seed))
    columns = {**numeric, **{k: v.astype(float) for k, v in text.items()}}

    def weigh(suspects: list[str]) -> Ablation | None:
        return leaks.ablation(columns, set(text), y.astype(float), test, metric, suspects,
                              seed)

    ablation = weigh([f.column for f in found])
    dominant = leaks.dominant_finding(scores, ablation, metric, target=target.name)
    if dominant is not None and dominant.column not in {f.column for f in found}:
        found.append(dominant)
        ablation = weigh([f.column for f in found])
    return scores, metric, [_with_ablation(f, ablation) for f in found], ablation


def _with_ablation(finding: Finding, ablation: Ablation | None) -> Finding:
    """The finding, with what the quick model scores without its column."""
    if ablation is None or finding.column not in ablation.without:
        return finding
    return replace(finding, message=f"{finding.message} A quick model of every feature "
                   f"scores {ablation.full:.3f} with it and "
                   f"{ablation.without[finding.column]:.3f} without it.")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def profile(frame: pd.DataFrame, *, target: str, task: str, entity: str | None = None,
            time: str | None = None, seed: int = 0) -> Profile:
    """Statistics and findings for ``frame``, whose ``target`` column is predicted
    in ``task`` (regression, binary or multiclass). ``entity`` and ``time`` name
    the columns that identify a row's subject and moment, if any; they are not
    treated as features. ``seed`` fixes the row samples and models used."""
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter of profile must be one of {TASKS}. "
                         f"Got {task!r} instead.")
    for name, role in ((target, "target"), (entity, "entity"), (time, "time")):
        _check_column(frame, name, role)
    # names as text from here on, as the profile reports them
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    target, entity, time = (None if n is None else str(n) for n in (target, entity, time))
    if frame.columns.has_duplicates:
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DataError(f"The data has repeated column names: {', '.join(repeated)}.",
                        hint="give each column a distinct alias in the SQL query")
    if len(frame) == 0:
        raise DataError("The data has no rows.", hint="check the query's filters")
    n_rows = len(frame)
    codes, columns = {}, []
    for name in frame.columns:
        series = frame[name]
        codes[name], uniques = factorized(series)
        columns.append(column_profile(series, name, codes[name], uniques))
    target_stats = target_profile(frame[target], target, task)
    duplicates = _duplicates(list(codes.values()), n_rows)
    keys = {name for name in (entity, time) if name is not None}
    findings = find(columns, target_stats, n_rows=n_rows, duplicate_rows=duplicates,
                    key_columns=keys)
    across, more = _across_columns(frame, columns, codes, target_stats, findings, keys, seed)
    return Profile(n_rows=n_rows, n_columns=frame.shape[1], duplicate_rows=duplicates,
                   columns=columns, target=target_stats, findings=by_severity([*findings, *more]),
                   entity=entity, time=time, **across)


def _across_columns(frame: pd.DataFrame, columns: list[ColumnProfile],
                    codes: dict[str, np.ndarray], target: TargetProfile,
                    findings: list[Finding], keys: set[str], seed: int
                    ) -> tuple[dict[str, object], list[Finding]]:
    """Correlations, multivariate outliers and one-column scores (as Profile
    fields), and their findings. They look at features only: not the keys, and
    not the columns already known to carry nothing (identifiers, constants)."""
    idle = keys | {f.column for f in findings if f.kind in NOT_A_FEATURE}
    features = [c for c in columns if c.name != target.name and c.name not in idle]
    numeric = [c.name for c in features if c.numeric]
    rng = np.random.default_rng(seed)
    all_rows = np.arange(len(frame))
    # class labels of more than two classes have no order to correlate with
    target_numeric = next(c for c in columns if c.name == target.name).numeric
    ordered = target.task == REGRESSION or (target.task == BINARY and target_numeric)
    corr = correlations(frame, numeric + ([target.name] if ordered else []),
                        _sample(all_rows, CORRELATION_ROWS, rng))
    # a near-constant column only isolates its few odd rows, already reported
    rare = {f.column for f in findings if f.kind == NEAR_CONSTANT}
    spread = [name for name in numeric if name not in rare]
    share = multivariate_outlier_share(frame, spread, _sample(all_rows, ISOLATION_ROWS, rng),
                                       seed=seed)
    scores, metric, leaking, ablation = _scores(frame, target, features, codes, rng, seed)
    more = [*leaking, *correlated_findings(corr, target=target.name),
            *multivariate_findings(share, len(spread))]
    fields = {"correlations": corr, "multivariate_outlier_share": share,
              "outlier_columns": tuple(spread) if share is not None else (),
              "column_scores": scores, "score_metric": metric, "ablation": ablation}
    return fields, more
