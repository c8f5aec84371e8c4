"""Operating regimes found in the data, for ``prepare.series.regime: auto``.

An engine at take-off and at cruise reads very different temperatures; what
says something about its wear is how far a reading is from what is usual *in
that regime*. When the data has no regime column, the regimes are found by
clustering: k-means (scikit-learn) on the chosen columns, each standardised
first (a constant column says nothing and is left out). The number of
clusters is the one of 2..``max_clusters`` with the best silhouette on a
sample of rows, and one regime when even the best is below
``MIN_SILHOUETTE``: data without clear clusters (a single flight condition
with noise) is left as one regime rather than cut at random.

A row is in the regime of the nearest centre; a row missing one of the
columns has no regime (the series step then uses the overall statistics).
The fitted result is plain arrays, so serving assigns regimes without
scikit-learn's estimator and a pickled pipeline stays small. Cross-validation
and tuning fit the series step again on the same folds for every trial: the
latest results are kept by a digest of their input, so each fold is clustered
once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from shipyard.errors import DataError

MIN_SILHOUETTE = 0.5  # below this the clusters are not regimes, only a cut through noise
SAMPLE_ROWS = 4000  # rows the silhouette is measured on: it is quadratic in rows
MAX_CLUSTERS = 8
_KEPT = 32  # results kept: a few folds of a few projects
_found: OrderedDict[tuple, Regimes] = OrderedDict()


@dataclass(frozen=True)
class Regimes:
    columns: list[str]  # the columns clustered on (constant ones left out)
    mean: np.ndarray  # their standardisation
    scale: np.ndarray
    centres: np.ndarray  # one row per regime, in standardised units
    sizes: list[int]  # training rows per regime
    silhouettes: dict[int, float] = field(default_factory=dict)  # clusters tried -> score
    chosen_by: str = "silhouette"  # or "given" (a fixed number of clusters)

    @property
    def count(self) -> int:
        return len(self.centres)

    def assign(self, values: np.ndarray) -> np.ndarray:
        """The regime of each row of ``values`` (columns in ``columns``' order), as
        floats; NaN for a row missing a value."""
        values = np.asarray(values, dtype=np.float64)
        scaled = (values - self.mean) / self.scale
        distance = ((scaled[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        out = np.argmin(np.where(np.isnan(distance), np.inf, distance), axis=1).astype(float)
        out[np.isnan(scaled).any(axis=1)] = np.nan
        return out

    def centres_in_units(self) -> np.ndarray:
        return self.centres * self.scale + self.mean


def find(values: np.ndarray, columns: list[str], clusters: int | None = None,
         max_clusters: int = MAX_CLUSTERS, seed: int = 0) -> Regimes:
    """Regimes of the rows of ``values`` (one column per name in ``columns``)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    key = (hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest(), values.shape,
           tuple(columns), clusters, max_clusters, seed)
    if (known := _found.get(key)) is not None:
        _found.move_to_end(key)
        return known
    result = _find(values, list(columns), clusters, max_clusters, seed)
    _found[key] = result
    while len(_found) > _KEPT:
        _found.popitem(last=False)
    return result


def _find(values: np.ndarray, columns: list[str], clusters: int | None, max_clusters: int,
          seed: int) -> Regimes:
    complete = values[~np.isnan(values).any(axis=1)]
    if len(complete) < 2:
        raise DataError("prepare.series.regime: too few rows with every regime column to "
                        "find operating regimes", details=[f"columns: {', '.join(columns)}"])
    mean, scale = complete.mean(axis=0), complete.std(axis=0)
    varied = scale > 1e-12 * np.maximum(np.abs(mean), 1.0)
    if not varied.any():
        return _one(complete, columns, mean, scale, {})
    columns = [c for c, keep in zip(columns, varied, strict=True) if keep]
    mean, scale = mean[varied], scale[varied]
    scaled = (complete[:, varied] - mean) / scale
    rng = np.random.default_rng(seed)
    sample = scaled if len(scaled) <= SAMPLE_ROWS else \
        scaled[rng.choice(len(scaled), SAMPLE_ROWS, replace=False)]
    if clusters is not None:
        return _fitted(scaled, columns, mean, scale, clusters, seed, {}, "given")
    scores = {}
    distinct = len(np.unique(sample, axis=0))
    for k in range(2, min(max_clusters, distinct, len(sample) - 1) + 1):
        labels = _kmeans(k, seed).fit_predict(sample)
        if len(np.unique(labels)) > 1:
            scores[k] = float(silhouette_score(sample, labels, random_state=seed))
    best = max(scores, key=scores.get, default=None)
    if best is None or scores[best] < MIN_SILHOUETTE:
        return _one(complete[:, varied], columns, mean, scale, scores)
    return _fitted(scaled, columns, mean, scale, best, seed, scores, "silhouette")


def _kmeans(k: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=4, random_state=seed)


def _fitted(scaled, columns, mean, scale, k, seed, scores, chosen_by) -> Regimes:
    model = _kmeans(k, seed).fit(scaled)
    sizes = np.bincount(model.labels_, minlength=k).tolist()
    return Regimes(columns, mean, scale, model.cluster_centers_.astype(np.float64), sizes,
                   scores, chosen_by)


def _one(rows, columns, mean, scale, scores) -> Regimes:
    scale = np.where(scale > 0, scale, 1.0)
    return Regimes(list(columns), mean, scale, np.zeros((1, len(columns))), [len(rows)],
                   scores, "silhouette")
