"""Leakage that no single column's score shows, and how much each suspect adds.

- **Sub-labels**: columns with few values, some value of which implies a class
  almost surely (P(class | value) >= 0.95 over at least 20 rows) where that class
  is not the common case. When such columns together reproduce most of the
  class's rows, the target is likely built from them (a failure flag per mode,
  kept beside the "failed" label), though each alone explains only a part.
- **A dominant column**: one whose one-column score is far above every other
  column's and carries most of what a model of all columns learns, the mark of a
  value recorded after the outcome (a call's duration, known once it ended).
- **Ablation**: a quick model of all features, without the suspects, and without
  each one, on the profile's held-out rows, so the report says what each adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shipyard.profile.findings import DOMINANT, LEAKAGE, Finding
from shipyard.profile.leakage import score_of

MAX_VALUES = 10  # a column with more distinct values is not a flag or a category here
MIN_SUPPORT = 20  # rows holding the value
IMPLIES = 0.95  # P(class | value) at least this
MAX_BASE = 0.5  # ... of a class no more common than this
UNION_SHARE = 0.5  # sub-labels together reproduce at least this share of the class
DOMINANT_SKILL = 0.4  # the column alone: R², or 2 * (ROC-AUC - 0.5)
DOMINANT_RATIO = 2.0  # at least this many times the next column's skill
DOMINANT_SHARE = 0.75  # and this share of the full quick model's skill
QUICK_ITERATIONS = 50
ABLATION_ROWS = 5000  # of the profile's sample: a second or less per suspect


@dataclass(frozen=True)
class Ablation:
    """Held-out scores of the quick model: of every feature, without all the
    suspects, and without each suspect alone (column -> score)."""

    metric: str
    full: float
    without_suspects: float | None = None
    without: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "full": self.full,
                "without_suspects": self.without_suspects, "without": dict(self.without)}


def skill(metric: str, score: float) -> float:
    """0 for a constant, 1 for perfect: R² as is, ROC-AUC and balanced accuracy
    rescaled from their chance level."""
    return score if metric == "r2" else 2 * (score - 0.5)


def sub_label_findings(codes: dict[str, np.ndarray], y: np.ndarray, classes: list,
                       *, target: str) -> list[Finding]:
    """Findings for columns (value codes, -1 missing, on the rows of class codes
    ``y``) that together reproduce most rows of a class; one per column."""
    found: dict[str, Finding] = {}
    for c in range(len(classes)):
        members = y == c
        base = members.mean()
        if base > MAX_BASE or members.sum() < MIN_SUPPORT:
            continue
        implying = []  # (column, value code, rows holding it)
        for column, values in codes.items():
            present = values[values >= 0]
            if len(present) == 0 or present.max() >= MAX_VALUES:
                continue
            for v in np.unique(present):
                rows = values == v
                if rows.sum() >= MIN_SUPPORT and members[rows].mean() >= IMPLIES:
                    implying.append((column, rows))
        if not implying:
            continue
        union = np.zeros(len(y), dtype=bool)
        share_of = {}
        for column, rows in implying:
            union |= rows
            share_of[column] = share_of.get(column, 0) + members[rows].sum() / members.sum()
        covered = members[union].sum() / members.sum()
        if covered < UNION_SHARE or members[union].mean() < IMPLIES:
            continue
        for column, share in share_of.items():
            others = ", ".join(f"'{col}'" for col in share_of if col != column)
            found.setdefault(column, Finding(
                LEAKAGE, "error", column,
                f"'{column}' looks like a part of '{target}': one of its values means "
                f"'{target}' = {classes[c]!r} (in at least {IMPLIES:.0%} of the rows holding "
                f"it), and those rows are {share:.0%} of the {classes[c]!r} rows; "
                + (f"with {others} it reproduces {covered:.0%} of them. " if others else "")
                + "A label built from flags kept as columns leaks through each; exclude "
                "them unless they are known before the outcome.",
                float(share)))
    return list(found.values())


def could_dominate(scores: dict[str, float], metric: str) -> bool:
    """Whether the best column stands far enough above the rest to be weighed
    against the full model."""
    ranked = sorted(scores.values(), reverse=True)
    if len(ranked) < 2:
        return False
    top, runner = skill(metric, ranked[0]), max(skill(metric, ranked[1]), 0.0)
    return top >= DOMINANT_SKILL and top >= DOMINANT_RATIO * runner


def dominant_finding(scores: dict[str, float], ablation: Ablation | None, metric: str,
                     *, target: str) -> Finding | None:
    """The one column far above the rest that carries most of the full model's
    skill, if there is one."""
    if ablation is None or len(scores) < 2:
        return None
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (name, best), (second_name, second) = ranked[0], ranked[1]
    top, full = skill(metric, best), skill(metric, ablation.full)
    if not could_dominate(scores, metric) or full <= 0 or top < DOMINANT_SHARE * full:
        return None
    return Finding(
        DOMINANT, "warning", name,
        f"'{name}' alone predicts '{target}' far better than any other column "
        f"({metric} {best:.3f} against {second:.3f} for '{second_name}') and nearly as "
        f"well as all columns together ({ablation.full:.3f}): check that it is known at "
        "prediction time (a value recorded after the outcome leaks). It is kept as a "
        "feature: exclude it if it is not.", float(best))


def ablation(columns: dict[str, np.ndarray], categorical: set[str], y: np.ndarray,
             test: np.ndarray, metric: str, suspects: list[str], seed: int = 0
             ) -> Ablation | None:
    """Scores of a quick gradient-boosting model on ``columns`` (floats; value
    codes for ``categorical``), trained on ``~test`` and scored on ``test``."""
    if not columns:
        return None
    if len(y) > ABLATION_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), ABLATION_ROWS, replace=False))
        columns = {k: v[keep] for k, v in columns.items()}
        y, test = y[keep], test[keep]
    full = _quick(columns, categorical, y, test, metric, seed)
    if full is None:
        return None
    suspects = [s for s in suspects if s in columns]
    if not suspects:
        return Ablation(metric, full)
    rest = {k: v for k, v in columns.items() if k not in suspects}
    without_all = _quick(rest, categorical, y, test, metric, seed) if rest else None
    each = {}
    if len(suspects) > 1:
        for name in suspects:
            got = _quick({k: v for k, v in columns.items() if k != name}, categorical, y,
                         test, metric, seed)
            if got is not None:
                each[name] = got
    elif without_all is not None:
        each[suspects[0]] = without_all
    return Ablation(metric, full, without_all, each)


def _quick(columns: dict[str, np.ndarray], categorical: set[str], y: np.ndarray,
           test: np.ndarray, metric: str, seed: int) -> float | None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    names = list(columns)
    X = np.column_stack([np.where(columns[n] < 0, np.nan, columns[n]) if n in categorical
                         else columns[n] for n in names]).astype(float)
    # a category with more values than the model's bins is taken as its codes' order
    cats = [n in categorical and np.nanmax(X[:, i], initial=0) < 250
            for i, n in enumerate(names)]
    kind = HistGradientBoostingRegressor if metric == "r2" else HistGradientBoostingClassifier
    model = kind(max_iter=QUICK_ITERATIONS, learning_rate=0.2, min_samples_leaf=5,
                 early_stopping=False, random_state=seed,
                 categorical_features=np.array(cats) if any(cats) else None)
    if metric != "r2" and len(np.unique(y[~test])) < 2:
        return None
    model.fit(X[~test], y[~test])
    if metric == "roc_auc":
        predicted = model.predict_proba(X[test])[:, list(model.classes_).index(1)]
    else:
        predicted = model.predict(X[test])
    return score_of(metric, y[test], predicted)
