"""The training part of the run report: how each candidate did in cross-validation,
and how the chosen one learnt (train vs validation curves)."""

from __future__ import annotations

import html

import numpy as np

from shipyard.metrics import ANOMALY, METRICS, for_task
from shipyard.report import PALETTE, Section, badge, figure, gallery, new_figure, table
from shipyard.train.series_choice import QUICK


def section(result, task: str, folds: int, strategy: str) -> Section:
    metric = METRICS[result.metric]
    others = [m.name for m in for_task(task) if m.name != metric.name][:3]
    rows = []
    ordered = sorted(result.candidates, key=lambda c: c.mean(metric.name),
                     reverse=metric.greater_is_better)
    for c in ordered:
        row = {"model": c.name + (" (chosen)" if c is result.best else ""),
               f"{metric.title} (mean ± std)": f"{c.mean(metric.name):.4g} ± "
                                                 f"{c.std(metric.name):.2g}",
               f"train {metric.title}": float(np.mean(c.train_scores)) if c.train_scores
               else None}
        row.update({METRICS[m].title: c.mean(m) for m in others})
        row.update({"trials": c.trials or "-", "iterations": c.best_iterations or "-",
                    "seconds": round(c.seconds, 1), "parameters": _params(c.params)})
        rows.append(row)
    intro = (f"<p>{len(result.candidates)} candidate(s), {folds}-fold cross-validation "
             f"({html.escape(strategy)} split) on the training rows; the best by "
             f"{html.escape(metric.title)} was refit on all of them.")
    if not result.best.scores:  # an anomaly task without labels: nothing to score
        intro = (f"<p>The data has no labels, so no score can compare models or settings: "
                 f"{html.escape(result.best.name)}, the first model listed, was fitted on all "
                 "training rows as the project file sets it. It flags a row where its "
                 f"anomaly score is at least {result.threshold:.4g}, its own threshold.")
    elif task == ANOMALY:
        intro += f" It flags a row where its anomaly score is at least {result.threshold:.4g}."
    elif result.threshold is not None:
        intro += f" Its decision threshold was tuned to {result.threshold:.3f}."
    intro += "</p>"
    plots = [p for p in (_curves(result), _size_curve(result, metric), _tuning(result, metric))
             if p]
    return Section("Model selection", intro + _findings(result.findings)
                   + table(rows, highlight=[ordered.index(result.best)])
                   + (gallery(plots) if plots else "") + _series(result.series, metric))


def _series(choice, metric) -> str:
    """How the series settings left to ``auto`` were chosen: each one tried, its CV
    score, and the one kept."""
    if choice is None:
        return ""
    head = "<h3 id='series-choice'>Series settings</h3>"
    chosen = choice.series
    smooth = "none" if chosen.smooth is None else \
        f"{chosen.smooth.method} {chosen.smooth.window}"
    said = f"windows {list(chosen.windows)}, stats {', '.join(chosen.stats)}, smoothing {smooth}"
    if choice.kept_from is not None:
        return head + (f"<p>Left to <code>auto</code>: {html.escape(', '.join(choice.open))}. "
                       f"This retraining keeps version {html.escape(choice.kept_from)}'s "
                       f"settings: {html.escape(said)}.</p>")
    best = choice.best
    rows = [{"windows": ", ".join(map(str, t.windows)), "stats": ", ".join(t.stats),
             "smoothing": t.smoothing,
             f"CV {metric.title} (mean ± std)": f"{t.mean:.4g} ± {t.std:.2g}"}
            for t in choice.tried]
    intro = (f"<p>Left to <code>auto</code>: {html.escape(', '.join(choice.open))}, chosen "
             f"by cross-validation with a quick LightGBM ({QUICK['n_estimators']} trees), "
             f"one setting after "
             f"another: {len(choice.tried)} tried, and {html.escape(said)} kept.</p>")
    fig, ax = new_figure(6.0, 0.6 + 0.32 * len(rows))
    labels = [f"{r['windows']} | {r['stats']} | {r['smoothing']}" for r in rows]
    colours = [PALETTE[1] if t is best else PALETTE[0] for t in choice.tried]
    ax.barh(range(len(rows)), [t.mean for t in choice.tried],
            xerr=[t.std for t in choice.tried], color=colours)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"CV {metric.title}")
    ax.set_title("Series settings tried (windows | stats | smoothing); kept in orange")
    return head + intro + table(rows, highlight=[choice.tried.index(best)]) + figure(fig)


def _findings(findings: list[dict]) -> str:
    if not findings:
        return ""
    items = "".join(f"<li>{badge(f['severity'], 'warn')} {html.escape(f['message'])}</li>"
                    for f in findings)
    return f"<ul class='findings'>{items}</ul>"


def _params(params: dict) -> str:
    if not params:
        return "defaults"
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def _curves(result) -> str:
    curves = result.best.curves
    if not curves:
        return ""
    fig, ax = new_figure(6.0, 3.6)
    for i, curve in enumerate(curves):
        label = i == 0
        ax.plot(curve.train, color=PALETTE[0], alpha=0.6, ls="--",
                label="training rows" if label else None)
        ax.plot(curve.valid, color=PALETTE[1], alpha=0.8,
                label="validation rows" if label else None)
        ax.axvline(curve.best - 1, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel(curves[0].metric)
    ax.set_title(f"{result.best.name}: loss per iteration, each fold (dotted: kept)")
    ax.legend()
    return figure(fig)


def _size_curve(result, metric) -> str:
    curve = result.size_curve
    if curve is None:
        return ""
    fig, ax = new_figure(6.0, 3.6)
    ax.plot(curve.sizes, curve.train, marker="o", color=PALETTE[0], label="training rows")
    ax.plot(curve.sizes, curve.valid, marker="o", color=PALETTE[1], label="validation rows")
    ax.set_xlabel("training rows")
    ax.set_ylabel(metric.title)
    ax.set_title(f"{result.best.name}: learning curve (mean over folds)")
    ax.legend()
    return figure(fig)


def _tuning(result, metric) -> str:
    tuned = [c for c in result.candidates if c.history]
    if not tuned:
        return ""
    fig, ax = new_figure(6.0, 3.6)
    for i, c in enumerate(tuned):
        ax.plot(range(1, len(c.history) + 1), c.history, marker="o", ms=3,
                color=PALETTE[i % len(PALETTE)], label=c.name)
    ax.set_xlabel("trial (gaps: pruned)")
    ax.set_ylabel(f"CV {metric.title}")
    ax.set_title("Tuning trials")
    ax.legend()
    return figure(fig)
