"""The ONNX fast path: pipelines trained the way Shipyard trains them compile, and
the compiled form scores new rows (gaps, unseen categories) like the pipeline."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from shipyard.card import ModelCard
from shipyard.prepare import dataset, steps
from shipyard.serve import converters
from shipyard.serve.fast import (
    CHUNK_ROWS,
    FastModel,
    NotCompilable,
    batch_of,
    compile_pipeline,
    scores_python,
)
from shipyard.serve.inputs import Batch
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
        gap = np.abs(got.values - expected.values) / np.maximum(np.abs(expected.values), 1)
        assert gap.max() <= 1e-4
    else:
        assert got.values is None and got.proba.dtype == np.float64
        assert got.proba.shape == (len(rows), len(card.classes))
        assert np.abs(got.proba - expected.proba).max() <= 1e-5


def compiled(task: str, model: str, extra: str = "", params: dict | None = None):
    pipeline, card, ds = trained(task, model, extra, params)
    onnx_bytes = compile_pipeline(pipeline, card, ds.X.head(200))
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


@pytest.mark.parametrize("task, model, params", [
    ("regression", "svm", None),  # ONNX Runtime has no double SVR: compiled for float
    ("regression", "decision_tree", None),
    ("binary", "hist_gradient_boosting", {"max_iter": 20}),
    ("binary", "mlp", {"max_iter": 50}),
    ("multiclass", "random_forest", {"n_estimators": 10, "n_jobs": 1}),
    ("multiclass", "xgboost", FEW_TREES),
])
def test_other_catalogue_models_compile_and_agree(task, model, params):
    with warnings.catch_warnings():  # small data: an MLP stops before it converges
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline, card, fast, _ = compiled(task, model, params=params)
    assert_agrees(pipeline, card, new_rows(card), fast)


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


def test_tree_models_take_float_and_linear_models_double():
    # LightGBM's thresholds are often values seen in training; compared in double
    # with a threshold rounded to float they flip rows (see onnx_model.choose).
    for model, params, wanted in (("lightgbm", FEW_TREES, "float"), ("linear", None, "double")):
        pipeline, card, _ = trained("binary", model, params=params)
        built = converters.build(pipeline, card.schema, card.task, card.classes)
        chosen = {p.key: p.value for p in built.metadata_props}[converters.MODEL_INPUT]
        assert chosen == wanted


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


@pytest.mark.parametrize("extra, message", [
    ("entity: eid\ntime: t\nprepare: {series: {windows: [3], stats: [mean]}}",
     r"^step 'series' \(SeriesFeatures\) has no ONNX converter$"),
    ("prepare: {impute: {numeric: knn}}",
     r"^step 'columns/numeric_knn/impute' \(KNNImputer\) has no ONNX converter$"),
])
def test_steps_without_a_converter_are_named(extra, message):
    pipeline, card, ds = trained("regression", "linear", extra)
    with pytest.raises(NotCompilable, match=message) as caught:
        compile_pipeline(pipeline, card, ds.X.head(50))
    assert "\n" not in str(caught.value)


def test_a_datetime_column_is_refused():
    pipeline, card, ds = trained("regression", "linear", "prepare: {dates: [month, dayofweek]}")
    assert card.schema.dates == ["t"]
    with pytest.raises(NotCompilable, match="column 't' is a date-time"):
        compile_pipeline(pipeline, card, ds.X.head(50))


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
