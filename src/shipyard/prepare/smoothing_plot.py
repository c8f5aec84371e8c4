"""Why a series is smoothed, for the report's profile: one entity's raw readings
next to what ``prepare.series.smooth`` makes of them, with the spikes marked.

The smoothing is the series step's own (``windows.smoothed``, trailing, as in
training and serving). A spike is a reading far above its smoothed value: more
than ``SPIKE_MADS`` robust standard deviations (1.4826 x the median absolute
deviation) of every reading's distance to its smoothed value. The entity shown
is the one with the most spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard import report
from shipyard.prepare import windows

SPIKE_MADS = 5.0
MAX_COLUMNS = 2  # smoothed columns plotted


@dataclass(frozen=True)
class Smoothing:
    column: str
    entity: object
    rows: int  # the entity's readings plotted
    spikes: np.ndarray  # their positions (in time order) that are spikes
    share: float  # share of all readings, every entity, that are spikes
    html: str


def smoothing(frame: pd.DataFrame, settings, entity: str, time: str) -> list[Smoothing]:
    """A plot per smoothed column (at most ``MAX_COLUMNS``); none without smoothing."""
    smooth = settings.smooth
    if smooth is None:
        return []
    regime = settings.regime
    roles = {entity, time, *(getattr(regime, "columns", None) or []),
             *([regime] if isinstance(regime, str) else [])}
    numeric = [c for c in frame.columns if c not in roles
               and pd.api.types.is_float_dtype(frame[c])]
    columns = smooth.columns or settings.columns or numeric
    ordered = frame.sort_values([entity, time], kind="stable").reset_index(drop=True)
    codes = pd.factorize(ordered[entity])[0]
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(ordered)]))
    at = np.arange(len(ordered))
    out = []
    for column in columns[:MAX_COLUMNS]:
        raw = pd.to_numeric(ordered[column], errors="coerce").to_numpy(dtype=np.float64)
        smoothed = windows.smoothed(raw[:, None], first, at, smooth.method, smooth.window)[:, 0]
        gap = raw - smoothed
        seen = gap[~np.isnan(gap)]
        if len(seen) == 0:
            continue
        spread = 1.4826 * np.median(np.abs(seen - np.median(seen)))
        spike = gap > np.median(seen) + SPIKE_MADS * max(spread, 1e-12)
        per_entity = np.bincount(codes, weights=spike.astype(float))
        chosen = int(np.argmax(per_entity))
        rows = np.flatnonzero(codes == chosen)
        out.append(_plot(column, ordered[entity].iloc[rows[0]], raw[rows], smoothed[rows],
                         spike[rows], float(spike.mean()), smooth))
    return out


def _plot(column, who, raw, smoothed, spike, share, smooth) -> Smoothing:
    fig, ax = report.new_figure(9, 3.4)
    x = np.arange(1, len(raw) + 1)
    ax.plot(x, raw, linewidth=0.8, alpha=0.6, label=f"{column}, raw")
    name = f"rolling median of {smooth.window}" if smooth.method == "median" \
        else f"EWM, span {smooth.window}"
    ax.plot(x, smoothed, linewidth=1.8, label=name)
    marked = np.flatnonzero(spike)
    ax.scatter(x[marked], raw[marked], marker="x", color="#c92a2a", zorder=3,
               label=f"spikes ({len(marked)})")
    ax.set_xlabel("reading (in time order)")
    ax.set_ylabel(column)
    ax.set_title(f"{column} of {who}: raw and smoothed")
    ax.legend(fontsize=8, loc="upper left")
    note = (f"<p class=\"note\">{share:.2%} of all readings of <code>{column}</code> are "
            f"spikes (more than {SPIKE_MADS:g} robust standard deviations above their "
            f"smoothed value); the {name} barely moves at them, so the windows built on it "
            "follow the trend, not the noise. Shown: the entity with the most spikes.</p>")
    html = report.figure(fig, alt=f"{column} of {who}: raw and smoothed, "
                                  f"{len(marked)} spikes marked") + note
    return Smoothing(column, who, len(raw), marked, share, html)
