"""The report's view of found operating regimes: how many, why that many, where
their centres are, and a picture of the training rows coloured by regime."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from shipyard import report
from shipyard.prepare.regimes import MIN_SILHOUETTE, Regimes

PLOTTED_ROWS = 3000


def section(found: Regimes, frame: pd.DataFrame, seed: int = 0) -> report.Section:
    if found.chosen_by == "given":
        why = f"{found.count} clusters, as the project file asks"
    elif found.count == 1:
        best = max(found.silhouettes.values(), default=float("nan"))
        why = (f"one regime: no number of clusters reached a silhouette of "
               f"{MIN_SILHOUETTE} (best {best:.2f})")
    else:
        why = (f"{found.count} clusters, the best silhouette "
               f"({found.silhouettes[found.count]:.2f}) of the numbers tried")
    text = (f"<p>Regimes found by k-means on {len(found.columns)} standardised column(s) "
            f"({html.escape(', '.join(found.columns[:12]))}"
            f"{', ...' if len(found.columns) > 12 else ''}): {html.escape(why)}. Every "
            "series column is standardised within its regime, and the regime is a feature "
            "(<code>operating_regime</code>).</p>")
    parts = [text]
    if found.silhouettes:
        parts.append(report.table([{"clusters": k, "silhouette": v}
                                   for k, v in sorted(found.silhouettes.items())]))
    centres = found.centres_in_units()
    shown = found.columns[:6]
    parts.append(report.table([
        {"regime": i, "training rows": found.sizes[i],
         **{c: float(centres[i, found.columns.index(c)]) for c in shown}}
        for i in range(found.count)]))
    picture = _scatter(found, frame, seed)
    if picture:
        parts.append(report.gallery([picture]))
    return report.Section("Operating regimes", "".join(parts))


def _scatter(found: Regimes, frame: pd.DataFrame, seed: int) -> str | None:
    if len(found.columns) < 1 or any(c not in frame.columns for c in found.columns):
        return None
    rows = frame[found.columns].apply(pd.to_numeric, errors="coerce").dropna()
    if rows.empty:
        return None
    if len(rows) > PLOTTED_ROWS:
        rows = rows.sample(PLOTTED_ROWS, random_state=seed)
    labels = found.assign(rows.to_numpy())
    (x, x_name), (y, y_name) = _two_axes(found, rows)
    fig, ax = report.new_figure(6.0, 4.2)
    for regime in range(found.count):
        mine = labels == regime
        ax.scatter(x[mine], y[mine], s=6, alpha=0.6, label=f"regime {regime}")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(f"Training rows by operating regime ({len(rows):,} shown)")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    return report.figure(fig, alt="Training rows coloured by operating regime")


def _two_axes(found: Regimes, rows: pd.DataFrame) -> tuple[tuple, tuple]:
    """The two clustered columns that spread the centres most (in standard units);
    one column is plotted against the row's position."""
    spread = found.centres.std(axis=0) if found.count > 1 else np.ones(len(found.columns))
    order = np.argsort(-spread)
    first = found.columns[order[0]]
    if len(found.columns) == 1:
        return (np.arange(len(rows), dtype=float), "row"), (rows[first].to_numpy(), first)
    second = found.columns[order[1]]
    return (rows[first].to_numpy(), first), (rows[second].to_numpy(), second)
