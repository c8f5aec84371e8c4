"""Per-prediction explanations: the tree ensemble's own exact contributions,
added up by input column; they and the base value give back the prediction."""

from __future__ import annotations

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.card import LoadedModel, ModelCard
from shipyard.schema import Column, Schema
from shipyard.serve.explain import explainer_for

SCHEMA = Schema((Column("egt_c", "number"), Column("vibration_ips", "number"),
                 Column("cycles", "integer"), Column("variant", "string")))


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"egt_c": rng.normal(650, 30, n), "vibration_ips": rng.gamma(2, 0.5, n),
                          "cycles": rng.integers(0, 3000, n),
                          "variant": rng.choice(["CFM56", "LEAP-1A", "V2500"], n).astype(object)})
    y = (120 - 0.8 * (frame["egt_c"] - 650) - 20 * frame["vibration_ips"]
         - 0.01 * frame["cycles"] + np.where(frame["variant"] == "V2500", 15, 0)
         + rng.normal(0, 3, n))
    return frame, y.to_numpy()


def _model(estimator, task: str = "regression") -> LoadedModel:
    frame, y = _data()
    if task == "binary":
        y = (y < np.median(y)).astype(int)
    columns = ColumnTransformer([("num", StandardScaler(), ["egt_c", "vibration_ips", "cycles"]),
                                 ("cat", OneHotEncoder(sparse_output=False), ["variant"])],
                                verbose_feature_names_out=False)
    pipeline = Pipeline([("columns", columns), ("model", estimator)]).fit(frame, y)
    card = ModelCard(name="m", task=task, target="y", schema=SCHEMA,
                     **({"classes": (0, 1), "positive_class": 1} if task == "binary" else {}))
    return LoadedModel(pipeline, card)


ESTIMATORS = {
    "lightgbm": lambda: lightgbm.LGBMRegressor(n_estimators=60, verbose=-1, random_state=0),
    "xgboost": lambda: xgboost.XGBRegressor(n_estimators=60, random_state=0),
}


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_the_contributions_of_every_column_give_back_the_prediction(kind):
    model = _model(ESTIMATORS[kind]())
    explainer = explainer_for(model, top=10)
    frame, _ = _data(40, seed=1)
    said = explainer.explain(frame)
    predicted = model.pipeline.predict(frame)
    for explanation, value in zip(said, predicted, strict=True):
        top = explanation["top"]
        # one entry per input column (the one-hot columns of `variant` added together)
        assert sorted(t["column"] for t in top) == sorted(SCHEMA.names)
        total = explanation["base"] + sum(t["contribution"] for t in top)
        assert total == pytest.approx(value, abs=1e-3)
        sizes = [abs(t["contribution"]) for t in top]
        assert sizes == sorted(sizes, reverse=True)
    # The strongest driver of a hot engine's low prediction is its temperature.
    hot = frame.assign(egt_c=760.0, vibration_ips=1.0).head(1)
    first = explainer.explain(hot)[0]["top"][0]
    assert first["column"] == "egt_c" and first["contribution"] < 0
    assert first["feature"] == "egt_c" and first["value"] == pytest.approx(
        (760.0 - model.pipeline[0].named_transformers_["num"].mean_[0])
        / model.pipeline[0].named_transformers_["num"].scale_[0], rel=1e-3)


def test_a_binary_classifier_is_explained_in_log_odds():
    model = _model(lightgbm.LGBMClassifier(n_estimators=40, verbose=-1, random_state=0),
                   "binary")
    frame, _ = _data(20, seed=2)
    said = explainer_for(model, top=10).explain(frame)
    proba = model.pipeline.predict_proba(frame)[:, 1]
    log_odds = [e["base"] + sum(t["contribution"] for t in e["top"]) for e in said]
    np.testing.assert_allclose(1 / (1 + np.exp(-np.asarray(log_odds))), proba, atol=1e-3)


def test_a_linear_model_is_explained_by_its_coefficients():
    from sklearn.linear_model import Ridge

    model = _model(Ridge())
    frame, _ = _data(20, seed=3)
    said = explainer_for(model, top=10).explain(frame)
    totals = [e["base"] + sum(t["contribution"] for t in e["top"]) for e in said]
    np.testing.assert_allclose(totals, model.pipeline.predict(frame), atol=1e-3)
    assert said[0]["top"][0]["column"] in ("egt_c", "vibration_ips", "cycles")


def test_models_without_exact_contributions_have_no_explainer():
    from sklearn.ensemble import RandomForestRegressor

    assert explainer_for(_model(RandomForestRegressor(n_estimators=3))) is None
