"""The prepare section as a ColumnTransformer: imputation, indicators, clipping, scaling,
encoding, and the combinations the project file must not ask for."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from shipyard.errors import DataError
from shipyard.prepare.columns import build
from shipyard.schema import Column, Schema
from shipyard.spec.options import Prepare

SCHEMA = Schema((Column("a", "number"), Column("b", "number"), Column("n", "integer"),
                 Column("t", "string"), Column("h", "string")))
CARDINALITY = {"t": 3, "h": 40}


def rows(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """a and b = 2a + 1 have gaps (never in the same row); n has none; t is low and
    h high cardinality text with "" for missing; y follows a and t."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    X = pd.DataFrame({
        "a": a, "b": 2 * a + 1, "n": rng.integers(0, 10, n).astype(float),
        "t": pd.Series(rng.choice(["x", "y", "z"], n), dtype=object),
        "h": pd.Series([f"v{i}" for i in rng.integers(0, 40, n)], dtype=object),
    })
    X.loc[::10, "a"] = np.nan
    X.loc[5::10, "b"] = np.nan
    X.loc[::9, "t"] = ""
    y = (a + (X["t"] == "x") > 0.5).astype(int).to_numpy()
    return X, y


def prep(**section) -> Prepare:
    return Prepare.model_validate(section)


def out(ct, X, y=None) -> pd.DataFrame:
    values = ct.fit(X, y).transform(X)
    return pd.DataFrame(values, columns=ct.get_feature_names_out(), index=X.index)


@pytest.mark.parametrize("strategy, expected", [
    ("mean", lambda a: a.mean()),
    ("median", lambda a: a.median()),
    ("most_frequent", lambda a: a.mode().iloc[0]),
    ("constant", lambda a: -7.0),
])
def test_simple_imputation_fills_gaps_with_the_strategy_value(strategy, expected):
    X, y = rows()
    X.loc[[1, 2, 3], "a"] = 4.0  # a clear mode
    spec = prep(impute={"numeric": strategy, "fill_value": -7.0}, scale="none")
    got = out(build(SCHEMA, spec, "binary", 0, CARDINALITY), X, y)
    gaps = X["a"].isna()
    assert np.allclose(got.loc[gaps, "a"], expected(X["a"].dropna()))
    assert np.allclose(got.loc[~gaps, "a"], X.loc[~gaps, "a"])


@pytest.mark.parametrize("strategy", ["knn", "iterative"])
def test_model_based_imputation_uses_the_other_columns(strategy):
    X, y = rows()
    # n (noise on a wide range) imputes apart, so neighbours are found by b alone.
    spec = prep(impute={"numeric": strategy, "columns": {"n": "median"}}, scale="none")
    got = out(build(SCHEMA, spec, "binary", 0, CARDINALITY), X, y)
    gaps = X["a"].isna()
    truth = (X.loc[gaps, "b"] - 1) / 2  # b = 2a + 1, observed where a is not
    median_error = np.abs(X["a"].median() - truth).mean()
    assert np.abs(got.loc[gaps, "a"] - truth).mean() < median_error / 3
    assert not got.isna().any().any()


def test_per_column_overrides_make_one_group_per_strategy():
    X, y = rows()
    spec = prep(impute={"numeric": "median", "columns": {"b": "constant", "n": "median"},
                        "fill_value": 99.0}, scale="none")
    ct = build(SCHEMA, spec, "binary", 0, CARDINALITY)
    groups = {name: cols for name, _, cols in ct.transformers if name.startswith("numeric")}
    assert groups == {"numeric_median": ["a", "n"], "numeric_constant": ["b"]}
    got = out(ct, X, y)
    assert (got.loc[X["b"].isna(), "b"] == 99.0).all()
    assert np.allclose(got.loc[X["a"].isna(), "a"], X["a"].median())


