"""The profile's part of the run report."""

from __future__ import annotations

import numpy as np
from markupsafe import escape

from shipyard import report
from shipyard.metrics import REGRESSION
from shipyard.profile.profiler import Profile
from shipyard.profile.stats import ColumnProfile, TargetProfile

TONE = {"error": "bad", "warning": "warn", "info": "info"}
MAX_MISSING_BARS = 30  # beyond this the chart is unreadable; the table has them all


def _overview(p: Profile) -> str:
    values: dict[str, object] = {"rows": p.n_rows, "columns": p.n_columns,
                                 "duplicate rows": p.duplicate_rows}
    notes = {"duplicate rows": f"{report.share(p.duplicate_rows / p.n_rows)} of rows"}
    t = p.target
    if t.task == REGRESSION:
        values["target mean"] = t.mean
        notes["target mean"] = f"std {report.number(t.std)}"
    else:
        values["classes"] = t.n_classes
        if t.minority_share is not None:
            notes["classes"] = f"smallest is {t.minority_share:.1%} of rows"
    values["rows without target"] = t.missing
    return report.cards(values, notes=notes)


def _findings(p: Profile) -> str:
    if not p.findings:
        return '<p class="note">No findings: nothing unusual in the data.</p>'
    items = "".join(
        f"<li>{report.badge(f.severity, TONE[f.severity])}{escape(f.message)}</li>"
        for f in p.findings
    )
    return f'<ul class="findings">{items}</ul>'


def _top_values(col: ColumnProfile) -> str:
    return ", ".join(f"{value} ({count:,})" for value, count in col.top)


def _columns_table(p: Profile) -> str:
    rows = []
    for col in p.columns:
        role = " (target)" if col.name == p.target.name else ""
        rows.append({
            "column": col.name + role, "kind": col.kind, "missing": col.missing_share,
            "distinct": col.distinct, "mean": col.mean, "std": col.std, "min": col.min,
            "median": col.median, "max": col.max, "frequent values": _top_values(col),
        })
    return report.table(rows, formats={"missing": report.share})


def _target_plot(t: TargetProfile) -> str | None:
    fig, ax = report.new_figure(6.0, 3.6)
    if t.task == REGRESSION:
        if not t.bin_counts:
            return None
        edges = np.asarray(t.bin_edges)
        ax.bar(edges[:-1], t.bin_counts, width=np.diff(edges), align="edge",
               color=report.PALETTE[0], edgecolor="white", linewidth=0.5)
        ax.set_xlabel(t.name)
        ax.set_ylabel("rows")
    else:
        if not t.counts:
            return None
        labels = [str(c) for c in t.counts]
        ax.bar(labels, list(t.counts.values()), color=report.PALETTE[0])
        ax.set_xlabel("class")
        ax.set_ylabel("rows")
        if len(labels) > 8:
            ax.tick_params(axis="x", labelrotation=45)
    ax.set_title(f"Target: {t.name}")
    return report.figure(fig)


def _missing_plot(p: Profile) -> str | None:
    missing = sorted((c for c in p.columns if c.missing_share > 0),
                     key=lambda c: c.missing_share, reverse=True)[:MAX_MISSING_BARS]
    if not missing:
        return None
    fig, ax = report.new_figure(6.0, max(2.0, 0.6 + 0.28 * len(missing)))
    names = [c.name for c in reversed(missing)]
    shares = [c.missing_share for c in reversed(missing)]
    ax.barh(names, shares, height=0.6, color=report.PALETTE[1])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter("{x:.0%}")
    ax.set_xlabel("share of rows missing")
    ax.set_title("Missing values by column")
    return report.figure(fig)


def section(profile: Profile) -> report.Section:
    """The data profile for the run report: overview, findings, plots, columns."""
    plots = [html for html in (_target_plot(profile.target), _missing_plot(profile)) if html]
    html = "".join([
        _overview(profile),
        "<h3>Findings</h3>", _findings(profile),
        "<h3>Distributions</h3>" if plots else "", report.gallery(plots) if plots else "",
        "<h3>Columns</h3>", _columns_table(profile),
    ])
    return report.Section("Data profile", html)
