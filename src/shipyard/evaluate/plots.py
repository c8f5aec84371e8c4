"""The evaluation's plots, each returned as an inline ``<img>``."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from shipyard import report
from shipyard.metrics import Prediction

MAX_POINTS = 5000  # scatter plots beyond this are ink, not information
MAX_ROC_CLASSES = 10  # one-vs-rest curves drawn; more would be an unreadable tangle
MAX_ANNOTATED_CLASSES = 15  # confusion matrix cells get numbers up to this size
MAX_BARS = 20  # importance bars drawn; the long tail says little
SIZE = (4.6, 3.9)  # inches: three plots fit a wide page's row, two a laptop's


def _alpha(n: int) -> float:
    return 0.7 if n < 1000 else 0.35


def _sample(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    # a fixed seed keeps the report identical when the run is reproduced
    return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def predicted_vs_actual(p: Prediction) -> str:
    y, yhat = np.asarray(p.y_true, dtype=float), np.asarray(p.y_pred, dtype=float)
    rows = _sample(len(y))
    fig, ax = report.new_figure(*SIZE)
    ax.scatter(y[rows], yhat[rows], s=8, alpha=_alpha(len(rows)), color=report.PALETTE[0],
               linewidths=0)
    low, high = float(min(y.min(), yhat.min())), float(max(y.max(), yhat.max()))
    ax.plot([low, high], [low, high], color=report.MUTED, linestyle="--", linewidth=1,
            label="perfect prediction")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    shown = f" ({len(rows):,} of {len(y):,} rows)" if len(rows) < len(y) else ""
    ax.set_title("Predicted vs actual" + shown)
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    return report.figure(fig)


def residuals(p: Prediction, against: str = "predicted") -> str:
    """Residuals against the predicted values (a pattern means the model is
    biased somewhere) or against the actual values (the slope shows how much the
    model shrinks extremes toward the mean)."""
    y, yhat = np.asarray(p.y_true, dtype=float), np.asarray(p.y_pred, dtype=float)
    x = yhat if against == "predicted" else y
    rows = _sample(len(y))
    fig, ax = report.new_figure(*SIZE)
    ax.scatter(x[rows], (y - yhat)[rows], s=8, alpha=_alpha(len(rows)),
               color=report.PALETTE[2 if against == "predicted" else 3], linewidths=0)
    ax.axhline(0, color=report.MUTED, linestyle="--", linewidth=1)
    ax.set_xlabel(against)
    ax.set_ylabel("actual − predicted")
    ax.set_title(f"Residuals vs {against}")
    return report.figure(fig)


def importance(ranked: list[tuple[str, float, float]], scored_by: str) -> str:
    """Horizontal bars of the most important columns, with their spread over the
    shuffles as error bars. ``scored_by`` names what the bar lengths measure."""
    shown = ranked[:MAX_BARS][::-1]  # barh draws bottom-up; most important on top
    names = [name if len(name) <= 28 else name[:27] + "…" for name, _, _ in shown]
    fig, ax = report.new_figure(SIZE[0], 1.2 + 0.24 * len(shown))
    ax.barh(np.arange(len(shown)), [m for _, m, _ in shown], xerr=[s for _, _, s in shown],
            color=report.PALETTE[0], error_kw={"ecolor": report.MUTED, "linewidth": 1})
    ax.set_yticks(np.arange(len(shown)), names)
    ax.axvline(0, color=report.MUTED, linewidth=1)
    ax.set_xlabel(scored_by)
    more = f", top {MAX_BARS} of {len(ranked)}" if len(ranked) > MAX_BARS else ""
    ax.set_title(f"Permutation importance{more}")
    return report.figure(fig)


def _chance_line(ax) -> None:
    ax.plot([0, 1], [0, 1], color=report.MUTED, linestyle="--", linewidth=1,
            label="chance")


def _roc_curve(ax, positive: np.ndarray, score: np.ndarray, label: str) -> None:
    if positive.all() or not positive.any():
        return  # a class absent from the holdout has no curve
    fpr, tpr, _ = skm.roc_curve(positive, score)
    ax.plot(fpr, tpr, linewidth=1.8, label=f"{label}AUC {skm.auc(fpr, tpr):.3f}")


def roc(p: Prediction) -> str:
    """Binary: the positive class's ROC curve. Multiclass: one-vs-rest curves."""
    fig, ax = report.new_figure(*SIZE)
    y = np.asarray(p.y_true)
    if len(p.classes) == 2:
        _roc_curve(ax, y == p.positive_class, p.positive_proba, "")
        ax.set_title(f"ROC curve (positive class: {p.positive_class})")
    else:
        for i, cls in enumerate(p.classes[:MAX_ROC_CLASSES]):
            _roc_curve(ax, y == cls, p.proba[:, i], f"{cls}: ")
        ax.set_title("ROC curves, one class vs rest")
    _chance_line(ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", frameon=False, fontsize=9)
    return report.figure(fig)


def precision_recall(p: Prediction) -> str:
    positive = np.asarray(p.y_true) == p.positive_class
    score = p.positive_proba
    precision, recall, _ = skm.precision_recall_curve(positive, score)
    ap = skm.average_precision_score(positive, score)
    fig, ax = report.new_figure(*SIZE)
    ax.step(recall, precision, where="post", linewidth=1.8, label=f"AP {ap:.3f}")
    prevalence = float(positive.mean())
    ax.axhline(prevalence, color=report.MUTED, linestyle="--", linewidth=1,
               label=f"prevalence {prevalence:.1%}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision–recall (positive class: {p.positive_class})")
    ax.legend(loc="lower left", frameon=False, fontsize=9)
    return report.figure(fig)


def anomaly_scores(p: Prediction, threshold: float | None) -> str:
    """The spread of anomaly scores (split by label when there are labels), with
    the threshold from which rows are flagged."""
    fig, ax = report.new_figure(*SIZE)
    score = np.asarray(p.score, dtype=float)
    bins = np.histogram_bin_edges(score, bins=40)
    if p.y_true is None:
        ax.hist(score, bins=bins, color=report.PALETTE[0], alpha=0.8, label="rows")
    else:
        anomaly = np.asarray(p.y_true, dtype=bool)
        ax.hist(score[~anomaly], bins=bins, color=report.PALETTE[0], alpha=0.6, label="normal")
        ax.hist(score[anomaly], bins=bins, color=report.PALETTE[1], alpha=0.8,
                label="anomaly")
    if threshold is not None:
        ax.axvline(threshold, color=report.INK, linestyle="--", linewidth=1,
                   label=f"threshold {threshold:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("anomaly score (higher: more anomalous)")
    ax.set_ylabel("rows")
    ax.set_title(f"Anomaly scores ({float(np.mean(p.y_pred)):.1%} flagged)")
    ax.legend(loc="upper right", frameon=False, fontsize=9)
    return report.figure(fig)


def confusion(p: Prediction) -> str:
    classes = list(p.classes)
    matrix = skm.confusion_matrix(p.y_true, p.y_pred, labels=classes)
    size = min(9.0, 3.2 + 0.45 * len(classes))
    fig, ax = report.new_figure(size + 0.8, size)
    ax.grid(False)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(classes))
    labels = [str(c) for c in classes]
    ax.set_xticks(ticks, labels, rotation=45 if len(classes) > 4 else 0, ha="right"
                  if len(classes) > 4 else "center")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (holdout rows)")
    if len(classes) <= MAX_ANNOTATED_CLASSES:
        dark = matrix.max() / 2 if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, f"{count:,}", ha="center", va="center", fontsize=9,
                    color="white" if count > dark else report.INK)
    return report.figure(fig)
