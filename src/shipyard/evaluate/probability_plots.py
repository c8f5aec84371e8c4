"""Plots of a classifier's probabilities: calibration and metrics across
decision thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard import report
from shipyard.evaluate.curves import thresholds as thresholds_table
from shipyard.evaluate.plots import SIZE
from shipyard.metrics import BINARY, Prediction

FINE_GRID = np.round(np.arange(1, 100) * 0.01, 2)  # the plot's grid; the stored table is coarser


def calibration(p: Prediction, curve: pd.DataFrame) -> str:
    """The reliability diagram over a histogram of the predicted probabilities:
    points on the diagonal mean "70% sure" comes true 70% of the time, and the
    histogram shows where the model's predictions actually fall."""
    binary = p.task == BINARY
    score = p.positive_proba if binary else p.proba.max(axis=1)
    fig, ax = report.new_figure(*SIZE)
    # the histogram sits on a second y axis, scaled to fill the bottom third,
    # so it shows the spread of predictions without hiding the curve
    counts = ax.twinx()
    heights, _, _ = counts.hist(score, bins=20, range=(0, 1), color=report.PALETTE[5],
                                alpha=0.3, linewidth=0)
    counts.set_ylim(0, max(float(heights.max()), 1.0) * 3)
    counts.set_ylabel("rows", color=report.MUTED, fontsize=9)
    counts.tick_params(colors=report.MUTED, labelsize=8)
    counts.spines["top"].set_visible(False)
    counts.spines["right"].set_color("#adb5bd")
    counts.grid(False)
    ax.set_zorder(counts.get_zorder() + 1)  # the curve in front of the bars
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], color=report.MUTED, linestyle="--", linewidth=1,
            label="perfectly calibrated")
    ax.plot(curve["predicted"], curve["observed"], marker="o", markersize=4, linewidth=1.8,
            color=report.PALETTE[0], label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    if binary:
        ax.set_xlabel(f"predicted probability of {p.positive_class}")
        ax.set_ylabel("observed share of positives")
        ax.set_title("Calibration (equal-count bins)")
    else:
        ax.set_xlabel("confidence (probability of the predicted class)")
        ax.set_ylabel("observed share correct")
        ax.set_title("Calibration of the top class (equal-count bins)")
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    return report.figure(fig)


def thresholds(p: Prediction, threshold: float) -> str:
    """Precision, recall and F1 as the decision threshold moves, with the share
    of rows flagged, and a line at the threshold the model uses."""
    table = thresholds_table(p, FINE_GRID)
    fig, ax = report.new_figure(*SIZE)
    for column, colour in (("precision", 0), ("recall", 1), ("f1", 2)):
        ax.plot(table["threshold"], table[column], linewidth=1.8, color=report.PALETTE[colour],
                label="F1" if column == "f1" else column)
    ax.plot(table["threshold"], table["predicted positive"], linewidth=1.2, linestyle=":",
            color=report.MUTED, label="share flagged")
    ax.axvline(threshold, color=report.INK, linestyle="--", linewidth=1,
               label=f"threshold {threshold:.2f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(f"threshold on the probability of {p.positive_class}")
    ax.set_title("Metrics across thresholds")
    ax.legend(loc="best", frameon=False, fontsize=8)
    return report.figure(fig)
