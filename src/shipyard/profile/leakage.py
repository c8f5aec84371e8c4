"""How well each column alone predicts the target, and leakage suspects.

A feature that predicts the target almost perfectly on its own is rarely a
gift: usually it is the target in disguise (a copy, a unit change, a status
recorded after the outcome). Each column gets a one-column model fitted on 70%
of the rows and scored on the other 30%. For numbers: a shallow decision tree
(it handles missing values and any threshold or band) and, for a numeric
target, also lines between the mean target at each value. For text: a
per-value lookup (the mean or the most frequent class of each value).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shipyard.metrics import REGRESSION
from shipyard.profile.findings import LEAKAGE, Finding

MIN_ROWS = 100  # with fewer rows a perfect held-out score happens by chance
MIN_CLASS_ROWS = 10  # rows of a class for it to take part
TEST_SHARE = 0.3
DEPTH = 6  # 64 leaves: enough for any threshold or a few class bands
MIN_LEAF = 20  # rows per leaf: fewer and the tree fits noise, scoring it below zero
# one-column scores above these make a column a suspect
LEAKAGE_ABOVE = {"r2": 0.98, "roc_auc": 0.99, "balanced_accuracy": 0.99}
METRIC_TITLES = {"r2": "R²", "roc_auc": "ROC-AUC", "balanced_accuracy": "balanced accuracy"}


def metric_for(task: str, n_classes: int) -> str:
    """The score of the one-column models: R² for a regression, ROC-AUC for two
    classes, balanced accuracy for more (plain accuracy would rate any column
    highly when one class dominates)."""
    if task == REGRESSION:
        return "r2"
    return "roc_auc" if n_classes == 2 else "balanced_accuracy"


def held_out(y: np.ndarray, classes: bool, rng: np.random.Generator) -> np.ndarray:
    """True for the held-out rows: 3 in 10, within each class when ``classes``."""
    order = rng.permutation(len(y))
    rank = np.empty(len(y), dtype=np.int64)
    if classes:
        for value in np.unique(y):
            members = order[y[order] == value]
            rank[members] = np.arange(len(members))
    else:
        rank[order] = np.arange(len(y))
    return rank % 10 < round(10 * TEST_SHARE)


def _roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC from ranks (the Mann-Whitney U statistic), ties counted half:
    the same number as scikit-learn's, without its input checks, which cost
    more than the sums on thousands of rows."""
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def score_of(metric: str, y: np.ndarray, predicted: np.ndarray) -> float | None:
    """``predicted`` is a positive-class probability (roc_auc), a class code
    (balanced_accuracy) or a value (r2)."""
    if metric == "roc_auc":
        return _roc_auc(y, predicted)
    if metric == "balanced_accuracy":
        # by hand: scikit-learn warns when a prediction names a class absent from y
        return float(np.mean([np.mean(predicted[y == c] == c) for c in np.unique(y)]))
    spread = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - predicted) ** 2)) / spread if spread > 0 else None


def _tree(x: np.ndarray, y: np.ndarray, test: np.ndarray, metric: str,
          seed: int) -> np.ndarray:
    """Held-out predictions of a shallow tree on the numeric column ``x``: values,
    classes, or positive-class probabilities for ROC-AUC."""
    X = x.reshape(-1, 1)
    kind = DecisionTreeRegressor if metric == "r2" else DecisionTreeClassifier
    model = kind(max_depth=DEPTH, min_samples_leaf=MIN_LEAF, random_state=seed)
    model.fit(X[~test], y[~test])
    if metric == "roc_auc":
        return model.predict_proba(X[test])[:, list(model.classes_).index(1)]
    return model.predict(X[test])


