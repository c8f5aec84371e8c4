"""The profile's plots that stand alone: target, missing values, correlations,
and how well each column alone predicts the target."""

from __future__ import annotations

import matplotlib
import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from shipyard import report
from shipyard.metrics import REGRESSION
from shipyard.profile.correlation import Correlations
from shipyard.profile.leakage import LEAKAGE_ABOVE, METRIC_TITLES
from shipyard.profile.stats import TargetProfile

MAX_MISSING_BARS = 30  # beyond this the chart is unreadable; the table has them all
MAX_SCORE_BARS = 20
ANNOTATE_CELLS = 12  # write r in the heatmap's cells up to this many columns
ALERT = report.PALETTE[3]  # vermilion: leakage suspects


def label(text: object, width: int = 24) -> str:
    """``text`` shortened to ``width`` characters for a plot, with ``$`` escaped:
    matplotlib would read text between two dollar signs as a formula."""
    text = str(text)
    if len(text) > width:
        text = text[:width - 1] + "…"
    return text.replace("$", r"\$")


def target_plot(t: TargetProfile) -> str | None:
    """The target's histogram, or its class counts with each class's share and
    the imbalance ratio in the title."""
    fig, ax = report.new_figure(6.0, 3.6)
    title = f"Target: {t.name}"
    if t.task == REGRESSION:
        if t.histogram is None:
            return None
        edges = np.asarray(t.histogram.edges)
        ax.bar(edges[:-1], t.histogram.counts, width=np.diff(edges), align="edge",
               color=report.PALETTE[0], edgecolor="white", linewidth=0.5)
        ax.set_xlabel(label(t.name, 40))
    else:
        if not t.counts:
            return None
        labels = [label(c, 16) for c in t.counts]
        counts = list(t.counts.values())
        bars = ax.bar(labels, counts, color=report.PALETTE[0])
        total = sum(counts)
        ax.bar_label(bars, labels=[f"{c / total:.1%}" for c in counts], fontsize=8,
                     color=report.INK)
        ax.set_xlabel("class")
        if len(labels) > 8:
            ax.tick_params(axis="x", labelrotation=45)
        if t.imbalance_ratio is not None and t.n_classes > 1:
            title += f" (imbalance {t.imbalance_ratio:.1f} : 1)"
    ax.set_ylabel("rows")
    ax.set_title(label(title, 70))
    return report.figure(fig, alt=title)


def missing_plot(names: list[str], shares: list[float]) -> str | None:
    """Horizontal bars of the missing share of the columns that have gaps."""
    pairs = sorted(((s, n) for n, s in zip(names, shares, strict=True) if s > 0),
                   reverse=True)[:MAX_MISSING_BARS]
    if not pairs:
        return None
    fig, ax = report.new_figure(6.0, max(2.0, 0.6 + 0.28 * len(pairs)))
    ax.barh([label(n, 30) for _, n in reversed(pairs)], [s for s, _ in reversed(pairs)],
            height=0.6, color=report.PALETTE[1])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter("{x:.0%}")
    ax.set_xlabel("share of rows missing")
    ax.set_title("Missing values by column")
    return report.figure(fig)


def _clustered(matrix: np.ndarray) -> np.ndarray:
    """An order of the columns that puts strongly related ones (either sign) side
    by side, so groups show as blocks: average linkage on 1 - |r|."""
    if len(matrix) < 3:
        return np.arange(len(matrix))
    distance = 1 - np.abs(np.nan_to_num(matrix, nan=0.0))
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(np.clip((distance + distance.T) / 2, 0, 1), checks=False)
    return leaves_list(linkage(condensed, method="average", optimal_ordering=True))


def correlation_plot(corr: Correlations, shown: list[str], *, last: str | None = None) -> str:
    """A heatmap of Pearson r between the columns ``shown``, clustered, with the
    column ``last`` (the target) at the end where it is easy to find."""
    index = [corr.columns.index(name) for name in shown]
    order = _clustered(corr.matrix[np.ix_(index, index)])
    shown = [shown[k] for k in order]
    if last in shown:
        shown = [name for name in shown if name != last] + [last]
    index = [corr.columns.index(name) for name in shown]
    matrix = corr.matrix[np.ix_(index, index)]
    n = len(shown)
    side = min(10.0, 3.0 + 0.26 * n)
    fig, ax = report.new_figure(side + 1.2, side)
    ax.grid(False)
    # grey, not white, where r is undefined: white would read as r = 0
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#dee2e6")
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-1, vmax=1)
    names = [label(name, 18) for name in shown]
    size = 8 if n <= 15 else 7
    ax.set_xticks(range(n), names, rotation=90, fontsize=size)
    ax.set_yticks(range(n), names, fontsize=size)
    if n <= ANNOTATE_CELLS:
        for (i, j), r in np.ndenumerate(matrix):
            if np.isfinite(r):
                ax.text(j, i, f"{r:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(r) > 0.6 else report.INK)
    fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson r")
    title = "Correlation between numeric columns (clustered)"
    if n < len(corr.columns):
        title += f" ({n} of {len(corr.columns)}, largest variance)"
    ax.set_title(title)
    return report.figure(fig)


def scores_plot(scores: dict[str, float], metric: str, target: str) -> str | None:
    """Bars of each column's one-column score, best first; suspects in red."""
    if not scores:
        return None
    best = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:MAX_SCORE_BARS]
    bar = LEAKAGE_ABOVE[metric]
    chance = 0.5 if metric == "roc_auc" else 0.0
    left = min(chance, min(score for _, score in best))
    fig, ax = report.new_figure(6.0, max(2.2, 0.8 + 0.26 * len(best)))
    names = [label(name, 28) for name, _ in reversed(best)]
    values = [score - left for _, score in reversed(best)]
    colours = [ALERT if score > bar else report.PALETTE[0] for _, score in reversed(best)]
    ax.barh(names, values, left=left, height=0.6, color=colours)
    ax.axvline(bar, color=ALERT, linestyle="--", linewidth=1,
               label=f"leakage suspect above {bar:g}")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_xlim(left, 1.0)
    ax.set_xlabel(f"held-out {METRIC_TITLES[metric]} of a one-column model")
    ax.set_title(label(f"How well each column alone predicts {target}", 70))
    return report.figure(fig, alt=f"Each column alone predicting {target}")
