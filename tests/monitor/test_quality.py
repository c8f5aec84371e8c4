"""Data quality of live input: missing values, unseen categories, out-of-range numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from shipyard.monitor.quality import Limits, check
from shipyard.schema import Column, Schema

SCHEMA = Schema((Column("age", "integer"), Column("income", "number"),
                 Column("city", "string"), Column("member", "boolean"),
                 Column("joined", "datetime")))


def reference(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n),  # 18 .. 79
        "income": rng.uniform(1000, 5000, n),
        "city": rng.choice(["Oslo", "Lima", "Pune"], n),
        "member": rng.random(n) < 0.5,
        "joined": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
    })
    frame.loc[:49, "income"] = np.nan  # 5% missing in training
    return frame


REFERENCE = reference()


def window(n: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(object),  # as the log gives them: JSON values
        "income": rng.uniform(1100, 4900, n),  # inside the reference's sampled range
        "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
        "member": rng.choice([True, False], n).astype(object),
        "joined": ["2026-03-01T10:00:00"] * n,
    })


def features(result):
    return {f.feature: f for f in result.features}


def test_clean_window_has_no_problems():
    result = check(window(), REFERENCE, SCHEMA)
    assert result.problems == [] and result.rows == 200
    found = features(result)
    assert found["income"].reference_missing_share == pytest.approx(0.05)
    assert found["income"].missing_share == 0.0 and found["income"].out_of_range == 0.0
    assert found["city"].unseen == 0 and found["city"].unseen_share == 0.0
    assert found["age"].reference_range == (18.0, 79.0)
    assert found["joined"].missing_share == 0.0 and found["joined"].out_of_range is None


def test_missing_share_rising_is_a_problem():
    current = window()
    current.loc[:59, "income"] = None  # 30%, training had 5%
    current.loc[:9, "age"] = np.nan  # 5%: under the limit
    current.loc[:39, "city"] = ""  # the missing-text marker: 20%
    result = check(current, REFERENCE, SCHEMA)
    found = features(result)
    assert found["income"].missing_share == pytest.approx(0.3)
    assert found["city"].missing_share == pytest.approx(0.2)
    assert result.problems == [
        "income: 30.0% of the values are missing (training data: 5.0%)",
        "city: 20.0% of the values are missing (training data: 0.0%)",
    ]
    assert check(current, REFERENCE, SCHEMA, Limits(missing_increase=0.3)).problems == []


def test_a_column_the_log_lacks_is_all_missing():
    result = check(window().drop(columns=["member"]), REFERENCE, SCHEMA)
    assert features(result)["member"].missing_share == 1.0
    assert result.problems == ["member: 100.0% of the values are missing (training data: 0.0%)"]


def test_unseen_categories():
    current = window(400)
    current.loc[:199, "city"] = ["Rome"] * 80 + ["Kyiv"] * 50 + ["Doha"] * 30 + ["Baku"] * 20 \
        + ["Riga"] * 10 + ["Oran"] * 6 + ["Nice"] * 4
    current.loc[200:209, "city"] = ""  # missing values do not count as categories
    found = features(check(current, REFERENCE, SCHEMA))["city"]
    assert found.unseen == 7 and found.unseen_share == pytest.approx(200 / 390)
    assert found.unseen_examples == ("Rome", "Kyiv", "Doha", "Baku", "Riga")
    problem = check(current, REFERENCE, SCHEMA).problems[0]
    assert problem == ("city: 51.3% of the values are categories the model never saw "
                       "('Rome', 'Kyiv', 'Doha', 'Baku', 'Riga' and 2 more)")


def test_a_few_unseen_values_stay_under_the_limit():
    current = window(400)
    current.loc[:3, "city"] = "Rome"  # 1.0%: not above 1%
    assert check(current, REFERENCE, SCHEMA).problems == []
    current.loc[4, "city"] = "Rome"
    assert check(current, REFERENCE, SCHEMA).problems == [
        "city: 1.2% of the values are categories the model never saw ('Rome')"]


def test_booleans_however_written_are_not_new_categories():
    current = window()
    current["member"] = pd.Series([1, 0, "true", "False"] * 50, dtype=object)
    found = features(check(current, REFERENCE, SCHEMA))["member"]
    assert found.unseen == 0 and found.missing_share == 0.0


def test_out_of_range_numbers():
    current = window(200)
    current.loc[:9, "age"] = 17  # below the youngest in training
    current.loc[10:19, "age"] = 95
    current.loc[20:29, "age"] = None  # missing: not counted among the values
    found = features(check(current, REFERENCE, SCHEMA))["age"]
    assert found.out_of_range == pytest.approx(20 / 190)
    assert check(current, REFERENCE, SCHEMA).problems[-1] == (
        "age: 10.5% of the values are outside the training range [18, 79]")
    assert check(current, REFERENCE, SCHEMA, Limits(out_of_range=0.2)).problems == []


def test_empty_window():
    result = check(window().iloc[:0], REFERENCE, SCHEMA)
    assert result.rows == 0 and result.problems == []
    out = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert out["features"][0]["missing_share"] is None
    assert out["features"][0]["reference_missing_share"] == 0.0


def test_to_dict():
    current = window()
    current.loc[:4, "city"] = "Rome"
    out = json.loads(json.dumps(check(current, REFERENCE, SCHEMA).to_dict(), allow_nan=False))
    city = next(f for f in out["features"] if f["feature"] == "city")
    assert city == {"feature": "city", "kind": "string", "missing_share": 0.0,
                    "reference_missing_share": 0.0, "unseen": 1, "unseen_share": 0.025,
                    "unseen_examples": ["Rome"], "out_of_range": None, "reference_range": None}
    assert out["problems"] == [
        "city: 2.5% of the values are categories the model never saw ('Rome')"]
