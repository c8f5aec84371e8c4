"""Data and prediction drift: tests on small windows, distances on large ones, PSI."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shipyard.monitor import drift
from shipyard.schema import Column, Schema
from shipyard.spec.monitoring import Drift

NUMBERS = [f"x{i}" for i in range(4)]
SCHEMA = Schema(tuple([Column(n, "number") for n in NUMBERS]
                      + [Column("colour", "string"), Column("flag", "boolean"),
                         Column("seen", "datetime")]))
COLOURS = np.array(["red", "green", "blue", "grey"])


def frame(n: int, seed: int, shift: float = 0.0, shifted: tuple = NUMBERS,
          colours=(0.4, 0.3, 0.2, 0.1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(10 + (shift if name in shifted else 0), 2, n) for name in NUMBERS}
    data["colour"] = rng.choice(COLOURS, n, p=colours)
    data["flag"] = rng.random(n) < 0.3
    data["seen"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 99, n), "D")
    return pd.DataFrame(data)


REFERENCE = frame(10_000, seed=1)


@pytest.mark.parametrize("rows", [400, 5000])
def test_same_distribution_no_drift(rows):
    result = drift.compare(REFERENCE, frame(rows, seed=2), SCHEMA, Drift())
    assert [f.feature for f in result.features] == [*NUMBERS, "colour", "flag"]  # no dates
    assert not result.dataset_drift
    assert result.share <= 1 / 6
    assert all(f.psi_band == "stable" for f in result.features)


@pytest.mark.parametrize("rows", [400, 5000])
def test_shifted_mean_drifts(rows):
    result = drift.compare(REFERENCE, frame(rows, seed=2, shift=1.0), SCHEMA, Drift())
    assert set(NUMBERS) <= set(result.drifted)
    assert result.dataset_drift and result.share >= 4 / 6
    x0 = result.features[0]
    if rows < 1000:
        assert x0.method == "ks" and x0.statistic < 1e-6
    else:  # a shift of half a standard deviation: W1 / std = 0.5
        assert x0.method == "wasserstein" and x0.statistic == pytest.approx(0.5, abs=0.05)


def test_method_switches_at_small_window():
    settings = Drift(small_window=300)
    below = drift.compare(REFERENCE, frame(299, seed=3), SCHEMA, settings)
    at = drift.compare(REFERENCE, frame(300, seed=3), SCHEMA, settings)
    assert below.method == "test" and at.method == "distance"
    assert {f.method for f in below.features} == {"ks", "chi2"}
    assert {f.method for f in at.features} == {"wasserstein", "jensenshannon"}
    assert {f.threshold for f in below.features} == {0.05}
    assert {f.threshold for f in at.features} == {0.1}


@pytest.mark.parametrize(("n", "m"), [(3000, 2000), (2000, 3000), (7, 50), (50, 7), (2, 1), (2, 3),
                                    (400, 400), (999, 10_001)])
def test_wasserstein_is_exact_and_normalised_by_the_reference_std(n, m):
    rng = np.random.default_rng(n + m)
    for ref, cur in [(rng.integers(0, 20, n), rng.integers(2, 25, m)),  # many ties
                     (rng.normal(0, 1, n), rng.normal(1, 3, m))]:  # beyond either range
        ref, cur = ref.astype(float), cur.astype(float)
        ref[0] = -1.0  # never constant
        got = drift.numeric_drift("x", ref, cur, test=False, settings=Drift())
        expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
        assert got.statistic == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_constant_reference():
    ref = np.full(500, 3.0)
    same = drift.numeric_drift("c", ref, np.full(2000, 3.0), test=False, settings=Drift())
    moved = drift.numeric_drift("c", ref, np.full(2000, 3.5), test=False, settings=Drift())
    assert same.statistic == 0 and not same.drifted
    assert moved.statistic == math.inf and moved.drifted
    assert moved.to_dict()["statistic"] is None  # JSON has no infinity


def test_chi_square_with_categories_the_reference_never_saw():
    ref = pd.Series(["a"] * 500 + ["b"] * 300 + ["c"] * 200)
    # 15% of the window is a new category: drift, and no division by zero (warnings fail)
    cur = pd.Series(["a"] * 170 + ["b"] * 100 + ["c"] * 70 + ["new"] * 60)
    got = drift.categorical_drift("k", drift.category_counts(ref), drift.category_counts(cur),
                                  test=True, settings=Drift())
    assert got.method == "chi2" and 0 <= got.statistic < 1e-6 and got.drifted
    # a single unseen row in the shares of the reference is no evidence of drift
    quiet = pd.Series(["a"] * 200 + ["b"] * 120 + ["c"] * 79 + ["new"])
    got = drift.categorical_drift("k", drift.category_counts(ref), drift.category_counts(quiet),
                                  test=True, settings=Drift())
    assert 0.05 < got.statistic <= 1 and not got.drifted
    # a reference with one category: the window's new one is the whole story
    lone = drift.categorical_drift("k", drift.category_counts(pd.Series(["a"] * 100)),
                                   drift.category_counts(pd.Series(["a"] * 30 + ["z"] * 10)),
                                   test=True, settings=Drift())
    assert lone.drifted and math.isfinite(lone.statistic)


def test_jensen_shannon_uses_the_natural_logarithm():
    ref, cur = pd.Series({"a": 50, "b": 50}), pd.Series({"a": 90, "b": 10})
    got = drift.categorical_drift("k", ref, cur, test=False, settings=Drift())
    m = np.array([0.7, 0.3])
    kl = lambda p: float(np.sum(p * np.log(p / m)))  # noqa: E731
    assert got.statistic == pytest.approx(math.sqrt((kl(np.array([.5, .5]))
                                                     + kl(np.array([.9, .1]))) / 2))
    assert got.drifted


@pytest.mark.parametrize(("shares", "band"), [((60, 40), "stable"), ((70, 30), "moderate"),
                                              ((80, 20), "major")])
def test_psi_bands(shares, band):
    ref, cur = pd.Series({"a": 500, "b": 500}), pd.Series({"a": shares[0], "b": shares[1]})
    got = drift.categorical_drift("k", ref, cur, test=True, settings=Drift())
    c = np.array(shares) / 100
    assert got.psi == pytest.approx(float(np.sum((c - 0.5) * np.log(c / 0.5))))
    assert got.psi_band == band
    tight = drift.categorical_drift("k", ref, cur, test=True,
                                    settings=Drift(psi_moderate=0.01, psi_major=0.02))
    assert tight.psi_band == "major"


def test_psi_bins_keep_a_point_mass_apart():
    # mostly zero (like capital gain): the zeros get a bin of their own, so more non-zero
    # values in the window show up in the PSI
    rng = np.random.default_rng(5)
    ref = np.where(rng.random(5000) < 0.9, 0.0, rng.exponential(1000, 5000))
    cur = np.where(rng.random(5000) < 0.6, 0.0, rng.exponential(1000, 5000))
    got = drift.numeric_drift("gain", ref, cur, test=False, settings=Drift())
    assert got.psi_band == "major"
    empty_bin = drift.numeric_drift("gain", ref, ref[ref > 0], test=False, settings=Drift())
    assert math.isfinite(empty_bin.psi) and empty_bin.psi > 1


def test_dataset_drift_share():
    def share_of(shifted, settings):
        current = frame(3000, seed=6, shift=2.0, shifted=shifted)
        schema = Schema(tuple(Column(n, "number") for n in NUMBERS))
        return drift.compare(REFERENCE, current, schema, settings)

    half = share_of(("x0", "x1"), Drift(rule="share"))
    assert half.share == 0.5 and half.dataset_drift and half.drifted == ["x0", "x1"]
    assert not share_of(("x0", "x1"), Drift(rule="share", share=0.75)).dataset_drift
    quarter = share_of(("x0",), Drift(rule="share"))
    assert quarter.share == 0.25 and not quarter.dataset_drift


def test_missing_values_are_left_out_and_empty_features_reported():
    current = frame(600, seed=7)
    current.loc[::3, "x0"] = np.nan
    current["x1"] = np.nan
    current["colour"] = ""  # the missing-text marker
    current = current.drop(columns=["flag"])  # never logged
    result = drift.compare(REFERENCE, current, SCHEMA, Drift())
    by_name = {f.feature: f for f in result.features}
    assert by_name["x0"].values == 400 and not by_name["x0"].drifted
    for name in ("x1", "colour", "flag"):
        f = by_name[name]
        assert f.values == 0 and math.isnan(f.statistic) and not f.drifted
        assert f.to_dict()["statistic"] is None and f.psi_band is None
    assert result.share == 0.0  # x0, x2, x3 compared; none drifted
    json.dumps(result.to_dict(), allow_nan=False)


def test_booleans_and_whole_numbers_compare_however_they_were_written():
    ref = pd.Series([True, False, False, True] * 250)
    cur = pd.Series([1, 0, "false", "true"] * 100, dtype=object)
    got = drift.categorical_drift("flag", drift.category_counts(ref, boolean=True),
                                  drift.category_counts(cur, boolean=True), test=True,
                                  settings=Drift())
    assert got.statistic == pytest.approx(1.0) and got.psi == pytest.approx(0.0, abs=1e-12)
    assert list(drift.category_counts(pd.Series([1.0, 2.0, 2, None])).index) == ["1", "2"]


def test_prediction_drift():
    rng = np.random.default_rng(8)
    ref = rng.beta(2, 5, 5000)
    same = drift.prediction_drift(ref, rng.beta(2, 5, 800), categorical=False)
    moved = drift.prediction_drift(ref, rng.beta(4, 4, 800), categorical=False)
    assert same.feature == "prediction" and same.method == "ks" and not same.drifted
    assert moved.drifted and moved.psi_band == "major"
    classes = np.where(rng.random(5000) < 0.25, ">50K", "<=50K")
    mix = drift.prediction_drift(classes, np.where(rng.random(3000) < 0.5, ">50K", "<=50K"),
                                 categorical=True)
    assert mix.method == "jensenshannon" and mix.kind == "categorical" and mix.drifted
    steady = drift.prediction_drift(classes, classes[:2000], categorical=True)
    assert not steady.drifted


def test_result_to_dict():
    result = drift.compare(REFERENCE, frame(200, seed=9, shift=3.0), SCHEMA, Drift())
    out = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert out["rows"] == 200 and out["reference_rows"] == 10_000 and out["method"] == "test"
    assert out["drifted"] == NUMBERS and out["dataset_drift"] is True
    assert set(out["features"][0]) == {"feature", "kind", "method", "statistic", "threshold",
                                       "drifted", "psi", "psi_band", "values"}


def test_rule_any_catches_a_shift_of_one_feature_the_share_rule_misses():
    one_moved = frame(800, seed=5, shift=1.0, shifted=("x0",))
    by_share = drift.compare(REFERENCE, one_moved, SCHEMA, Drift(rule="share"))
    by_any = drift.compare(REFERENCE, one_moved, SCHEMA, Drift(rule="any"))
    assert by_share.drifted == ["x0"] and not by_share.dataset_drift
    assert by_any.dataset_drift and by_any.drifted == ["x0"]
    # each test runs at the Bonferroni-corrected level: 0.05 over the 6 compared features
    assert by_any.features[0].threshold == pytest.approx(0.05 / 6)


def test_rule_any_keeps_false_alarms_rare():
    alarms = [drift.compare(REFERENCE, frame(500, seed=100 + i), SCHEMA,
                            Drift(rule="any")).dataset_drift for i in range(60)]
    assert sum(alarms) <= 6  # about 5% expected; 10% leaves room for chance


def test_rule_weighted_is_the_default_and_weighs_features_by_importance():
    """A large window: the data set drifts when the drifted features carry
    weighted_share of the weight, half of which follows the model's importance."""
    schema = Schema(tuple(Column(n, "number") for n in NUMBERS))
    x3_moved = frame(3000, seed=11, shift=1.0, shifted=("x3",))
    important = {"x0": 0.0, "x1": 0.0, "x2": 0.0, "x3": 0.3}
    got = drift.compare(REFERENCE, x3_moved, schema, Drift(), important)
    assert got.rule == "weighted" and got.method == "distance" and got.drifted == ["x3"]
    assert got.weights == pytest.approx({"x0": 0.125, "x1": 0.125, "x2": 0.125, "x3": 0.625})
    assert got.weighted == pytest.approx(0.625) and got.dataset_drift
    # the same shift in a feature the model ignores weighs 1/8: below a share of 0.2
    ignored = drift.compare(REFERENCE, x3_moved, schema, Drift(weighted_share=0.2),
                            {"x0": 0.3, "x1": 0.0, "x2": 0.0, "x3": 0.0})
    assert ignored.drifted == ["x3"] and ignored.weighted == pytest.approx(0.125)
    assert not ignored.dataset_drift
    out = json.loads(json.dumps(got.to_dict(), allow_nan=False))
    assert out["rule"] == "weighted" and out["weights"]["x3"] == pytest.approx(0.625)


