"""Targets from each entity's history, and the C-MAPSS project files that use them."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard import spec
from shipyard.errors import DataError
from shipyard.prepare.labels import derive
from shipyard.spec import Label

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cmapss"


def engines() -> pd.DataFrame:
    """Engine 'a' runs 5 cycles, 'b' 3; rows interleaved and out of time order."""
    df = pd.DataFrame({"unit": ["a"] * 5 + ["b"] * 3,
                       "cycle": [1, 2, 3, 4, 5, 1, 2, 3],
                       "failed": [False, False, False, False, True, False, False, False]})
    return df.sample(frac=1.0, random_state=7)


def by_row(out: pd.DataFrame, column: str) -> dict:
    return {(u, c): v for u, c, v in zip(out["unit"], out["cycle"], out[column], strict=True)}


def test_rul_counts_rows_left_until_the_last_row():
    df = engines()
    out = derive(df, Label(kind="rul"), "unit", "cycle", "rul")
    assert list(out.index) == list(df.index) and "rul" not in df.columns  # a copy, same order
    rul = by_row(out, "rul")
    assert [rul[("a", c)] for c in range(1, 6)] == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert [rul[("b", c)] for c in range(1, 4)] == [2.0, 1.0, 0.0]
    assert out["rul"].dtype == np.float64


def test_rul_cap_makes_it_piecewise_linear():
    out = derive(engines(), Label(kind="rul", cap=2), "unit", "cycle", "rul")
    rul = by_row(out, "rul")
    assert [rul[("a", c)] for c in range(1, 6)] == [2.0, 2.0, 2.0, 1.0, 0.0]


def test_fails_within_includes_the_horizon_and_the_last_row():
    out = derive(engines(), Label(kind="fails_within", horizon=2), "unit", "cycle", "soon")
    soon = by_row(out, "soon")
    # 'a' fails at cycle 5: cycles 3 (two rows ahead), 4 and 5 are within 2 rows.
    assert [soon[("a", c)] for c in range(1, 6)] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert [soon[("b", c)] for c in range(1, 4)] == [1.0, 1.0, 1.0]


def test_entities_without_the_event_are_censored():
    df = engines()
    out = derive(df, Label(kind="rul", event="failed"), "unit", "cycle", "rul")
    rul = by_row(out, "rul")
    assert rul[("a", 1)] == 4.0 and rul[("a", 5)] == 0.0
    assert all(np.isnan(rul[("b", c)]) for c in range(1, 4))
    numbers = df.assign(failed=df["failed"].astype(int))  # 1/0 works as well as true/false
    soon = derive(numbers, Label(kind="fails_within", horizon=1, event="failed"), "unit",
                  "cycle", "soon")
    assert soon["soon"].isna().sum() == 3 and soon["soon"].sum() == 2.0


def test_rows_at_the_same_time_keep_their_order():
    df = pd.DataFrame({"unit": [1, 1, 1], "cycle": [1, 1, 2]})
    assert derive(df, Label(kind="rul"), "unit", "cycle", "rul")["rul"].tolist() == [2, 1, 0]


@pytest.mark.parametrize(("label", "change", "message"), [
    (Label(kind="rul"), lambda df: df.drop(columns="unit"), "entity: the column 'unit' is not"),
    (Label(kind="rul"), lambda df: df.drop(columns="cycle"), "time: the column 'cycle' is not"),
    (Label(kind="rul", event="broke"), lambda df: df, "label.event: the column 'broke' is not"),
    (Label(kind="rul"), lambda df: df.assign(rul=1.0), "already has a column 'rul'.*overwrite"),
    (Label(kind="rul", event="failed"), lambda df: df.assign(failed="yes"),
     "label.event: the column 'failed' must be true/false"),
    (Label(kind="rul"), lambda df: df.assign(cycle=[1.0, None] + [3.0] * 6),
     "time: 1 rows have no value"),
])
def test_bad_data_names_the_key(label, change, message):
    with pytest.raises(DataError, match=message):
        derive(change(engines()), label, "unit", "cycle", "rul")


@pytest.mark.parametrize("name", ["fd001.yaml", "fd003.yaml"])
def test_cmapss_project_files_parse(name, tmp_path, monkeypatch):
    # The files only have to exist for the project file to be valid; their data is not read.
    subset = name.removesuffix(".yaml").upper()
    (tmp_path / "cmapss").mkdir()
    for kind in ("train", "test", "RUL"):
        (tmp_path / "cmapss" / f"{kind}_{subset}.txt").write_text("1 1\n")
    monkeypatch.setenv("SHIPYARD_DATA", str(tmp_path))
    project = spec.load(EXAMPLES / name)
    assert (project.target, project.entity, project.time) == ("rul", "unit", "cycle")
    assert project.label == Label(kind="rul", cap=125)
    assert project.prepare.series is not None and project.split_strategy == "group"
    assert project.source.test_query is not None
