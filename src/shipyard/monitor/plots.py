"""The monitoring report's plots, each an inline ``<img>`` in the run report's look:
reference vs current distributions, drift and performance over time, and the
retraining decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

from shipyard import report

SMALL = (4.6, 3.0)  # inches: two distributions side by side on a page
WIDE = (6.4, 3.4)
BINS = 20
MAX_CATEGORIES = 10  # the most common ones; the rest is one bar, "(other)"
REFERENCE, CURRENT = report.PALETTE[5], report.PALETTE[1]
ALERT = report.PALETTE[3]


def label(text: object, width: int = 28) -> str:
    """``text`` shortened for a plot, with ``$`` escaped (matplotlib reads text
    between two dollar signs as a formula)."""
    text = str(text)
    if len(text) > width:
        text = text[:width - 1] + "…"
    return text.replace("$", r"\$")


def _times(stamps) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), UTC) for t in stamps]


def _time_axis(ax, stamps: list[float]) -> None:
    """Dates on the x axis, spanning ``stamps`` (epoch seconds) with a margin: for
    a single time matplotlib would spread the axis over years."""
    low, high = min(stamps), max(stamps)
    pad = max((high - low) * 0.04, 1800.0)
    ax.set_xlim(*_times([low - pad, high + pad]))
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def distribution(name: str, reference: pd.Series, current: pd.Series, categorical: bool,
                 note: str = "") -> str | None:
    """Share of rows per bin (numbers) or per category, reference vs current."""
    fig, ax = report.new_figure(*SMALL)
    drawn = (_categories if categorical else _histogram)(ax, reference, current)
    if not drawn:
        fig.clear()
        return None
    ax.set_ylabel("share of rows")
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_title(label(f"{name}{note}", 48))
    ax.legend(frameon=False, fontsize=8)
    return report.figure(fig, alt=f"Distribution of {name}, reference vs current")


def _histogram(ax, reference: pd.Series, current: pd.Series) -> bool:
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if not len(ref) and not len(cur):
        return False
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=BINS)
    for values, colour, name, filled in ((ref, REFERENCE, "reference", True),
                                         (cur, CURRENT, "current", False)):
        if not len(values):
            continue
        weights = np.full(len(values), 1 / len(values))
        ax.hist(values, bins=edges, weights=weights, color=colour, label=name,
                histtype="stepfilled" if filled else "step", alpha=0.45 if filled else 1.0,
                linewidth=1.6)
    return True


def _categories(ax, reference: pd.Series, current: pd.Series) -> bool:
    ref = reference.dropna().astype(str).value_counts(normalize=True)
    cur = current.dropna().astype(str).value_counts(normalize=True)
    if ref.empty and cur.empty:
        return False
    both = ref.add(cur, fill_value=0).sort_values(ascending=False)
    shown = list(both.index[:MAX_CATEGORIES])
    ref_shares = [float(ref.get(c, 0.0)) for c in shown]
    cur_shares = [float(cur.get(c, 0.0)) for c in shown]
    if len(both) > MAX_CATEGORIES:
        shown.append("(other)")
        ref_shares.append(1 - sum(ref_shares) if len(ref) else 0.0)
        cur_shares.append(1 - sum(cur_shares) if len(cur) else 0.0)
    x = np.arange(len(shown))
    ax.bar(x - 0.2, ref_shares, width=0.4, color=REFERENCE, label="reference")
    ax.bar(x + 0.2, cur_shares, width=0.4, color=CURRENT, label="current")
    ax.set_xticks(x, [label(c, 14) for c in shown], fontsize=8,
                  rotation=45 if len(shown) > 4 else 0, ha="right" if len(shown) > 4 else "center")
    return True


def drift_share(passes: list[dict], threshold: float | None) -> str | None:
    """The share of drifting features per pass; passes with dataset drift in red."""
    points = [(p["at"], p["drift"]["share"], bool(p["drift"].get("dataset_drift")))
              for p in passes if p.get("drift") and p["drift"].get("share") is not None]
    if not points:
        return None
    fig, ax = report.new_figure(*WIDE)
    when = _times(t for t, _, _ in points)
    shares = [s for _, s, _ in points]
    ax.plot(when, shares, marker="o", markersize=4, color=report.PALETTE[0],
            label="drifted share")
    alarm = [(w, s) for w, (_, s, d) in zip(when, points, strict=True) if d]
    if alarm:
        ax.scatter(*zip(*alarm, strict=True), color=ALERT, zorder=3, s=28, label="dataset drift")
    if threshold is not None:
        ax.axhline(threshold, color=report.MUTED, linestyle="--", linewidth=1,
                   label=f"threshold {threshold:.0%}")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter("{x:.0%}")
    _time_axis(ax, [t for t, _, _ in points])
    ax.set_title("Share of drifted features per pass")
    ax.legend(frameon=False, fontsize=8)
    return report.figure(fig)


def psi_over_time(passes: list[dict], features: list[str], bands: tuple[float, float]) -> \
        str | None:
    """PSI of ``features`` per pass, with the moderate and major bands: PSI is
    comparable across features and window sizes, unlike p-values and distances."""
    series: dict[str, list] = {name: [] for name in features}
    for p in passes:
        for f in (p.get("drift") or {}).get("features", []):
            if f.get("feature") in series and f.get("psi") is not None:
                series[f["feature"]].append((p["at"], f["psi"]))
    series = {name: points for name, points in series.items() if points}
    if not series:
        return None
    fig, ax = report.new_figure(*WIDE)
    for name, points in series.items():
        ax.plot(_times(t for t, _ in points), [v for _, v in points], marker="o",
                markersize=3, label=label(name, 20))
    for bound, style in zip(bands, (":", "--"), strict=True):
        ax.axhline(bound, color=report.MUTED, linestyle=style, linewidth=1)
    ax.set_ylim(bottom=0)
    _time_axis(ax, [t for points in series.values() for t, _ in points])
    ax.set_ylabel("PSI")
    ax.set_title(f"PSI per pass (bands {bands[0]:g} / {bands[1]:g})")
    ax.legend(frameon=False, fontsize=8, ncols=2)
    return report.figure(fig)


def performance(passes: list[dict], metric: str, title: str) -> str | None:
    """The live metric (from labelled predictions) and its estimate (from scores)
    per pass, against the champion's holdout value."""
    live = [(p["at"], (p.get("live") or {}).get("metrics", {}).get(metric)) for p in passes]
    estimated = [(p["at"], (p.get("estimated") or {}).get(metric)) for p in passes]
    live = [(t, v) for t, v in live if v is not None]
    estimated = [(t, v) for t, v in estimated if v is not None]
    if not live and not estimated:
        return None
    fig, ax = report.new_figure(*WIDE)
    if live:
        ax.plot(_times(t for t, _ in live), [v for _, v in live], marker="o", markersize=4,
                color=report.PALETTE[0], label="live (labelled)")
    if estimated:
        ax.plot(_times(t for t, _ in estimated), [v for _, v in estimated], marker="s",
                markersize=3, linestyle="--", color=report.PALETTE[2], label="estimated")
    references = [(p.get("reference") or {}).get(metric) for p in passes]
    references = [r for r in references if r is not None]
    if references:
        ax.axhline(references[-1], color=report.MUTED, linestyle="--", linewidth=1,
                   label="champion's holdout")
    _time_axis(ax, [t for t, _ in live + estimated])
    ax.set_ylabel(label(title, 30))
    ax.set_title(f"{title} over time")
    ax.legend(frameon=False, fontsize=8)
    return report.figure(fig)


def decisions(records: list[dict], title: str) -> str | None:
    """Champion and challenger scores at each retraining decision that compared them."""
    compared = [d for d in records if d.get("challenger_score") is not None
                and d.get("champion_score") is not None]
    if not compared:
        return None
    fig, ax = report.new_figure(*WIDE)
    x = np.arange(len(compared))
    ax.bar(x - 0.2, [d["champion_score"] for d in compared], width=0.4,
           color=report.PALETTE[5], label="champion")
    colours = [report.PALETTE[2] if d.get("promoted") else report.MUTED for d in compared]
    ax.bar(x + 0.2, [d["challenger_score"] for d in compared], width=0.4, color=colours,
           label="challenger (green: promoted)")
    names = [datetime.fromtimestamp(d["at"], UTC).strftime("%m-%d %H:%M") for d in compared]
    ax.set_xticks(x, names, fontsize=8, rotation=30 if len(x) > 4 else 0)
    ax.set_xlim(-0.8, max(len(x), 4) - 0.2)  # a lone decision keeps slim bars
    ax.set_ylabel(label(title, 30))
    ax.set_title("Champion vs challenger on the same recent holdout")
    ax.legend(frameon=False, fontsize=8)
    return report.figure(fig)
