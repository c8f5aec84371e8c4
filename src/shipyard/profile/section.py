"""The profile's part of the run report: key figures and findings first, then
pictures (target, every column's distribution, correlations, missing values),
then the statistics table for whoever wants the numbers."""

from __future__ import annotations

from markupsafe import Markup, escape

from shipyard import report
from shipyard.metrics import REGRESSION
from shipyard.profile.correlation import CORRELATED_ABOVE
from shipyard.profile.findings import DOMINANT, LEAKAGE
from shipyard.profile.grid import distribution_grid
from shipyard.profile.leakage import METRIC_TITLES
from shipyard.profile.plots import correlation_plot, missing_plot, scores_plot, target_plot
from shipyard.profile.profiler import Profile

TONE = {"error": "bad", "warning": "warn", "info": "info"}
MAX_HEATMAP = 30  # columns in the heatmap; beyond this the labels cannot be read
STRONGEST_PAIRS = 10
FREQUENT_SHOWN = 3


def _overview(p: Profile) -> str:
    values: dict[str, object] = {"rows": p.n_rows, "columns": p.n_columns,
                                 "duplicate rows": p.duplicate_rows}
    notes = {"duplicate rows": f"{report.share(p.duplicate_rows / p.n_rows)} of rows"}
    t = p.target
    if t.task == REGRESSION:
        values["target mean"] = t.summary.mean if t.summary else None
        if t.summary:
            notes["target mean"] = f"std {report.number(t.summary.std)}"
    else:
        values["classes"] = t.n_classes
        if t.minority_share is not None:
            notes["classes"] = (f"smallest {t.minority_share:.1%} of rows, "
                                f"imbalance {t.imbalance_ratio:.1f} : 1")
    values["rows without target"] = t.missing
    if p.multivariate_outlier_share is not None:
        values["outlying rows"] = report.share(p.multivariate_outlier_share)
        notes["outlying rows"] = f"isolation forest on {len(p.outlier_columns)} columns"
    values["findings"] = len(p.findings)
    counts = {"error": p.count("error"), "warning": p.count("warning")}
    notes["findings"] = ", ".join([*(f"{n} {s}{'' if n == 1 else 's'}" for s, n in counts.items()),
                                   f"{p.count('info')} info"])
    return report.cards(values, notes=notes)


def _names(names: list[str]) -> str:
    return ", ".join(f"<strong>{escape(n)}</strong>" for n in names)


def _callouts(p: Profile) -> str:
    """The findings that change what to train on, said loudly above the rest."""
    parts = []
    suspects = p.columns_flagged(LEAKAGE)
    if suspects:
        parts.append(
            f"<p>{report.badge('leakage suspects', 'bad')} {_names(suspects)}: "
            "they predict the target too well (alone, or together as parts of it; the "
            "findings give the evidence). They are left out of the features: confirm "
            "the values are known at prediction time before listing them in "
            "<code>features.include</code>.</p>")
    strong = p.columns_flagged(DOMINANT)
    if strong:
        parts.append(
            f"<p>{report.badge('one column dominates', 'warn')} {_names(strong)}: far above "
            "every other column and close to all of them together. A value recorded "
            "after the outcome looks like this; so does an honest strong feature. It is "
            "kept: exclude it if it is not known at prediction time.</p>")
    if suspects or strong:
        parts.append(_ablation(p))
    idle = p.not_features()
    if idle:
        parts.append(
            f"<p>{report.badge('not a feature', 'neutral')} {_names(idle)}: identifiers "
            "and constants, nothing a model should learn from.</p>")
    return "".join(parts)


def _ablation(p: Profile) -> str:
    """What a quick model of every feature scores with and without the suspects."""
    a = p.ablation
    if a is None:
        return ""
    title = METRIC_TITLES.get(a.metric, a.metric)
    rows = [{"quick model": "every feature", title: a.full}]
    rows += [{"quick model": f"without '{name}'", title: score}
             for name, score in a.without.items()]
    if a.without_suspects is not None and len(a.without) != 1:
        rows.append({"quick model": "without every suspect", title: a.without_suspects})
    return ("<p>A quick gradient-boosting model on the profile's held-out rows, with "
            f"and without the suspects ({title}):</p>"
            + report.table(rows, formats={title: ".3f"}))


