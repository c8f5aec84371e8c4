"""The evaluation's part of the run report."""

from __future__ import annotations

import math

from markupsafe import escape

from shipyard import report
from shipyard.errors import did_you_mean
from shipyard.evaluate import plots, probability_plots
from shipyard.evaluate.evaluation import Evaluation
from shipyard.evaluate.importance import IMPORTANCE_METRIC
from shipyard.metrics import ANOMALY, BINARY, METRICS, REGRESSION, UNLABELLED_METRICS

CV_COLUMN = "CV mean ± std"


def _versus(spec, value: float, base: float | None):
    if base is None or math.isnan(value) or math.isnan(base):
        return ""  # an undefined metric neither beats nor loses
    if spec.name in UNLABELLED_METRICS:
        return ""  # the share of rows flagged is a fact, neither better nor worse
    return report.badge("better", "good") if spec.better(value, base) else report.badge(
        "not better", "bad")


def _metrics_table(e: Evaluation, metric: str, cv: dict | None) -> str:
    rows, highlight = [], []
    names = [metric, *(name for name in e.metrics if name != metric)]
    for i, name in enumerate(names):
        spec = METRICS[name]
        row = {"metric": spec.title + (" (primary)" if name == metric else ""),
               "model": e.metrics[name]}
        if cv is not None:
            mean, std = cv.get(name, (None, None))
            row[CV_COLUMN] = "" if mean is None else f"{report.number(mean)} ± {report.number(std)}"
        if e.baseline_metrics:
            base = e.baseline_metrics.get(name)
            row["constant baseline"] = base
            row["vs baseline"] = _versus(spec, e.metrics[name], base)
        row["direction"] = "higher is better" if spec.greater_is_better else "lower is better"
        rows.append(row)
        if name == metric:
            highlight.append(i)
    return report.table(rows, highlight=highlight)


def _cards(e: Evaluation, metric: str) -> str:
    spec = METRICS[metric]
    values: dict[str, object] = {spec.title: e.metrics[metric]}
    notes = {spec.title: "primary metric"}
    if metric in e.baseline_metrics:
        values[f"{spec.title}, baseline"] = e.baseline_metrics[metric]
        notes[f"{spec.title}, baseline"] = "constant predictor"
    values["holdout rows"] = e.n_rows
    return report.cards(values, notes=notes)


def _plots(e: Evaluation) -> list[str]:
    p = e.prediction
    if p.task == ANOMALY:
        shown = [plots.anomaly_scores(p, e.threshold)]
        if p.y_true is not None:
            shown += [plots.roc(p), plots.precision_recall(p), plots.confusion(p)]
    elif p.task == REGRESSION:
        shown = [plots.predicted_vs_actual(p), plots.residuals(p),
                 plots.residuals(p, against="actual")]
    elif p.task == BINARY:
        shown = [plots.roc(p), plots.precision_recall(p), plots.confusion(p),
                 probability_plots.calibration(p, e.calibration),
                 probability_plots.thresholds(p, e.threshold)]
    else:
        shown = [plots.confusion(p), plots.roc(p), probability_plots.calibration(p, e.calibration)]
    if e.importance:
        spec = METRICS[IMPORTANCE_METRIC[p.task]]
        change = "rise" if not spec.greater_is_better else "drop"
        shown.append(plots.importance(e.importance, f"{change} in {spec.title} when shuffled"))
    return shown


def _segments(e: Evaluation, metric: str) -> str:
    frame = e.segments
    key = frame.columns[0]
    # the primary metric first; segment values as text, so 2024 is not shown as 2,024
    metrics = [metric, *(c for c in frame.columns[2:] if c != metric)]
    rows = [{key: str(row[key]), "rows": int(row["rows"]),
             **{METRICS[m].title: row[m] for m in metrics}} for row in frame.to_dict("records")]
    example = ("R² where all actual values are equal" if e.prediction.task == REGRESSION
               else "ROC-AUC where only one class occurs")
    return "".join([
        f"<h3>Metrics by {escape(key)}</h3>", report.table(rows),
        f"<p class=\"note\">A dash marks a metric a segment cannot define, such as {example}."
        "</p>"])


def _notes(e: Evaluation, cv: dict | None) -> tuple[str, str]:
    p = e.prediction
    notes = []
    if e.baseline_metrics and p.task == ANOMALY:
        notes.append("The constant baseline gives every row the same anomaly score: it ranks "
                     "nothing and flags nothing. A detector that does not beat it has "
                     "learned nothing useful about the anomalies.")
    elif e.baseline_metrics:
        notes.append("The constant baseline predicts the training mean (regression) or the "
                     "training class frequencies (classification) for every row: a model that "
                     "does not beat it has learned nothing useful.")
    if p.task == ANOMALY and p.y_true is None:
        notes.append("The data has no labels, so nothing can say how many flagged rows are "
                     "real anomalies; only the share flagged is measured.")
    if cv is not None:
        notes.append(f"{CV_COLUMN}: the chosen model's cross-validation on the training rows, "
                     "over folds; the holdout value should fall within its spread.")
        if p.task == REGRESSION and "phm08" in cv:
            notes.append("PHM08 is a sum over rows, so its value per fold and on the holdout "
                         "differ with the number of rows and are not comparable.")
    labels = ""
    if p.task == ANOMALY and e.threshold is not None:
        labels = (f"<p class=\"note\">A row is flagged as an anomaly where its anomaly score "
                  f"is at least {e.threshold:.4g}.</p>")
    elif p.task == BINARY:
        positive = escape(p.positive_class)
        labels = (f"<p class=\"note\">A row is labelled <code>{positive}</code> (the positive "
                  f"class) where its probability is at least {e.threshold:.3g}, the model's "
                  "decision threshold.</p>")
    return "".join(f"<p class=\"note\">{escape(n)}</p>" for n in notes), labels


def section(evaluation: Evaluation, *, metric: str,
            cv: dict[str, tuple[float, float]] | None = None) -> report.Section:
    """The holdout evaluation for the run report; ``metric``, the project's
    primary metric, is highlighted and compared with the constant baseline.
    ``cv`` maps a metric to its (mean, std) over the chosen model's
    cross-validation folds, shown next to the holdout values."""
    if metric not in evaluation.metrics:
        raise ValueError(
            f"The metric {metric!r} was not computed for this "
            f"{evaluation.prediction.task} evaluation{did_you_mean(metric, evaluation.metrics)}; "
            f"it has {', '.join(evaluation.metrics)}.")
    notes, labels = _notes(evaluation, cv)
    html = [
        _cards(evaluation, metric),
        "<h3>Metrics</h3>", _metrics_table(evaluation, metric, cv), notes,
        "<h3>Plots</h3>", labels, report.gallery(_plots(evaluation)),
    ]
    if evaluation.segments is not None:
        html.append(_segments(evaluation, metric))
    if evaluation.costs is not None:
        html.append(_costs(evaluation.costs))
    return report.Section("Holdout evaluation", "".join(html))


def _costs(frame) -> str:
    from shipyard.evaluate.costs import money, summary

    rows = [{**row, "cost": money(row["cost"], frame)} for row in frame.to_dict("records")]
    return "".join([
        "<h3 id=\"costs\">What the predictions are worth</h3>", report.table(rows),
        f"<p class=\"note\">{escape(summary(frame))} Each held-out entity's rows replayed in "
        "time order with its true labels (evaluate.costs in the project file sets the "
        "policies and the costs).</p>"])
