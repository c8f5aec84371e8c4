"""The report's Fairness section: group metrics, the gate's verdicts and, when the
model was mitigated, the effect on fairness and the cost in model quality."""

from __future__ import annotations

import numpy as np
from markupsafe import escape
from matplotlib.figure import Figure

from shipyard import report
from shipyard.gates.fairness import WORDS, Audit
from shipyard.gates.record import GateResult
from shipyard.metrics import BINARY, REGRESSION
from shipyard.report.plots import style

MAX_GROUPS = 20  # bars drawn per chart: the largest groups; the table lists them all
METHODS = {
    "exponentiated_gradient": "Exponentiated gradient retrained the model as a weighted "
    "mixture of models that meets the constraint on the training rows; it predicts "
    "positive where at least half of the mixture (by weight) does.",
    "threshold_optimizer": "The threshold optimizer kept the model and chose a decision "
    "rule per group of the sensitive columns; it predicts positive where the group's "
    "rule says so with probability at least 0.5.",
}


def _verdict(r: GateResult):
    if r.passed:
        return report.badge("pass", "good")
    if r.overridden is not None:
        return report.badge("overridden", "warn")
    return report.badge("FAIL", "bad") if r.blocking else report.badge("warning", "warn")


def _plotted(task: str) -> list[str]:
    if task == BINARY:
        return ["selection_rate", "true_positive_rate", "false_positive_rate"]
    return ["mae", "rmse"] if task == REGRESSION else ["accuracy"]


def _labels(a: Audit) -> list[str]:
    return [", ".join(str(a.groups[c].iloc[i]) for c in a.sensitive) for i in range(len(a.groups))]


def _bars(ax, a: Audit, title: str) -> None:
    shown = a.groups.sort_values("count", ascending=False).head(MAX_GROUPS)
    rows = list(shown.index)
    names = _labels(a)
    labels = [names[i] for i in rows]
    columns = _plotted(a.task)
    width = 0.8 / len(columns)
    x = np.arange(len(rows))
    for k, col in enumerate(columns):
        ax.bar(x + (k - (len(columns) - 1) / 2) * width, shown[col].to_numpy(dtype=float),
               width, label=WORDS[col], color=report.PALETTE[k])
    ax.set_xticks(x, [t if len(t) <= 18 else t[:17] + "…" for t in labels],
                  rotation=45 if len(rows) > 4 else 0, ha="right" if len(rows) > 4 else "center")
    more = f", largest {MAX_GROUPS} of {len(a.groups)}" if len(a.groups) > MAX_GROUPS else ""
    ax.set_title(title + more)
    if a.task != REGRESSION:
        ax.set_ylim(0, 1)


def chart(before: Audit, after: Audit | None = None) -> str:
    """Per-group rates (errors for regression) as bars, before and after mitigation."""
    panels = [(before, "Before mitigation" if after else "Per group")]
    if after is not None:
        panels.append((after, "After mitigation"))
    n = len(before.groups)
    fig = Figure(figsize=(min(4.6 + 0.5 * min(n, MAX_GROUPS), 9.0) * len(panels) * 0.75 + 1,
                          3.9), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=before.task != REGRESSION, squeeze=False)[0]
    for ax, (a, title) in zip(axes, panels, strict=True):
        style(ax)
        _bars(ax, a, title)
    # one legend under both panels, where it hides no bar
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False,
               fontsize=9)
    fig.suptitle(f"Group metrics by {', '.join(before.sensitive)}", fontsize=11,
                 color=report.INK)
    return report.figure(fig)


def _group_table(a: Audit) -> str:
    columns = [*a.sensitive, "count", *[c for c in a.groups.columns
                                        if c not in a.sensitive and c != "count"]]
    rows = [{**{c: a.groups[c].iloc[i] for c in columns}} for i in range(len(a.groups))]
    rows.append({a.sensitive[0]: "all rows", "count": int(a.groups["count"].sum()),
                 **a.overall})
    return report.table(rows, columns, highlight=[len(rows) - 1])


def _summary_table(judged_audit: Audit, results: list[GateResult]) -> str:
    """Every summary metric of the judged model, with the check's verdict if any."""
    judged = {r.metric: r for r in results}
    rows = []
    for metric, value in judged_audit.summary.items():
        r = judged.get(metric)
        rows.append({"metric": metric.replace("_", " "), "value": r.actual if r else value,
                     "rule": f"{r.op} {r.threshold:g}" if r else "",
                     "verdict": _verdict(r) if r else report.badge("not checked"),
                     "details": (r.details + (f" — overridden: {r.overridden}" if r.overridden
                                              else "")) if r else ""})
    return report.table(rows)


def _cost_table(cost: dict[str, tuple[float, float]], before: Audit, after: Audit) -> str:
    rows = [{"metric": name, "before": b, "after": a, "change": a - b}
            for name, (b, a) in cost.items()]
    rows += [{"metric": metric.replace("_", " "), "before": value,
              "after": after.summary.get(metric, float("nan")),
              "change": after.summary.get(metric, float("nan")) - value}
             for metric, value in before.summary.items()]
    return report.table(rows, ["metric", "before", "after", "change"],
                        formats={"change": lambda v: f"{v:+.4f}" if v == v else "–"})


def section(before: Audit, results: list[GateResult], after: Audit | None = None,
            cost: dict[str, tuple[float, float]] | None = None,
            method: str = "") -> report.Section:
    """``before``: the trained model's audit; ``after``: the mitigated model's, if any;
    ``cost``: model metrics on the same rows, metric -> (before, after); ``results``: the
    fairness gate's verdicts, on the mitigated model when there is one."""
    columns = ", ".join(before.sensitive)
    parts = [f"<p>Metrics per group of <b>{escape(columns)}</b> ({len(before.groups)} groups, "
             f"{int(before.groups['count'].sum()):,} rows), compared with the project's "
             "bounds. A missing value is a group of its own.</p>"]
    failed = [r for r in results if not r.ok]
    if results:
        tone = "fail" if failed else "pass"
        words = (f"{len(failed)} blocking fairness check(s) failed" if failed else
                 "Every fairness check passed or only warns")
        parts.append(f"<p class='verdict {tone}'>{escape(words)}.</p>")
    parts += [_summary_table(after or before, results), chart(before, after)]
    if after is not None:
        parts.append(f"<h3>Mitigation: {escape(method.replace('_', ' ') or 'applied')}</h3>")
        if method in METHODS:
            parts.append(f"<p>{escape(METHODS[method])} The model's tuned decision threshold "
                         "does not apply to it.</p>")
        parts += ["<p>Effect and cost, on the same rows:</p>",
                  _cost_table(cost or {}, before, after), "<h3>Per group, before</h3>",
                  _group_table(before), "<h3>Per group, after</h3>", _group_table(after)]
    else:
        parts.append(_group_table(before))
    return report.Section("Fairness", "".join(parts))


__all__ = ["chart", "section"]