def _findings(p: Profile) -> str:
    if not p.findings:
        return '<p class="note">No findings: nothing unusual in the data.</p>'
    rows = []
    for f in p.findings:
        column = f.column or "all rows"
        if f.other_column:
            column += f" ~ {f.other_column}"
        rows.append({"severity": report.badge(f.severity, TONE[f.severity]),
                     "finding": f.kind.replace("_", " "), "column": column,
                     "detail": f.message})
    return report.table(rows)


def _roles(p: Profile) -> dict[str, Markup]:
    roles = {name: report.badge("not a feature", "neutral") for name in p.not_features()}
    roles |= {name: report.badge("leakage suspect", "bad")
              for name in p.columns_flagged(LEAKAGE)}
    for name, role in ((p.entity, "entity"), (p.time, "time"), (p.target.name, "target")):
        if name is not None:
            roles[name] = report.badge(role, "info")
    return roles


def _columns_table(p: Profile) -> str:
    roles = _roles(p)
    alone = f"alone ({METRIC_TITLES[p.score_metric]})" if p.score_metric else "alone"
    rows = []
    for col in p.columns:
        stats = ("mean", "std", "min", "median", "max")
        rows.append({
            "column": col.name, "role": roles.get(col.name, ""), "kind": col.kind,
            "missing": col.missing_share, "distinct": col.distinct,
            **{k: getattr(col.summary, k) if col.summary else None for k in stats},
            "outliers": col.outlier_share, alone: p.column_scores.get(col.name),
            "frequent values": ", ".join(f"{v} ({c:,})" for v, c in col.top[:FREQUENT_SHOWN]),
        })
    return report.table(rows, formats={"missing": report.share, "outliers": report.share,
                                       alone: lambda v: "–" if v is None else f"{v:.3f}"})


def _tones(p: Profile) -> dict[str, str]:
    tones = dict.fromkeys([*p.not_features(), *(k for k in (p.entity, p.time) if k)], "muted")
    tones |= dict.fromkeys(p.columns_flagged(LEAKAGE), "alert")
    tones[p.target.name] = "target"
    return tones


def _correlations(p: Profile) -> str:
    corr = p.correlations
    if corr is None:
        return ""
    # a picture of fixed size shows the most varied columns; the pairs table covers all
    spread = {name: (p.column(name).summary.std if p.column(name).summary else 0.0)
              for name in corr.columns}
    chosen = set(sorted(corr.columns, key=lambda n: -(spread[n] or 0.0))[:MAX_HEATMAP])
    shown = [name for name in corr.columns if name in chosen]
    pairs = corr.pairs()[:STRONGEST_PAIRS]
    table = report.table([{"column": a, "with": b, "r": r} for a, b, r in pairs],
                         formats={"r": "+.3f"}, highlight=[i for i, (*_, r) in enumerate(pairs)
                                                            if abs(r) > CORRELATED_ABOVE])
    return (f"<h3>Correlations</h3>{correlation_plot(corr, shown, last=p.target.name)}"
            f'<p class="note">Strongest pairs (|r|, over rows where both are present):</p>'
            f"{table}")


def section(profile: Profile) -> report.Section:
    """The data profile for the run report."""
    p = profile
    target = [img for img in (target_plot(p.target), scores_plot(
        p.column_scores, p.score_metric, p.target.name) if p.score_metric else None) if img]
    grid = distribution_grid(p.columns, p.n_rows, _tones(p))
    missing = missing_plot([c.name for c in p.columns], [c.missing_share for c in p.columns])
    html = "".join([
        _overview(p), _callouts(p),
        "<h3>Findings</h3>", _findings(p),
        "<h3>Target</h3>" if target else "", report.gallery(target) if target else "",
        "<h3>Distributions</h3>", *grid,
        _correlations(p),
        f"<h3>Missing values</h3>{missing}" if missing else "",
        "<h3>Columns</h3>", _columns_table(p),
    ])
    return report.Section("Data profile", html)
