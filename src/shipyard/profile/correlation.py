"""Linear correlation between numeric columns, and pairs that say the same thing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard.profile.findings import CORRELATED, Finding
from shipyard.profile.stats import as_floats

CORRELATED_ABOVE = 0.95  # |Pearson r| beyond which two columns are nearly collinear


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays has no single truth value
class Correlations:
    """Pearson r between ``columns`` (``matrix[i, j]`` for columns i and j), each
    pair over the rows where both are present; NaN where r is undefined."""

    columns: tuple[str, ...]
    matrix: np.ndarray

    def of(self, a: str, b: str) -> float:
        """r between columns ``a`` and ``b``; KeyError when one was not correlated."""
        try:
            i, j = self.columns.index(a), self.columns.index(b)
        except ValueError as exc:
            raise KeyError(a if a not in self.columns else b) from exc
        return float(self.matrix[i, j])

    def pairs(self, above: float = 0.0) -> list[tuple[str, str, float]]:
        """Pairs of distinct columns with |r| > ``above``, strongest first; each
        pair once, in the columns' order."""
        i, j = np.triu_indices(len(self.columns), k=1)
        r = self.matrix[i, j]
        keep = np.isfinite(r) & (np.abs(r) > above)
        order = np.argsort(-np.abs(r[keep]), kind="stable")
        return [(self.columns[a], self.columns[b], float(v))
                for a, b, v in zip(i[keep][order], j[keep][order], r[keep][order], strict=True)]


def correlations(frame: pd.DataFrame, names: list[str], rows: np.ndarray | None = None
                 ) -> Correlations | None:
    """The correlations of the columns ``names`` over ``rows`` (positions; all
    rows when None); None when there are fewer than two columns."""
    if len(names) < 2:
        return None
    data = {name: as_floats(frame[name]) for name in names}
    values = pd.DataFrame(data if rows is None else {k: v[rows] for k, v in data.items()})
    # pandas pairs up the present rows of each two columns, so a column with gaps
    # is neither dropped nor filled with made-up values
    matrix = values.corr(method="pearson", min_periods=3).to_numpy()
    return Correlations(tuple(names), matrix)


def correlated_findings(corr: Correlations | None, *, target: str) -> list[Finding]:
    """A finding per pair of features with |r| above :data:`CORRELATED_ABOVE`.
    Pairs with the target are left to the leakage check, which also sees
    non-linear and text relations."""
    if corr is None:
        return []
    found = []
    for a, b, r in corr.pairs(CORRELATED_ABOVE):
        if target in (a, b):
            continue
        found.append(Finding(
            CORRELATED, "info", a,
            f"'{a}' and '{b}' are almost collinear (r = {r:.3f}): one adds little to the "
            "other, and linear models and importances split their weight between them.",
            r, other_column=b))
    return found