def test_rule_weighted_small_windows_test_at_the_weighted_bonferroni_level():
    one_moved = frame(800, seed=7, shift=0.35, shifted=("x0",))
    even = drift.compare(REFERENCE, one_moved, SCHEMA, Drift())  # no importances: 1/6 each
    heavy = drift.compare(REFERENCE, one_moved, SCHEMA, Drift(),
                          {"x0": 1.0, "x1": 0.0, "x2": 0.0, "x3": 0.0})
    p = even.features[0].statistic
    assert heavy.weights["x0"] == pytest.approx(0.5 + 0.5 / 6)
    # between the levels of an equal weight and of x0's heavy one
    assert 0.01 / 6 < p < 0.01 * heavy.weights["x0"]
    assert "x0" in even.drifted and not even.dataset_drift
    assert heavy.dataset_drift


def test_rule_weighted_keeps_false_alarms_rare():
    alarms = [drift.compare(REFERENCE, frame(500, seed=200 + i), SCHEMA, Drift(),
                            {"x0": 0.2, "x1": 0.1}).dataset_drift for i in range(60)]
    alarms += [drift.compare(REFERENCE, frame(5000, seed=300 + i), SCHEMA, Drift(),
                             {"x0": 0.2, "x1": 0.1}).dataset_drift for i in range(20)]
    assert sum(alarms) <= 3  # the small windows' family-wise rate is 1%


def test_a_setting_the_rule_does_not_read_is_refused():
    with pytest.raises(ValueError, match="'share' is read by rule share"):
        Drift(share=0.3)
    with pytest.raises(ValueError, match="'weighted_share' is read by rule weighted"):
        Drift(rule="any", weighted_share=0.2)
    assert Drift(rule="share", share=0.3).share_line == 0.3 and Drift().share_line is None