def _interpolation(x: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Held-out predictions of a numeric target: straight lines between the
    training rows' mean target at each value of ``x`` (flat beyond the ends),
    the mean target of rows without ``x`` where it is missing. A tree's steps
    lose R² in a skewed target's sparse tail (the log of the target scored
    0.93 on 300 rows); lines follow any exact relation. On noise they score far
    below zero, so a numeric target takes the better of both models."""
    train_x, train_y = x[~test], y[~test]
    present = ~np.isnan(train_x)
    values, where = np.unique(train_x[present], return_inverse=True)
    means = np.bincount(where, weights=train_y[present]) / np.bincount(where)
    gap = train_y[~present].mean() if not present.all() else train_y.mean()
    test_x = x[test]
    return np.where(np.isnan(test_x), gap, np.interp(test_x, values, means))


def _lookup(codes: np.ndarray, y: np.ndarray, test: np.ndarray, metric: str,
            n_classes: int) -> np.ndarray:
    """Held-out predictions from each value's training rows: the mean target (or
    positive share), or the most frequent class. Missing is a value of its own;
    values never seen in training get the overall mean or most frequent class."""
    codes = np.where(codes < 0, codes.max() + 1, codes)
    size = int(codes.max()) + 1
    train_codes, train_y = codes[~test], y[~test]
    seen = np.bincount(train_codes, minlength=size)
    if metric == "balanced_accuracy":
        table = np.zeros((size, n_classes))
        np.add.at(table, (train_codes, train_y.astype(np.int64)), 1)
        by_value = table.argmax(axis=1).astype(float)
        fallback = float(np.bincount(train_y.astype(np.int64)).argmax())
    else:
        sums = np.bincount(train_codes, weights=train_y.astype(float), minlength=size)
        by_value = np.divide(sums, seen, out=np.zeros(size), where=seen > 0)
        fallback = float(train_y.mean())
    by_value[seen == 0] = fallback
    return by_value[codes[test]]


def _numeric_score(x: np.ndarray, y: np.ndarray, test: np.ndarray, metric: str,
                   seed: int) -> float | None:
    """The held-out score of the numeric column ``x``; None when it cannot be had."""
    if np.isnan(x[~test]).all() or (metric != "r2" and len(np.unique(y[~test])) < 2):
        return None
    score = score_of(metric, y[test], _tree(x, y, test, metric, seed))
    if metric == "r2" and score is not None:  # the better of steps and lines
        lines = score_of(metric, y[test], _interpolation(x, y, test))
        score = max(score, lines) if lines is not None else score
    return score


def single_column_scores(columns: dict[str, np.ndarray], codes: dict[str, np.ndarray],
                         y: np.ndarray, *, metric: str, n_classes: int,
                         seed: int = 0) -> dict[str, float]:
    """The held-out score of a one-column model per column: ``columns`` maps a
    numeric column to its float values, ``codes`` a text column to its value
    codes (-1 when missing), all on the same rows as ``y`` (floats for r2,
    class codes 0..k-1 otherwise). A numeric column with gaps scores the better
    of all rows and the rows where it has a value. Columns that cannot be
    scored are left out."""
    keep = np.ones(len(y), dtype=bool)
    if metric != "r2":
        # a class with a handful of rows cannot be judged on held-out rows; leave it out
        labels = y.astype(np.int64)
        keep = np.bincount(labels, minlength=n_classes)[labels] >= MIN_CLASS_ROWS
        if len(np.unique(y[keep])) < 2:
            return {}
    y = y[keep]
    if len(y) < MIN_ROWS:
        return {}
    test = held_out(y, metric != "r2", np.random.default_rng(seed))
    scores = {}
    for name, values in columns.items():
        values = values[keep]
        found = [_numeric_score(values, y, test, metric, seed)]
        present = ~np.isnan(values)
        if not present.all() and present.sum() >= MIN_ROWS:
            # a value recorded only for some rows (say, after the outcome) can leak
            # on those rows and be drowned by the others on all of them
            found.append(_numeric_score(values[present], y[present], test[present], metric,
                                        seed))
        found = [score for score in found if score is not None]
        scores[name] = max(found) if found else None
    for name, value_codes in codes.items():
        predicted = _lookup(value_codes[keep], y, test, metric, n_classes)
        scores[name] = score_of(metric, y[test], predicted)
    return {name: score for name, score in scores.items() if score is not None}


def leakage_findings(scores: dict[str, float], metric: str, *, target: str) -> list[Finding]:
    """An error per column whose score alone is above :data:`LEAKAGE_ABOVE`."""
    bar = LEAKAGE_ABOVE[metric]
    return [Finding(
        LEAKAGE, "error", name,
        f"'{name}' alone predicts '{target}' almost perfectly ({METRIC_TITLES[metric]} "
        f"{score:.3f} on "
        "held-out rows): it may be the target in disguise or known only after the outcome. "
        "Make sure it is available at prediction time, or exclude it.", score)
        for name, score in scores.items() if score > bar]
