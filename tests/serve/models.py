"""Small real fitted pipelines, one per task, on a five-column schema of every kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.card import LoadedModel, ModelCard
from shipyard.schema import Column, Schema

SCHEMA = Schema((
    Column("age", "integer"),
    Column("income", "number"),
    Column("member", "boolean"),
    Column("city", "string"),
    Column("plan", "string"),
))
CITIES = ["Paris", "Lyon", "Nice"]


def raw_rows(n: int, seed: int) -> list[dict]:
    """Rows as a client would send them: JSON-native values, None for missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        rows.append({
            "age": int(rng.integers(18, 80)),
            "income": round(float(rng.normal(50, 15)), 3),
            "member": bool(rng.random() < 0.4),
            "city": str(rng.choice(CITIES)),
            "plan": str(rng.choice(["basic", "plus"])),
        })
    for i, name in enumerate(SCHEMA.names * 2):  # a few missing values in every column
        rows[(7 * i + 3) % n][name] = None
    return rows


def score(rows: list[dict]) -> np.ndarray:
    """A signal the models can learn, so the classes are not trivial."""
    frame = SCHEMA.model_frame(pd.DataFrame(rows))
    return (0.05 * frame["age"].fillna(40) + 0.04 * frame["income"].fillna(50)
            + 1.5 * frame["member"].fillna(0) + (frame["city"] == "Paris") * 1.0).to_numpy()


TRAIN_ROWS = raw_rows(240, seed=0)
_SCORE = score(TRAIN_ROWS)


def preprocessor(handle_unknown: str = "ignore") -> ColumnTransformer:
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    text = make_pipeline(
        SimpleImputer(missing_values="", strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown=handle_unknown),
    )
    return ColumnTransformer([("num", numeric, SCHEMA.numeric), ("text", text, SCHEMA.text)])


def fitted(task: str, name: str, estimator, y, handle_unknown: str = "ignore") -> LoadedModel:
    pipeline = Pipeline([("prep", preprocessor(handle_unknown)), ("model", estimator)])
    pipeline.fit(SCHEMA.model_frame(pd.DataFrame(TRAIN_ROWS)), y)
    classes = tuple(getattr(pipeline, "classes_", ()))  # numpy scalars, as fitting leaves them
    card = ModelCard(
        name=name, task=task, target="outcome", schema=SCHEMA, classes=classes,
        positive_class="Yes" if task == "binary" else None,
    ).with_version("3")
    return LoadedModel(pipeline=pipeline, card=card)


def regression_model(handle_unknown: str = "ignore") -> LoadedModel:
    return fitted("regression", "spend", Ridge(alpha=1.0), _SCORE * 10, handle_unknown)


def binary_model() -> LoadedModel:
    labels = np.where(np.median(_SCORE) < _SCORE, "Yes", "No")
    return fitted("binary", "churn", LogisticRegression(max_iter=500), labels)


def multiclass_model() -> LoadedModel:
    labels = np.digitize(_SCORE, np.quantile(_SCORE, [1 / 3, 2 / 3]))  # int64 labels 0, 1, 2
    lgbm = LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1, n_jobs=1)
    return fitted("multiclass", "tier", lgbm, labels)