def test_indicators_flag_gaps_of_columns_that_had_them():
    X, y = rows()
    ct = build(SCHEMA, prep(impute={"indicators": True}), "binary", 0, CARDINALITY)
    got = out(ct, X, y)
    names = list(got.columns)
    assert "missingindicator_a" in names and "missingindicator_b" in names
    assert "missingindicator_n" not in names  # n has no gaps
    assert "missingindicator_t" not in names  # "(missing)" is a category already
    assert (got["missingindicator_a"] == X["a"].isna()).all()
    new_gap = X.head(3).assign(n=np.nan)  # a gap never seen in training must not fail
    assert ct.transform(new_gap).shape == (3, len(names))


def test_text_indicators_come_with_most_frequent_imputation():
    X, y = rows()
    spec = prep(impute={"indicators": True, "text": "most_frequent"})
    got = out(build(SCHEMA, spec, "binary", 0, CARDINALITY), X, y)
    assert (got["missingindicator_t"] == (X["t"] == "")).all()
    assert "t_(missing)" not in got.columns
    mode = X.loc[X["t"] != "", "t"].mode().iloc[0]
    assert (got.loc[X["t"] == "", f"t_{mode}"] == 1).all()


def test_without_indicators_there_are_none():
    X, y = rows()
    got = out(build(SCHEMA, prep(), "binary", 0, CARDINALITY), X, y)
    assert not any(c.startswith("missingindicator") for c in got.columns)


@pytest.mark.parametrize("scale, check", [
    ("standard", lambda v: np.isclose(v.mean(), 0) and np.isclose(v.std(), 1)),
    ("robust", lambda v: np.isclose(np.median(v), 0) and
     np.isclose(np.subtract(*np.percentile(v, [75, 25])), 1)),
    ("minmax", lambda v: np.isclose(v.min(), 0) and np.isclose(v.max(), 1)),
    ("none", lambda v: np.isclose(v.max(), 9) and np.isclose(v.min(), 0)),
])
def test_each_scaler(scale, check):
    X, y = rows()
    got = out(build(SCHEMA, prep(scale=scale), "binary", 0, CARDINALITY), X, y)
    assert check(got["n"].to_numpy())


@pytest.mark.parametrize("rule", ["iqr", "quantile"])
def test_clipping_happens_before_imputation(rule):
    X, y = rows()
    X.loc[3, "a"] = 1000.0
    spec = prep(impute={"numeric": "mean"}, scale="none",
                outliers={"action": "clip", "rule": rule, "quantiles": [0.05, 0.95]})
    got = out(build(SCHEMA, spec, "binary", 0, CARDINALITY), X, y)
    observed = X["a"].dropna()
    if rule == "iqr":
        q1, q3 = observed.quantile([0.25, 0.75])
        low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    else:
        low, high = observed.quantile([0.05, 0.95])
    assert np.isclose(got.loc[3, "a"], high)
    # The mean that fills gaps is the clipped values' mean, not pulled by 1000.
    assert np.allclose(got.loc[X["a"].isna(), "a"], observed.clip(low, high).mean())


def test_drop_action_leaves_values_to_the_sampler():
    X, y = rows()
    X.loc[3, "a"] = 1000.0
    spec = prep(scale="none", outliers={"action": "drop"})
    got = out(build(SCHEMA, spec, "binary", 0, CARDINALITY), X, y)
    assert got.loc[3, "a"] == 1000.0


def test_text_constant_imputation_and_unseen_values():
    X, y = rows()
    ct = build(SCHEMA, prep(), "binary", 0, {"t": 3, "h": 3})  # both one-hot
    got = out(ct, X, y)
    assert (got.loc[X["t"] == "", "t_(missing)"] == 1).all()
    unseen = ct.transform(X.head(2).assign(t=["never-seen", "x"]))
    t_columns = [i for i, c in enumerate(got.columns) if c.startswith("t_")]
    assert unseen[0, t_columns].sum() == 0 and unseen[1, t_columns].sum() == 1


