"""The ONNX fast path: pipelines trained the way Shipyard trains them compile, and
the compiled form scores new rows (gaps, unseen categories) like the pipeline."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from shipyard.card import ModelCard
from shipyard.catalogue import MODELS
from shipyard.prepare import dataset, steps
from shipyard.prepare import threshold as thresholds
from shipyard.serve.compiler import (
    CHUNK_ROWS,
    FastModel,
    NotCompilable,
    batch_of,
    compile_pipeline,
    listing,
    scores_python,
)
from shipyard.serve.compiler import build as builder
from shipyard.serve.compiler.graph import MODEL_INPUT
from shipyard.serve.compiler.model import EXACT_TREES
from shipyard.serve.predict import Batch, Scores, items
from shipyard.train.cv import make_pipeline
from tests.helpers import frame, project

from .models import regression_model

TARGETS = {"regression": "y", "binary": "label", "multiclass": "kind"}
FEW_TREES = {"n_estimators": 20}


def trained(task: str, model: str, extra: str = "", params: dict | None = None,
            n: int = 400):
    """A pipeline fitted as a Shipyard run fits it, its card and its training set."""
    target = TARGETS[task]
    p = project(task, target=target, models=f"[{{name: {model}}}]", extra=extra)
    ds = dataset(frame(n).drop(columns=[t for t in TARGETS.values() if t != target]), p)
    pipeline = make_pipeline(steps(ds, p), model, task, params or {}, p.seed)
    pipeline.fit(ds.X, ds.y)
    card = ModelCard(name="t", task=task, target=target, schema=ds.schema,
                     classes=ds.classes, positive_class=ds.positive)
    return pipeline, card, ds


def new_rows(card: ModelCard, n: int = 300) -> pd.DataFrame:
    """Rows the model never saw: gaps in every column, unseen and missing text."""
    rows = frame(n, seed=7)
    rows.loc[::5, "a"] = np.nan
    rows.loc[::7, "c"] = np.nan
    rows.loc[::3, "b"] = "never-seen"
    rows.loc[1::11, "b"] = None
    rows.loc[::13, "a"] = 1e6  # far outside the clipping fences
    return card.schema.model_frame(rows)


def assert_agrees(pipeline, card: ModelCard, rows: pd.DataFrame, fast: FastModel) -> None:
    batch = batch_of(rows, card)
    expected, got = scores_python(pipeline, card, batch), fast.scores(batch)
    if card.task == "regression":
        assert got.proba is None and got.values.dtype == np.float64
        assert got.values.shape == (len(rows),)
        scale = np.std(expected.values)
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-6, atol=1e-6 * scale)
    else:
        assert got.values is None and got.proba.dtype == np.float64
        assert got.proba.shape == (len(rows), len(card.classes))
        assert np.abs(got.proba - expected.proba).max() <= 1e-6


def compiled(task: str, model: str, extra: str = "", params: dict | None = None):
    pipeline, card, ds = trained(task, model, extra, params)
    onnx_bytes = compile_pipeline(pipeline, card, ds.X.head(200)).onnx
    return pipeline, card, FastModel(onnx_bytes, card), onnx_bytes


@pytest.mark.parametrize("task, model, extra, params", [
    # clipping, missing indicators for numbers and text, constant/most-frequent imputation
    ("regression", "lightgbm",
     "prepare: {outliers: {action: clip}, impute: {indicators: true, text: most_frequent}}",
     FEW_TREES),
    ("regression", "linear",
     "prepare: {scale: robust, impute: {numeric: mean, columns: {c: constant}}}", None),
    # string labels, ordinal codes, an under-sampler that acts only while fitting
    ("binary", "xgboost",
     "prepare: {encode: {text: ordinal}, imbalance: {method: undersample}}", FEW_TREES),
    ("binary", "lightgbm", "prepare: {outliers: {action: drop}, scale: minmax}", FEW_TREES),
    # three string labels; the outlier dropper; target encoding; a model-ranked selection
    ("multiclass", "linear",
     "prepare: {outliers: {action: drop}, encode: {text: target},"
     " select: {top_features: 4}}", None),
    ("multiclass", "lightgbm", "prepare: {imbalance: {method: smote}}", FEW_TREES),
])
def test_shipyard_pipelines_compile_and_agree_on_new_rows(task, model, extra, params):
    pipeline, card, fast, _ = compiled(task, model, extra, params)
    assert_agrees(pipeline, card, new_rows(card), fast)


def _catalogue() -> list[tuple[str, str]]:
    found = []
    for name, entry in MODELS.items():
        if entry.regressor:
            found.append(("regression", name))
        if entry.classifier:
            found += [("binary", name), ("multiclass", name)]
    return found


SMALL = {"lightgbm": FEW_TREES, "xgboost": FEW_TREES, "random_forest": {"n_estimators": 10},
         "extra_trees": {"n_estimators": 10}, "hist_gradient_boosting": {"max_iter": 20},
         "mlp": {"max_iter": 50}}


@pytest.mark.parametrize("task, model", _catalogue())
def test_every_catalogue_model_compiles_and_agrees(task, model):
    with warnings.catch_warnings():  # small data: an MLP stops before it converges
        warnings.simplefilter("ignore", ConvergenceWarning)
        # scikit-learn 1.9 deprecates the SVC(probability=True) the catalogue uses
        warnings.filterwarnings("ignore", "The `probability` parameter", FutureWarning)
        pipeline, card, fast, _ = compiled(task, model, params=SMALL.get(model))
    assert_agrees(pipeline, card, new_rows(card), fast)


def detector(model: str, params: dict | None = None):
    """An anomaly detector fitted as a Shipyard run fits it (no labels), and its card."""
    p = project("anomaly", target="null", models=f"[{{name: {model}}}]")
    ds = dataset(frame(400).drop(columns=list(TARGETS.values())), p)
    pipeline = make_pipeline(steps(ds, p), model, "anomaly", params or {}, p.seed)
    pipeline.fit(ds.X)
    card = ModelCard(name="t", task="anomaly", target=None, schema=ds.schema, threshold=0.5)
    return pipeline, card, ds


@pytest.mark.parametrize("params", [{"n_estimators": 30},
                                    {"n_estimators": 30, "max_features": 0.5,
                                     "max_samples": 0.3}])
def test_an_isolation_forest_compiles_to_its_own_anomaly_scores(params):
    pipeline, card, ds = detector("isolation_forest", params)
    compiled_ = compile_pipeline(pipeline, card, ds.X)
    assert compiled_.split_rows > 1000
    fast, rows = FastModel(compiled_.onnx, card), new_rows(card)
    got, expected = (f(batch_of(rows, card)).values for f in (
        fast.scores, lambda b: scores_python(pipeline, card, b)))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert [i["prediction"] for i in items(card, Scores(values=got))] == \
        (expected >= card.threshold).tolist()


def test_a_local_outlier_factor_is_left_to_python_with_the_reason():
    pipeline, card, ds = detector("local_outlier_factor")
    with pytest.raises(NotCompilable, match=r"LocalOutlierFactor\) has no exact ONNX form"):
        compile_pipeline(pipeline, card, ds.X)


def test_the_tree_families_are_exact_and_xgboost_and_svr_take_float():
    # XGBoost rounds its input to float32 itself; ONNX Runtime has no double SVR.
    for task, model, params, wanted in (
            ("binary", "lightgbm", FEW_TREES, EXACT_TREES),
            ("regression", "hist_gradient_boosting", {"max_iter": 5}, EXACT_TREES),
            ("multiclass", "random_forest", {"n_estimators": 3}, EXACT_TREES),
            ("binary", "xgboost", FEW_TREES, "float"),
            ("regression", "svm", None, "float"),
            ("binary", "linear", None, "double")):
        pipeline, card, _, onnx_bytes = compiled(task, model, params=params)
        model_proto = onnx.load_model_from_string(onnx_bytes)
        assert {p.key: p.value for p in model_proto.metadata_props}[MODEL_INPUT] == wanted
        if wanted == EXACT_TREES:
            assert "TreeEnsemble" in {node.op_type for node in model_proto.graph.node}


def test_rows_on_the_split_thresholds_go_the_way_the_library_sends_them():
    """Values equal to a threshold, or one rounding step either side: a float32
    form sends some of them the wrong way; the compiled form sends none."""
    pipeline, card, fast, _ = compiled("regression", "lightgbm", "prepare: {scale: none}",
                                       params={"n_estimators": 60})
    booster = builder.parts(pipeline).model.booster_
    # Unscaled, 'a' reaches the model as it is (the imputer leaves present values
    # alone): the model's thresholds on its column are values of 'a' itself.
    column = builder.parts(pipeline).transforms[0][1].get_feature_names_out().tolist()
    a = column.index("a")
    splits = [node["threshold"] for node in _nodes(booster.dump_model())
              if node["split_feature"] == a]
    assert len(splits) > 20
    values = sorted({v for t in splits for v in (
        t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), float(np.float32(t)))})
    rows = card.schema.model_frame(pd.DataFrame({
        "a": values, "b": "x", "c": 2, "t": pd.Timestamp("2026-01-01"), "eid": 1}))
    assert_agrees(pipeline, card, rows, fast)
    rounded = rows.assign(a=rows["a"].astype(np.float32).astype(np.float64))
    moved = np.abs(pipeline.predict(rounded) - pipeline.predict(rows)) > 1e-6
    assert moved.any()  # these rows do tell a float32 form from an exact one


def _nodes(dump: dict):
    stack = [t["tree_structure"] for t in dump["tree_info"]]
    while stack:
        node = stack.pop()
        if "leaf_value" not in node:
            yield node
            stack += [node["left_child"], node["right_child"]]


def test_a_tuned_threshold_compiles_to_the_cards_threshold():
    pipeline, card, ds = trained("binary", "lightgbm", params=FEW_TREES)
    # as training applies the threshold it tuned (prepare.threshold), at a value
    # that many holdout rows straddle
    threshold = float(np.quantile(pipeline.predict_proba(ds.X)[:, 1], 0.3))
    pipeline = thresholds.apply(pipeline, threshold)
    card = dataclasses.replace(card, threshold=threshold)
    onnx_bytes = compile_pipeline(pipeline, card, ds.X).onnx
    fast, rows = FastModel(onnx_bytes, card), new_rows(card)
    assert_agrees(pipeline, card, rows, fast)
    decided = [item["prediction"] for item in items(card, fast.scores(batch_of(rows, card)))]
    assert decided == pipeline.predict(rows).tolist()
    assert [s["step"] for s in listing(pipeline, True)][-2:] == ["model", "threshold"]
    other = dataclasses.replace(card, threshold=threshold + 0.01)
    with pytest.raises(NotCompilable, match="decision threshold .* is not the model card's"):
        compile_pipeline(pipeline, other, ds.X)


def test_a_lightgbm_model_that_reads_zero_as_missing_is_refused_with_the_reason():
    pipeline, card, ds = trained("regression", "lightgbm",
                                 params={**FEW_TREES, "zero_as_missing": True})
    with pytest.raises(NotCompilable, match="treats zero as missing"):
        compile_pipeline(pipeline, card, ds.X)


def test_the_listing_says_where_each_step_runs():
    pipeline, _, _ = trained("binary", "lightgbm",
                             "prepare: {outliers: {action: drop}, imbalance: {method: smote}}",
                             FEW_TREES)
    steps = listing(pipeline, compiled=True)
    runs = {s["step"]: s["runs"] for s in steps}
    assert runs["drop_outliers"] == runs["resample"] == "training only"
    assert runs["model"] == "compiled"
    assert any(s["step"].startswith("columns/") and s["kind"] == "SimpleImputer" for s in steps)
    assert {s["runs"] for s in listing(pipeline, compiled=False)} == {"python", "training only"}


def test_the_steps_that_matter_are_in_the_compiled_pipeline():
    pipeline, card, _, onnx_bytes = compiled(
        "binary", "xgboost", "prepare: {outliers: {action: clip}, impute: {indicators: true}}"
        "\nentity: eid", FEW_TREES)
    names = [name for name, _ in pipeline.steps]
    assert names == ["columns", "select", "model"]
    ops = {node.op_type for node in onnx.load_model_from_string(onnx_bytes).graph.node}
    assert {"Max", "Min", "IsNaN", "Where", "LabelEncoder", "Gather",
            "TreeEnsembleClassifier"} <= ops
    assert [i.name for i in onnx.load_model_from_string(onnx_bytes).graph.input] == \
        card.schema.names



def test_one_row_and_large_batches_in_chunks_on_threads():
    pipeline, card, fast, onnx_bytes = compiled("multiclass", "lightgbm", params=FEW_TREES)
    rows = new_rows(card, 50)
    one = fast.scores(batch_of(rows.head(1), card))
    assert one.proba.shape == (1, 3)
    np.testing.assert_allclose(one.proba.sum(axis=1), 1.0, rtol=1e-6)
    big = pd.concat([rows] * (CHUNK_ROWS // 50 + 2), ignore_index=True)
    two = FastModel(onnx_bytes, card, threads=2)
    try:
        np.testing.assert_array_equal(two.scores(batch_of(big, card)).proba,
                                      fast.scores(batch_of(big, card)).proba)
    finally:
        two.close()
    assert_agrees(pipeline, card, big, fast)


def test_probabilities_follow_the_card_class_order():
    pipeline, card, fast, _ = compiled("multiclass", "linear")
    assert card.classes == ("high", "low", "mid")
    rows = new_rows(card, 20)
    expected = pipeline.predict_proba(rows)
    np.testing.assert_allclose(fast.scores(batch_of(rows, card)).proba, expected, atol=1e-6)


def test_a_card_whose_class_order_differs_from_the_model_is_refused():
    pipeline, card, ds = trained("multiclass", "linear")
    shuffled = ModelCard(name="t", task=card.task, target=card.target, schema=card.schema,
                         classes=tuple(reversed(card.classes)))
    with pytest.raises(NotCompilable, match="class order"):
        compile_pipeline(pipeline, shuffled, ds.X.head(50))


def test_a_step_without_a_converter_is_named():
    pipeline, card, ds = trained("regression", "linear", "prepare: {impute: {numeric: knn}}")
    with pytest.raises(NotCompilable, match=r"^step 'columns/numeric_knn/impute' "
                                            r"\(KNNImputer\) has no ONNX converter$"):
        compile_pipeline(pipeline, card, ds.X.head(50))


SERIES = ("entity: eid\ntime: t\nprepare: {series: {windows: [3, 10], stats: [mean, slope], "
          "lags: [1], elapsed: true, smooth: {method: median, window: 3}}}")


@pytest.mark.parametrize("extra, first", [(SERIES, "series"),
                                          ("prepare: {dates: [month, dayofweek]}", "dates")])
def test_series_windows_and_date_parts_run_in_python_before_the_graph(extra, first):
    pipeline, card, ds = trained("regression", "lightgbm", extra, FEW_TREES)
    onnx_bytes = compile_pipeline(pipeline, card, ds.X).onnx
    meta = {p.key: p.value for p in onnx.load_model_from_string(onnx_bytes).metadata_props}
    assert meta["shipyard.python_steps"] == f'["{first}"]'
    fast = FastModel(onnx_bytes, card, pipeline=pipeline)
    assert_agrees(pipeline, card, new_rows(card), fast)
    runs = {s["step"]: s["runs"] for s in listing(pipeline, compiled=True)}
    assert runs.pop(first) == "python" and set(runs.values()) == {"compiled"}
    with pytest.raises(NotCompilable, match=f"has no \\['{first}'\\]"):
        FastModel(onnx_bytes, card)  # the graph alone cannot score raw rows


def test_an_encoder_that_fails_on_unseen_values_is_refused():
    model = regression_model(handle_unknown="error")
    sample = model.card.schema.model_frame(pd.DataFrame({
        "age": [30], "income": [50.0], "member": [True], "city": ["Paris"], "plan": ["basic"]}))
    with pytest.raises(NotCompilable, match="fails on values it never saw"):
        compile_pipeline(model.pipeline, model.card, sample)


def test_without_sample_rows_nothing_is_claimed():
    pipeline, card, ds = trained("regression", "linear")
    with pytest.raises(NotCompilable, match="no sample rows"):
        compile_pipeline(pipeline, card, ds.X.head(0))


def test_corrupted_or_mismatched_onnx_is_refused_by_fast_model():
    pipeline, card, fast, onnx_bytes = compiled("binary", "linear")
    with pytest.raises(NotCompilable, match="ONNX Runtime cannot load the model"):
        FastModel(onnx_bytes[: len(onnx_bytes) // 2] + b"garbage", card)
    with pytest.raises(NotCompilable, match="ONNX Runtime cannot load the model"):
        FastModel(b"", card)
    regression = ModelCard(name="t", task="regression", target="y", schema=card.schema)
    with pytest.raises(NotCompilable, match="no double output 'value'"):
        FastModel(onnx_bytes, regression)
    other = regression_model().card
    with pytest.raises(NotCompilable, match="inputs .* do not match the card"):
        FastModel(onnx_bytes, other)


def test_an_empty_batch_scores_nothing():
    _, card, fast, _ = compiled("binary", "linear")
    empty = Batch({c.name: np.empty(0, dtype=np.float64 if c.numeric else object)
                   for c in card.schema.columns}, 0)
    assert fast.scores(empty).proba.shape == (0, 2)
