"""The training part of the run report: how each candidate did in cross-validation."""

from __future__ import annotations

import html

from shipyard.metrics import METRICS, for_task
from shipyard.report import Section, figure, new_figure, table


def section(result, task: str, folds: int, strategy: str) -> Section:
    metric = METRICS[result.metric]
    others = [m.name for m in for_task(task) if m.name != metric.name][:3]
    rows = []
    for c in sorted(result.candidates, key=lambda c: c.mean(metric.name),
                    reverse=metric.greater_is_better):
        row = {"model": c.name + (" (chosen)" if c is result.best else ""),
               f"{metric.title} (mean ± std)": f"{c.mean(metric.name):.4g} ± "
                                                 f"{c.std(metric.name):.2g}"}
        row.update({METRICS[m].title: c.mean(m) for m in others})
        row.update({"trials": c.trials or "-", "seconds": round(c.seconds, 1),
                    "parameters": _params(c.params)})
        rows.append(row)
    intro = (f"<p>{len(result.candidates)} candidate(s), {folds}-fold cross-validation "
             f"({html.escape(strategy)} split) on the training rows; the best by "
             f"{html.escape(metric.title)} was refit on all of them.</p>")
    return Section("Model selection", intro + table(rows) + _tuning_plot(result, metric))


def _params(params: dict) -> str:
    if not params:
        return "defaults"
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def _tuning_plot(result, metric) -> str:
    tuned = [c for c in result.candidates if c.history]
    if not tuned:
        return ""
    fig, ax = new_figure(6.5, 3.2)
    for c in tuned:
        ax.plot(range(1, len(c.history) + 1), c.history, marker="o", ms=3, label=c.name)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"CV {metric.title}")
    ax.set_title("Tuning trials")
    ax.legend()
    return figure(fig)
