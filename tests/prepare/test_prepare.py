"""From rows to a dataset: feature choice, the input contract, targets."""

import numpy as np
import pytest

from shipyard.errors import DataError
from shipyard.prepare import dataset, steps
from tests.helpers import frame, project


def test_features_default_to_everything_but_roles_and_dates():
    p = project(extra="entity: eid\ntime: t\n")
    ds = dataset(frame().drop(columns=["label", "kind"]), p)
    assert ds.schema.names == ["a", "b", "c"]
    assert [c.kind for c in ds.schema.columns] == ["number", "string", "integer"]
    assert ds.groups is not None and ds.times is not None


def test_include_exclude_and_unusable_columns_are_noted():
    df = frame().drop(columns=["label", "kind"])
    df["empty"] = np.nan
    ds = dataset(df, project(extra="features: {exclude: [c]}\n"))
    assert ds.schema.names == ["eid", "a", "b"]
    assert any("'t' is not used: it is a date" in n for n in ds.notes)
    assert any("'empty' is not used: it has no values" in n for n in ds.notes)
    ds = dataset(df, project(extra="features: {include: [b, a]}\n"))
    assert ds.schema.names == ["b", "a"]


def test_model_frame_contract_and_rows_without_target_set_aside():
    df = frame()
    df.loc[:4, "y"] = np.nan
    ds = dataset(df.drop(columns=["label", "kind"]), project())
    assert ds.set_aside == 5 and len(ds) == len(df) - 5
    assert ds.X["a"].dtype == np.float64 and ds.X["a"].isna().sum() > 0
    assert ds.X["b"].dtype == object and (ds.X["b"] == "").sum() > 0  # "" marks missing text
    assert all(isinstance(v, str) for v in ds.X["b"])


def test_default_steps_handle_missing_and_unseen_values():
    p = project()
    ds = dataset(frame().drop(columns=["label", "kind"]), p)
    (name, pre), *rest = steps(ds, p)
    assert name == "columns" and [n for n, _ in rest] == ["select"]
    pre.fit(ds.X)
    out = pre.transform(ds.X.head(3).assign(b=["never-seen", "", "x"]))
    assert out.shape[0] == 3 and not np.isnan(out).any()
    assert "b_(missing)" in pre.get_feature_names_out()


def test_binary_positive_class_defaults_to_last_and_can_be_set():
    df = frame().drop(columns=["y", "kind"])
    assert dataset(df, project("binary", target="label")).positive == "Yes"
    ds = dataset(df, project("binary", target="label", extra="positive_class: 'No'\n"))
    assert ds.positive == "No" and ds.classes == ("No", "Yes")


@pytest.mark.parametrize("task, target, change, message", [
    ("binary", "label", lambda d: d.assign(label="Yes"), "has a single class ('Yes')"),
    ("binary", "kind", lambda d: d, "a binary task needs exactly two"),
    ("regression", "label", lambda d: d, "must be numeric for a regression task"),
    ("regression", "y", lambda d: d.assign(y=np.nan), "has no values"),
    ("binary", "label", lambda d: d.assign(a=np.nan, b=None, c=np.nan, y=np.nan, kind=None,
                                           eid=None, t=None), "No usable feature columns"),
])
def test_targets_that_do_not_fit_the_task(task, target, change, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dataset(change(frame()), project(task, target=target))


def test_unknown_positive_class():
    with pytest.raises(DataError, match="positive_class 'maybe' is not a class"):
        dataset(frame(), project("binary", target="label", extra="positive_class: maybe\n"))
