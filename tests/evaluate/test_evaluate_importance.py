"""Permutation importance of the raw input columns."""

import lightgbm
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.evaluate import evaluate


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"signal": rng.normal(size=n), "weak": rng.normal(size=n),
                         "noise": rng.normal(size=n)}), rng


def test_regression_ranks_signal_over_noise():
    X, rng = _frame(800, 10)
    y = 5 * X["signal"] + 1 * X["weak"] + rng.normal(0, 0.5, 800)
    model = Ridge().fit(X[:400], y[:400])
    e = evaluate(model, X[400:], y[400:], task="regression", importance=True, seed=3)
    names = [name for name, _, _ in e.importance]
    assert names == ["signal", "weak", "noise"]
    scores = {name: (mean, std) for name, mean, std in e.importance}
    # shuffling the signal raises RMSE by several units; shuffling noise by almost nothing
    assert scores["signal"][0] > 3 and abs(scores["noise"][0]) < 0.05
    assert all(std >= 0 for _, std in scores.values())
    again = evaluate(model, X[400:], y[400:], task="regression", importance=True, seed=3)
    assert again.importance == e.importance  # seeded


def test_binary_lightgbm_ranks_signal_over_noise():
    X, rng = _frame(1000, 11)
    y = np.where(X["signal"] + rng.normal(0, 0.5, 1000) > 0.5, "fail", "ok")
    model = lightgbm.LGBMClassifier(n_estimators=40, n_jobs=1, verbose=-1, random_state=0)
    model.fit(X[:500], y[:500])
    e = evaluate(model, X[500:], y[500:], task="binary", positive="fail", importance=True)
    scores = {name: mean for name, mean, _ in e.importance}
    assert e.importance[0][0] == "signal"
    assert scores["signal"] > 0.2 > 0.02 > scores["noise"]  # drops in ROC-AUC


def test_pipeline_is_ranked_on_raw_columns():
    X, rng = _frame(600, 12)
    X["colour"] = rng.choice(["red", "green", "blue"], 600)
    y = np.where((X["colour"] == "red") ^ (rng.uniform(size=600) < 0.1), "a", np.where(
        X["signal"] > 0, "b", "c"))
    encode = make_column_transformer((OneHotEncoder(), ["colour"]),
                                     remainder=StandardScaler())
    model = make_pipeline(encode, LogisticRegression()).fit(X[:300], y[:300])
    e = evaluate(model, X[300:], y[300:], task="multiclass", importance=True)
    assert sorted(name for name, _, _ in e.importance) == ["colour", "noise", "signal", "weak"]
    assert [name for name, _, _ in e.importance[:2]] == ["colour", "signal"]


def test_importance_is_off_unless_asked():
    X, rng = _frame(200, 13)
    y = X["signal"] + rng.normal(0, 0.1, 200)
    assert evaluate(Ridge().fit(X, y), X, y, task="regression").importance is None


def test_columns_scored_in_threads_give_what_one_thread_gives(monkeypatch):
    from shipyard.evaluate import importance

    X, rng = _frame(600, 12)
    y = 2 * X["signal"] + rng.normal(0, 0.5, 600)
    model = Ridge().fit(X[:300], y[:300])
    threaded = importance.permutation(model, X[300:], y[300:], task="regression", seed=5)
    monkeypatch.setattr(importance, "MAX_THREADS", 1)
    alone = importance.permutation(model, X[300:], y[300:], task="regression", seed=5)
    assert threaded == alone
