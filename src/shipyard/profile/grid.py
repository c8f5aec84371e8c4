"""Every column's distribution as small multiples, many panels per image.

One image of up to 32 panels loads faster and weighs less than 32 images, and
the eye compares shapes across columns at a glance. Numbers and dates get a
histogram with the range written under it (and the IQR fences dotted when
values lie beyond them), text and booleans bars of their most frequent values
with the rest summed up in one grey bar.

All panels are drawn on one axes without ticks: a matplotlib axes costs tens
of milliseconds to build and lay out, so a grid of real axes took seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from shipyard import report
from shipyard.profile.findings import OUTLIER_SHARE
from shipyard.profile.plots import ALERT, label
from shipyard.profile.stats import EPOCH, ColumnProfile

PER_ROW = 4
ROWS_PER_IMAGE = 8
MAX_PANELS = 96  # beyond this the page gets heavy; the columns table still has them all
PANEL_WIDTH, PANEL_HEIGHT = 2.6, 1.55  # inches; 260 px wide at the report's 100 dpi
BARS = 5  # most frequent values drawn per text column, then one bar for the rest
COLOURS = {"alert": ALERT, "muted": "#adb5bd", "target": report.PALETTE[2],
           "feature": report.PALETTE[0]}
REST = "#ced4da"
# where things go inside a panel, as fractions of its height from the top
TITLE, PLOT_TOP, PLOT_BOTTOM, RANGE, CAPTION = 0.07, 0.2, 0.72, 0.8, 0.92
LEFT, RIGHT = 0.03, 0.97


def _count(n: int) -> str:
    """A count in a few characters: 950, 12.3k, 4.1M."""
    if n < 10_000:
        return f"{n:,}"
    return f"{n / 1e3:.1f}k" if n < 1e6 else f"{n / 1e6:.1f}M"


def _caption(col: ColumnProfile) -> str:
    parts = [f"{_count(col.distinct)} distinct"]
    if col.missing_share:
        parts.append(f"{report.share(col.missing_share)} missing")
    if col.outlier_share:
        parts.append(f"{report.share(col.outlier_share)} outliers")
    return " · ".join(parts)


def _end_label(col: ColumnProfile, value: float, span: float) -> str:
    if col.kind != "datetime":
        return report.number(int(value) if float(value).is_integer() else value)
    when = EPOCH + pd.Timedelta(days=value)
    return when.strftime("%Y-%m-%d %H:%M" if span < 3 else "%Y-%m-%d")


def _histogram(ax, col: ColumnProfile, x0: float, top: float, colour: str) -> None:
    """The histogram in the panel whose left edge is ``x0`` and top edge ``top``."""
    edges = np.asarray(col.histogram.edges)
    counts = np.asarray(col.histogram.counts, dtype=float)
    low, high = edges[0], edges[-1]
    span = high - low or 1.0
    width = RIGHT - LEFT
    x = x0 + LEFT + (edges - low) / span * width
    base = top - PLOT_BOTTOM
    heights = counts / counts.max() * (PLOT_BOTTOM - PLOT_TOP) if counts.max() else counts
    ax.stairs(base + heights, x, baseline=base, fill=True, color=colour, alpha=0.85,
              linewidth=0)
    ax.plot([x0 + LEFT, x0 + RIGHT], [base, base], color="#adb5bd", linewidth=0.6)
    if col.summary is not None and (col.outlier_share or 0) > OUTLIER_SHARE:
        for fence in col.summary.fences():  # only fences inside the data's range show
            if low < fence < high:
                xf = x0 + LEFT + (fence - low) / span * width
                ax.plot([xf, xf], [base, top - PLOT_TOP], color=report.MUTED,
                        linestyle=":", linewidth=0.8)
    # the values' own range (bins reach half a unit beyond integers), else the bins'
    first, last = (col.summary.min, col.summary.max) if col.summary else (low, high)
    y = top - RANGE
    ax.text(x0 + LEFT, y, _end_label(col, first, span), fontsize=7, color=report.INK,
            ha="left", va="center")
    ax.text(x0 + RIGHT, y, _end_label(col, last, span), fontsize=7, color=report.INK,
            ha="right", va="center")


def _bars(ax, col: ColumnProfile, n_rows: int, x0: float, top: float, colour: str) -> None:
    """The most frequent values top down, each labelled inside its bar."""
    shown = list(col.top[:BARS])
    present = round(n_rows * (1 - col.missing_share))
    rows = [(label(value, 20), count, colour) for value, count in shown]
    rest = present - sum(count for _, count in shown)
    if rest > 0:
        more = col.distinct - len(shown)
        rows.append((f"{more:,} more value{'s' if more != 1 else ''}", rest, REST))
    step = (RANGE - PLOT_TOP + 0.05) / (BARS + 1)
    most = max(count for _, count, _ in rows)
    for k, (text, count, bar_colour) in enumerate(rows):
        y = top - PLOT_TOP - k * step
        ax.fill_between([x0 + LEFT, x0 + LEFT + count / most * (RIGHT - LEFT)],
                        y - 0.9 * step, y, color=bar_colour, alpha=0.4, linewidth=0)
        ax.text(x0 + LEFT + 0.02, y - 0.45 * step, f"{text}  {report.share(count / n_rows)}",
                fontsize=7, color=report.INK, va="center")


def _panel(ax, col: ColumnProfile, n_rows: int, x0: float, top: float, tone: str) -> None:
    colour = COLOURS[tone]
    if col.histogram is not None and col.distinct > 1:
        _histogram(ax, col, x0, top, colour)
    elif col.top:
        _bars(ax, col, n_rows, x0, top, colour)
    else:
        # a one-bin histogram would read as a uniform spread
        value = col.summary.min if col.summary else None
        text = ("no values" if col.distinct == 0 else
                f"one value: {label(_end_label(col, value, 0), 20)}" if value is not None else
                "one value")
        ax.text(x0 + 0.5, top - 0.45, text, fontsize=8, color=report.MUTED,
                ha="center", va="center")
    ax.text(x0 + LEFT, top - TITLE, label(col.name, 22), fontsize=9, fontweight="bold",
            color=ALERT if tone == "alert" else report.INK, va="center")
    ax.text(x0 + RIGHT, top - TITLE, col.kind, fontsize=7, color=report.MUTED, ha="right",
            va="center")
    ax.text(x0 + LEFT, top - CAPTION, _caption(col), fontsize=7, color=report.MUTED,
            va="center")


def distribution_grid(columns: list[ColumnProfile], n_rows: int,
                      tones: dict[str, str]) -> list[str]:
    """Images of small multiples, one panel per column (at most
    :data:`MAX_PANELS`, then a note). ``tones`` colours a column's panel: ``alert``
    (leakage suspects), ``muted`` (not a feature), ``target``; others ``feature``."""
    images = []
    shown = columns[:MAX_PANELS]
    per_image = PER_ROW * ROWS_PER_IMAGE
    for start in range(0, len(shown), per_image):
        chunk = shown[start:start + per_image]
        rows = -(-len(chunk) // PER_ROW)
        fig = Figure(figsize=(PER_ROW * PANEL_WIDTH, rows * PANEL_HEIGHT))
        # one unit per panel each way: panel k sits at column k % PER_ROW, row k // PER_ROW
        ax = fig.add_axes((0, 0, 1, 1), xlim=(0, PER_ROW), ylim=(-rows, 0))
        ax.set_axis_off()
        for k, col in enumerate(chunk):
            _panel(ax, col, n_rows, k % PER_ROW, -(k // PER_ROW),
                   tones.get(col.name, "feature"))
        names = ", ".join(col.name for col in chunk)
        images.append(report.figure(fig, alt=f"Distributions: {names}"))
    if len(columns) > len(shown):
        images.append(f'<p class="note">The first {len(shown)} of {len(columns)} columns are '
                      "drawn; the table below has them all.</p>")
    return images
