"""Operating regimes found by clustering (prepare.series.regime: auto or {columns})."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from shipyard import spec
from shipyard.prepare.regimes_section import section
from shipyard.prepare.series import REGIME, SeriesFeatures

CONDITIONS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60],
                       [35, 0.84, 100], [42, 0.84, 100]], dtype=float)


def fleet(seed: int = 0, planted: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """60 engines x 100 cycles; each cycle flown in one of six conditions (or, without
    ``planted``, settings that are noise around one point)."""
    rng = np.random.default_rng(seed)
    n = 6000
    which = rng.integers(0, 6, n)
    frame = pd.DataFrame({"eid": np.repeat(np.arange(60), 100),
                          "t": np.tile(np.arange(100), 60).astype(float)})
    for j in range(3):
        noise = rng.normal(0, 0.002 * (1 + CONDITIONS[:, j].max()), n)
        frame[f"os{j}"] = CONDITIONS[which, j] + noise if planted else rng.normal(0, 1, n)
    effect = rng.normal(0, 1, (3, 5))
    for k in range(5):
        level = CONDITIONS[which] @ effect[:, k] * 5 if planted else 0.0
        frame[f"s{k}"] = level + frame["t"] * 0.05 * (k + 1) + rng.normal(0, 1, n)
    return frame, which


def test_auto_clusters_the_series_and_standardises_within_what_it_finds():
    frame, which = fleet()
    step = SeriesFeatures("eid", "t", regime="auto", windows=(5,), stats=("mean",)).fit(frame)
    found = step.regimes_
    # the sensors' wear blurs the conditions: fewer than six, but more than one
    assert 2 <= found.count <= 8 and found.columns[:3] == ["os0", "os1", "os2"]
    out = step.transform(frame)
    by_regime = out.groupby(REGIME)["s0"]
    assert by_regime.mean().abs().max() < 1e-9
    assert pd.crosstab(out[REGIME], which).gt(0).sum(axis=0).max() <= 2


@pytest.mark.parametrize("regime", [{"columns": ["os0", "os1", "os2"]}])
def test_six_planted_conditions_are_found_and_sensors_standardised_within_them(regime):
    frame, which = fleet()
    step = SeriesFeatures("eid", "t", regime=regime, windows=(5,), stats=("mean",)).fit(frame)
    found = step.regimes_
    assert found.count == 6 and found.chosen_by == "silhouette"
    assert found.silhouettes[6] == max(found.silhouettes.values()) > 0.8
    out = step.transform(frame)
    assert out.columns[-1] == REGIME
    # each found regime is exactly one planted condition
    table = pd.crosstab(out[REGIME], which)
    assert (table.gt(0).sum(axis=1) == 1).all() and table.to_numpy().sum() == len(frame)
    by_regime = out.groupby(REGIME)["s0"]
    assert by_regime.mean().abs().max() < 1e-9 and by_regime.std(ddof=0).sub(1).abs().max() < 1e-9
    if regime != "auto":  # settings are not series: they pass through as they came
        assert "os0_mean_5" not in out.columns and out["os0"].equals(frame["os0"])
        assert step.history_columns() == [*step.series_, "os0", "os1", "os2"]
    clone(step).fit(frame)  # scikit-learn's conventions hold


def test_settings_without_clusters_are_one_regime():
    frame, _ = fleet(planted=False)
    step = SeriesFeatures("eid", "t", regime={"columns": ["os0", "os1", "os2"]}).fit(frame)
    assert step.regimes_.count == 1
    assert max(step.regimes_.silhouettes.values()) < 0.5
    assert set(step.transform(frame)[REGIME]) == {0.0}


def test_a_fixed_number_and_a_missing_setting():
    frame, _ = fleet()
    step = SeriesFeatures("eid", "t", regime={"columns": ["os0", "os1", "os2"], "clusters": 3},
                          windows=(3,)).fit(frame)
    assert step.regimes_.count == 3 and step.regimes_.chosen_by == "given"
    gap = frame.copy()
    gap.loc[5, "os1"] = np.nan
    out = step.transform(gap)
    assert np.isnan(out[REGIME].iloc[5]) and np.isfinite(out["s0"].iloc[5])  # overall stats
    with pytest.raises(ValueError, match="clusters must be a whole number"):
        SeriesFeatures("eid", "t", regime={"clusters": 0}).fit(frame)


def test_the_project_file_and_the_report():
    base = "name: t\nsource: {url: 'duckdb:///x.duckdb', query: SELECT 1}\ntarget: y\n" \
           "task: regression\nentity: eid\ntime: t\nmodels: [{name: linear}]\n"
    auto = spec.parse(base + "prepare: {series: {regime: auto}}")
    assert auto.prepare.series.regime == "auto"
    given = spec.parse(base + "prepare: {series: {regime: {columns: [os0, os1]}}}")
    assert given.prepare.series.regime.columns == ["os0", "os1"]
    for bad in ("{columns: []}", "{colums: [os0]}", "{clusters: 1000}"):
        with pytest.raises(spec.SpecError, match="regime"):
            spec.parse(base + f"prepare: {{series: {{regime: {bad}}}}}")
    frame, _ = fleet()
    step = SeriesFeatures("eid", "t", regime={"columns": ["os0", "os1", "os2"]},
                          windows=(3,)).fit(frame)
    page = section(step.regimes_, frame).html
    assert "6 clusters, the best silhouette" in page
    assert 'alt="Training rows coloured by operating regime"' in page