def test_ordinal_encoding_codes_unseen_values_as_minus_one():
    X, y = rows()
    ct = build(SCHEMA, prep(encode={"text": "ordinal"}), "binary", 0, CARDINALITY)
    got = out(ct, X, y)
    assert sorted(got["t"].unique()) == [0, 1, 2, 3]  # x, y, z and "(missing)"
    assert ct.transform(X.head(1).assign(t="never-seen"))[0, list(got.columns).index("t")] == -1


@pytest.mark.parametrize("task, target, names", [
    ("binary", lambda y: y, ["t"]),
    ("regression", lambda y: y * 10.0 + 3, ["t"]),
    ("multiclass", lambda y: np.array(["p", "q", "r"])[y + (np.arange(len(y)) % 2)],
     ["t_p", "t_q", "t_r"]),
])
def test_target_encoding_per_task(task, target, names):
    X, y = rows()
    ct = build(SCHEMA, prep(encode={"text": "target"}), task, 0, CARDINALITY)
    got = out(ct, X, target(y))
    assert [c for c in got.columns if c.startswith("t")] == names
    encoder = ct.named_transformers_["text_target"]["encode"]
    assert encoder.target_type_ == {"regression": "continuous"}.get(task, task)


def test_target_encoding_is_cross_fitted_with_the_seed():
    X, y = rows()
    fit = [build(SCHEMA, prep(encode={"text": "target"}), "binary", s, CARDINALITY)
           .fit_transform(X, y) for s in (0, 0, 1)]
    assert np.array_equal(fit[0], fit[1])
    assert not np.array_equal(fit[0], fit[2])  # other folds, other codes


@pytest.mark.parametrize("h_count, h_names", [
    (30, "onehot"),  # at the limit: still one-hot
    (31, "target"),  # over it: the high-cardinality encoder
])
def test_high_cardinality_switch(h_count, h_names):
    X, y = rows()
    ct = build(SCHEMA, prep(), "binary", 0, {"t": 3, "h": h_count})
    got = out(ct, X, y)
    assert {name: cols for name, _, cols in ct.transformers if name.startswith("text")} == (
        {"text_onehot": ["t", "h"]} if h_names == "onehot"
        else {"text_onehot": ["t"], "text_target": ["h"]})
    assert ("h" in got.columns) == (h_names == "target")


def test_high_cardinality_encoder_is_configurable():
    X, y = rows()
    spec = prep(encode={"text": "ordinal", "high_cardinality": "onehot", "max_onehot": 5})
    got = out(build(SCHEMA, spec, "binary", 0, CARDINALITY), X, y)
    assert "t" in got.columns  # 3 values: ordinal
    assert "h" not in got.columns and any(c.startswith("h_v") for c in got.columns)


@pytest.mark.parametrize("columns, message", [
    ({"zz": "mean"}, "prepare.impute.columns.zz: 'zz' is not a feature column"),
    ({"aa": "mean"}, "'aa' is not a feature column (did you mean 'a'?)"),
    ({"t": "mean"}, "prepare.impute.columns.t: 't' is a text column"),
])
def test_bad_per_column_overrides(columns, message):
    with pytest.raises(DataError) as info:
        build(SCHEMA, prep(impute={"columns": columns}), "binary", 0, CARDINALITY)
    assert message in info.value.headline


def test_fitted_transformer_survives_clone_and_pickle_and_keeps_its_input():
    X, y = rows()
    spec = prep(impute={"numeric": "iterative", "indicators": True},
                outliers={"action": "clip"}, encode={"high_cardinality": "target"})
    ct = build(SCHEMA, spec, "binary", 0, CARDINALITY)
    before = X.copy()
    expected = ct.fit(X, y).transform(X)
    pd.testing.assert_frame_equal(X, before)
    assert np.array_equal(pickle.loads(pickle.dumps(ct)).transform(X), expected)
    again = clone(ct)
    assert again.get_params()["sparse_threshold"] == 0
    assert np.array_equal(again.fit(X, y).transform(X), expected)
    assert expected.dtype == np.float64 and not np.isnan(expected).any()
