"""The evaluation's part of the run report."""

from __future__ import annotations

from markupsafe import escape

from shipyard import report
from shipyard.errors import did_you_mean
from shipyard.evaluate import plots
from shipyard.evaluate.evaluation import Evaluation
from shipyard.metrics import BINARY, METRICS, REGRESSION


def _metrics_table(e: Evaluation, metric: str) -> str:
    rows, highlight = [], []
    names = [metric, *(name for name in e.metrics if name != metric)]
    for i, name in enumerate(names):
        spec = METRICS[name]
        row = {"metric": spec.title + (" (primary)" if name == metric else ""),
               "model": e.metrics[name]}
        if e.baseline_metrics:
            base = e.baseline_metrics.get(name)
            row["constant baseline"] = base
            if base is None:
                row["vs baseline"] = ""
            elif spec.better(e.metrics[name], base):
                row["vs baseline"] = report.badge("better", "good")
            else:
                row["vs baseline"] = report.badge("not better", "bad")
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
    if p.task == REGRESSION:
        return [plots.predicted_vs_actual(p), plots.residuals(p)]
    if p.task == BINARY:
        return [plots.roc(p), plots.precision_recall(p), plots.confusion(p)]
    return [plots.confusion(p), plots.roc(p)]


def section(evaluation: Evaluation, *, metric: str) -> report.Section:
    """The holdout evaluation for the run report; ``metric``, the project's
    primary metric, is highlighted and compared with the constant baseline."""
    if metric not in evaluation.metrics:
        raise ValueError(
            f"The metric {metric!r} was not computed for this "
            f"{evaluation.prediction.task} evaluation{did_you_mean(metric, evaluation.metrics)}; "
            f"it has {', '.join(evaluation.metrics)}.")
    note = ""
    if evaluation.prediction.task == BINARY:
        note = ("<p class=\"note\">Labels are the most probable class (a 0.5 threshold); "
                f"the positive class is <code>{escape(evaluation.prediction.positive_class)}"
                "</code>.</p>")
    baseline = ("<p class=\"note\">The constant baseline predicts the training mean (regression) "
                "or the training class frequencies (classification) for every row: a model "
                "that does not beat it has learned nothing useful.</p>"
                if evaluation.baseline_metrics else "")
    html = "".join([
        _cards(evaluation, metric),
        "<h3>Metrics</h3>", _metrics_table(evaluation, metric), baseline,
        "<h3>Plots</h3>", note, report.gallery(_plots(evaluation)),
    ])
    return report.Section("Holdout evaluation", html)
