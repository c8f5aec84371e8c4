"""The profile's smoothing plot: the series step's own smoothing, spikes found
where they were planted, on the entity that has the most of them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.prepare.smoothing_plot import smoothing
from shipyard.spec.options import Series, Smooth


def _readings(seed: int = 0) -> tuple[pd.DataFrame, dict[int, set[int]]]:
    rng = np.random.default_rng(seed)
    frames, planted = [], {}
    for engine, spikes in ((1, 2), (2, 9), (3, 0)):
        n = 200
        vib = 1.0 + np.linspace(0, 0.5, n) + rng.normal(0, 0.03, n)
        where = rng.choice(np.arange(10, n), spikes, replace=False)
        vib[where] += 2.5  # turbulence
        planted[engine] = set(where.tolist())
        frames.append(pd.DataFrame({"engine": engine, "t": np.arange(n),
                                    "vibration": vib, "egt": rng.normal(600, 5, n)}))
    return pd.concat(frames).sample(frac=1, random_state=1), planted


def test_spikes_are_found_where_they_were_planted_on_the_noisiest_entity():
    frame, planted = _readings()
    settings = Series(columns=["vibration", "egt"],
                      smooth=Smooth(method="median", window=5, columns=["vibration"]))
    (plot,) = smoothing(frame, settings, "engine", "t")
    assert plot.column == "vibration" and plot.entity == 2 and plot.rows == 200
    assert set(plot.spikes.tolist()) == planted[2]
    assert plot.share == sum(map(len, planted.values())) / len(frame)
    assert plot.html.startswith("<img") and "9 spikes marked" in plot.html


def test_no_smoothing_no_plot():
    frame, _ = _readings()
    assert smoothing(frame, Series(columns=["vibration"]), "engine", "t") == []
