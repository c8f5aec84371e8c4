"""Window features per entity: order, causality, each statistic by hand, regimes."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from shipyard.errors import DataError
from shipyard.prepare.series import SeriesFeatures
from shipyard.spec import Smooth


def fleet(seed: int = 0) -> pd.DataFrame:
    """Three engines of different lengths, rows sorted; x drifts, y is noise."""
    rng = np.random.default_rng(seed)
    lengths = {"a": 7, "b": 12, "c": 9}
    df = pd.DataFrame({
        "unit": np.repeat(list(lengths), list(lengths.values())),
        "cycle": np.concatenate([np.arange(1, n + 1) * 10 for n in lengths.values()]),
    })
    df["x"] = df["cycle"] * 0.5 + rng.normal(size=len(df))
    df["y"] = rng.normal(size=len(df))
    # Text as the model-input contract has it: object dtype (pandas 3 would infer str).
    df["kind"] = pd.Series(np.array(["p", "q"])[rng.integers(0, 2, len(df))], dtype=object)
    return df


ALL = ("mean", "std", "min", "max", "slope")


def test_rows_come_back_in_the_order_given():
    df = fleet()
    shuffled = df.sample(frac=1.0, random_state=3)
    sf = SeriesFeatures("unit", "cycle", windows=(3,), stats=ALL, lags=(1,))
    out_sorted = sf.fit_transform(df)
    out_shuffled = sf.transform(shuffled)
    assert list(out_shuffled.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(out_shuffled, out_sorted.loc[shuffled.index])
    # elapsed_rows is each row's rank within its engine, whatever order the rows came in.
    rank = shuffled.groupby("unit")["cycle"].rank().to_numpy() - 1
    np.testing.assert_array_equal(out_shuffled["elapsed_rows"].to_numpy(), rank)


def test_a_future_row_does_not_change_earlier_features():
    df = fleet()
    sf = SeriesFeatures("unit", "cycle", windows=(3, 5), stats=ALL, lags=(1, 2),
                        smooth={"method": "ewm", "window": 3})
    before = sf.fit_transform(df)
    changed = df.copy()
    row = changed.index[(changed["unit"] == "b") & (changed["cycle"] == 80)][0]
    changed.loc[row, ["x", "y"]] = [1000.0, -1000.0]
    after = sf.transform(changed)
    past = (df["unit"] != "b") | (df["cycle"] < 80)
    pd.testing.assert_frame_equal(after[past], before[past], check_exact=True)
    assert (after.loc[row] != before.loc[row]).sum() > 10  # the changed row does move


def test_each_statistic_matches_a_hand_computation():
    df = pd.DataFrame({"unit": [1, 1, 1, 1, 2], "cycle": [1, 2, 3, 4, 1],
                       "x": [1.0, 2.0, 4.0, 8.0, 5.0]})
    out = SeriesFeatures("unit", "cycle", windows=(3,), stats=ALL, elapsed=False).fit_transform(df)
    last = out.iloc[3]  # unit 1, window over x = 2, 4, 8
    assert last["x_mean_3"] == pytest.approx(14 / 3)
    assert last["x_std_3"] == pytest.approx(np.std([2.0, 4.0, 8.0]))
    assert (last["x_min_3"], last["x_max_3"]) == (2.0, 8.0)
    assert last["x_slope_3"] == pytest.approx(np.polyfit([0, 1, 2], [2.0, 4.0, 8.0], 1)[0])
    # Early rows use what exists so far; one value has no spread and no trend.
    assert out["x_mean_3"].tolist()[:2] == [1.0, 1.5]
    assert out.iloc[1]["x_slope_3"] == pytest.approx(1.0)
    single = out.iloc[4]  # unit 2 has one row and does not borrow unit 1's
    assert (single["x_mean_3"], single["x_std_3"], single["x_slope_3"]) == (5.0, 0.0, 0.0)


def test_slope_is_exact_on_a_long_linear_series():
    n = 5000  # positions up to 5000: the closed form must not lose precision
    df = pd.DataFrame({"unit": 1, "cycle": np.arange(n), "x": 3.0 * np.arange(n) + 9000.0})
    out = SeriesFeatures("unit", "cycle", windows=(2, 30), stats=("slope",)).fit_transform(df)
    np.testing.assert_allclose(out["x_slope_30"].to_numpy()[1:], 3.0, rtol=1e-9)
    np.testing.assert_allclose(out["x_slope_2"].to_numpy()[1:], 3.0, rtol=1e-9)
    assert out["x_slope_30"].iloc[0] == 0.0


def test_missing_values_are_skipped():
    df = pd.DataFrame({"unit": 1, "cycle": [1, 2, 3, 4], "x": [1.0, np.nan, 3.0, 5.0]})
    out = SeriesFeatures("unit", "cycle", windows=(4,), stats=("mean", "slope")).fit_transform(df)
    assert out["x_mean_4"].iloc[3] == pytest.approx(3.0)
    assert out["x_slope_4"].iloc[3] == pytest.approx(np.polyfit([0, 2, 3], [1, 3, 5], 1)[0])


def test_lags_stay_within_the_entity():
    df = fleet()
    out = SeriesFeatures("unit", "cycle", windows=(), lags=(1, 2)).fit_transform(df)
    for _, rows in df.groupby("unit"):
        got = out.loc[rows.index]
        np.testing.assert_array_equal(got["x_lag_1"], rows["x"].shift(1))
        np.testing.assert_array_equal(got["y_lag_2"], rows["y"].shift(2))
    assert out["x_lag_2"].isna().sum() == 2 * df["unit"].nunique()


def test_elapsed_counts_rows_not_time():
    df = pd.DataFrame({"unit": ["a"] * 3 + ["b"] * 2, "cycle": [5, 50, 51, 7, 900],
                       "x": np.arange(5.0)})
    out = SeriesFeatures("unit", "cycle", windows=()).fit_transform(df)
    assert out["elapsed_rows"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]
    off = SeriesFeatures("unit", "cycle", windows=(), elapsed=False).fit_transform(df)
    assert "elapsed_rows" not in off.columns


def test_median_smoothing_removes_a_single_spike():
    x = np.ones(12)
    x[6] = 100.0  # one turbulence reading
    df = pd.DataFrame({"unit": 1, "cycle": np.arange(12), "x": x})
    sf = SeriesFeatures("unit", "cycle", windows=(5,), stats=("max", "mean"),
                        smooth=Smooth(method="median", window=3))
    out = sf.fit_transform(df)
    np.testing.assert_array_equal(out["x_smooth"], np.ones(12))
    np.testing.assert_array_equal(out["x_max_5"], np.ones(12))  # windows see the smoothed series
    assert out["x"].max() == 100.0  # the raw column stays raw
    raw = SeriesFeatures("unit", "cycle", windows=(5,), stats=("max",)).fit_transform(df)
    assert raw["x_max_5"].max() == 100.0


def test_ewm_smoothing_restarts_for_each_entity():
    df = fleet()
    sf = SeriesFeatures("unit", "cycle", columns=["x"], windows=(),
                        smooth={"method": "ewm", "window": 4})
    out = sf.fit_transform(df)
    expected = df.groupby("unit")["x"].transform(lambda s: s.ewm(span=4).mean())
    np.testing.assert_allclose(out["x_smooth"], expected)
    assert "y" in out.columns and "y_smooth" not in out.columns  # y passes through


def test_regime_normalisation_uses_the_training_stats():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"unit": np.repeat(np.arange(20), 10), "cycle": np.tile(np.arange(10), 20),
                          "mode": np.repeat(["low", "high"], 100)})
    train["x"] = np.where(train["mode"] == "low", 10.0, 100.0) + rng.normal(size=200)
    sf = SeriesFeatures("unit", "cycle", regime="mode", windows=(3,), stats=("mean",))
    fitted = sf.fit_transform(train)
    for mode in ("low", "high"):
        rows = fitted[train["mode"] == mode]
        assert rows["x"].mean() == pytest.approx(0.0, abs=1e-9)
        assert rows["x"].std(ddof=0) == pytest.approx(1.0)
    assert fitted["mode"].tolist() == train["mode"].tolist()  # the regime passes through

    low = train[train["mode"] == "low"]
    new = pd.DataFrame({"unit": 99, "cycle": np.arange(4), "mode": ["low", "low", "high", "gone"],
                        "x": [low["x"].mean() + 3 * low["x"].std(ddof=0), low["x"].mean(),
                              100.0, train["x"].mean()]})
    out = sf.transform(new)
    assert out["x"].iloc[0] == pytest.approx(3.0)  # shifted data is not re-centred
    assert out["x"].iloc[1] == pytest.approx(0.0)
    assert out["x"].iloc[3] == pytest.approx(0.0)  # an unseen regime: the overall stats


def test_keep_raw_and_dropped_roles():
    df = fleet()
    kept = SeriesFeatures("unit", "cycle", windows=(3,), stats=("mean",)).fit(df)
    out = kept.transform(df)
    assert list(out.columns) == ["x", "y", "kind", "x_mean_3", "y_mean_3", "elapsed_rows"]
    assert list(out.columns) == list(kept.get_feature_names_out())
    np.testing.assert_array_equal(out["x"], df["x"])
    assert out["kind"].dtype == object and out["kind"].tolist() == df["kind"].tolist()
    dropped = SeriesFeatures("unit", "cycle", windows=(3,), stats=("mean",), keep_raw=False)
    assert list(dropped.fit_transform(df).columns) == ["kind", "x_mean_3", "y_mean_3",
                                                       "elapsed_rows"]


def test_clone_and_pickle():
    df = fleet()
    sf = SeriesFeatures("unit", "cycle", columns=["x"], windows=[3, 6], stats=["slope"],
                        smooth=Smooth(window=3), lags=[1], regime="kind")
    copy = clone(sf)
    assert copy.get_params() == sf.get_params() and not hasattr(copy, "series_")
    sf.fit(df)
    restored = pickle.loads(pickle.dumps(sf))
    pd.testing.assert_frame_equal(restored.transform(df), sf.transform(df))


@pytest.mark.parametrize(("settings", "data", "error", "message"), [
    ({}, lambda df: df.drop(columns="cycle"), DataError, "missing column 'cycle'"),
    ({"columns": ["x", "nope"]}, lambda df: df, DataError, "prepare.series.columns: missing"),
    ({"columns": ["kind"]}, lambda df: df, DataError, "need numeric columns; .kind. are not"),
    ({"smooth": {"columns": ["kind"]}}, lambda df: df, DataError, "are not series columns"),
    ({"stats": ["median"]}, lambda df: df, ValueError, "'stats' parameter"),
    ({"windows": [0]}, lambda df: df, ValueError, "'windows' parameter"),
    ({"smooth": {"method": "mean"}}, lambda df: df, ValueError, "'smooth' parameter"),
    ({}, lambda df: df.to_numpy(), TypeError, "pandas DataFrame"),
])
def test_bad_settings_and_data(settings, data, error, message):
    with pytest.raises(error, match=message):
        SeriesFeatures("unit", "cycle", **settings).fit(data(fleet()))


def test_transform_needs_the_columns_seen_in_fit():
    df = fleet()
    sf = SeriesFeatures("unit", "cycle").fit(df)
    with pytest.raises(DataError, match="missing column 'y'"):
        sf.transform(df.drop(columns="y"))
    gaps = df.copy()
    gaps.loc[3, "unit"] = None
    with pytest.raises(DataError, match="entity: 1 rows have no value"):
        sf.transform(gaps)


def test_a_large_frame_is_handled_in_one_pass():
    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    df["unit"], df["cycle"] = rng.integers(0, 300, n), rng.permutation(n)
    out = SeriesFeatures("unit", "cycle", stats=ALL, lags=(1,)).fit_transform(df)
    assert out.shape == (n, 5 + 5 * 5 * 3 + 5 + 1)
    unit = df["unit"].iloc[0]
    rows = df[df["unit"] == unit].sort_values("cycle")
    expected = rows["a"].rolling(10, min_periods=1).mean()
    np.testing.assert_allclose(out.loc[rows.index, "a_mean_10"], expected)


def test_a_window_longer_than_every_life_is_the_history_so_far():
    """Engines of very different lengths: once the short ones run out, the long
    window goes on over the long ones alone, and every row still gets its own
    engine's whole history (as pandas' expanding and ewm compute it)."""
    rng = np.random.default_rng(4)
    lengths = {"short": 3, "mid": 40, "long": 260, "one": 1}
    df = pd.DataFrame({"unit": np.repeat(list(lengths), list(lengths.values())),
                       "cycle": np.concatenate([np.arange(n) for n in lengths.values()])})
    df["x"] = rng.normal(size=len(df)).cumsum() + 600.0
    df = df.sample(frac=1.0, random_state=1)  # the rows' order is not the engines'
    out = SeriesFeatures("unit", "cycle", windows=(10_000,), stats=("mean", "std", "min", "max"),
                         elapsed=False).fit_transform(df)
    ordered = df.sort_values(["unit", "cycle"])
    grown = ordered.groupby("unit")["x"].expanding()
    for stat, want in (("mean", grown.mean()), ("std", grown.std(ddof=0)),
                       ("min", grown.min()), ("max", grown.max())):
        want = want.reset_index(level=0, drop=True).loc[df.index].to_numpy()
        np.testing.assert_allclose(out[f"x_{stat}_10000"].to_numpy(), want, rtol=1e-9,
                                   atol=1e-9, err_msg=stat)
    smooth = SeriesFeatures("unit", "cycle", windows=(2,), stats=("mean",), elapsed=False,
                            smooth={"method": "ewm", "window": 30}).fit_transform(df)
    ewm = ordered.groupby("unit")["x"].transform(lambda s: s.ewm(span=30).mean())
    np.testing.assert_allclose(smooth["x_smooth"].to_numpy(), ewm.loc[df.index].to_numpy(),
                               rtol=1e-9)
