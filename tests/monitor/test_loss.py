"""Direct loss estimation: a regression's RMSE and MAE estimated without labels,
from an error model learnt on the reference holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.monitor.loss import LossEstimator, inputs_of
from shipyard.schema import Column, Schema


def _rows(n: int, low: float, high: float, seed: int):
    """A model whose error grows with ``load`` and is larger on the 'worn' type."""
    rng = np.random.default_rng(seed)
    load = rng.uniform(low, high, n)
    kind = rng.choice(["new", "worn"], n, p=[0.7, 0.3]).astype(object)
    predicted = rng.normal(50, 10, n)
    scale = 1 + 8 * load + np.where(kind == "worn", 4, 0)
    truth = predicted + rng.normal(0, 1, n) * scale
    return pd.DataFrame({"load": load, "kind": kind}), predicted, truth


def _actual(predicted, truth) -> dict[str, float]:
    error = truth - predicted
    return {"rmse": float(np.sqrt(np.mean(error ** 2))), "mae": float(np.mean(np.abs(error)))}


def test_a_window_of_harder_rows_gets_a_higher_estimate_close_to_the_truth():
    inputs, predicted, truth = _rows(5000, 0, 1, seed=0)
    fitted = LossEstimator.fit(inputs, predicted, truth)
    assert fitted.reference == pytest.approx(_actual(predicted, truth))
    for low, high, seed in ((0, 1, 1), (0.7, 1, 2), (0, 0.3, 3)):
        window, said, real = _rows(2000, low, high, seed)
        estimated, actual = fitted.estimate(window, said), _actual(said, real)
        for metric in ("rmse", "mae"):
            assert estimated[metric] == pytest.approx(actual[metric], rel=0.1), (low, metric)
    hard = fitted.estimate(*_rows(2000, 0.7, 1, 4)[:2])["rmse"]
    easy = fitted.estimate(*_rows(2000, 0, 0.3, 5)[:2])["rmse"]
    assert hard > 1.8 * easy


def test_unseen_categories_and_missing_predictions_are_handled():
    inputs, predicted, truth = _rows(2000, 0, 1, seed=0)
    fitted = LossEstimator.fit(inputs, predicted, truth)
    window, said, _ = _rows(300, 0, 1, seed=1)
    window["kind"] = "unseen"
    said = said.astype(object)
    said[:10] = None
    got = fitted.estimate(window, said)
    assert set(got) == {"rmse", "mae"} and all(np.isfinite(v) for v in got.values())
    assert all(np.isnan(v) for v in fitted.estimate(window.head(0), []).values())


def test_too_few_labels_give_no_estimator():
    inputs, predicted, truth = _rows(500, 0, 1, seed=0)
    truth = truth.astype(object)
    truth[50:] = None
    assert LossEstimator.fit(inputs, predicted, truth) is None


def test_the_entity_and_dates_are_not_inputs_of_the_error():
    schema = Schema((Column("engine_id", "integer"), Column("t", "datetime"),
                     Column("egt", "number")))
    frame = pd.DataFrame({"engine_id": [1], "t": [pd.Timestamp("2030-01-01")], "egt": [1.0]})
    assert list(inputs_of(frame, schema, "engine_id").columns) == ["egt"]
