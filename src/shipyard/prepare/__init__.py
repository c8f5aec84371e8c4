"""From a snapshot's rows to what a model learns from.

:func:`dataset` picks the feature columns (the project's ``features``, or every
column but the target, entity and time), converts them to the model-input
contract of :mod:`shipyard.schema`, sets aside rows without a target and
checks that the target fits the task. :func:`preprocessor` builds the
scikit-learn ``ColumnTransformer`` that goes inside the served pipeline, so the
model takes raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.errors import DataError
from shipyard.metrics import BINARY, REGRESSION
from shipyard.schema import MISSING_TEXT, Column, Schema, kind_of
from shipyard.spec import Project

MISSING_CATEGORY = "(missing)"


@dataclass(frozen=True)
class Dataset:
    X: pd.DataFrame  # feature columns in the model-input contract
    y: np.ndarray
    schema: Schema
    groups: np.ndarray | None = None  # the entity of each row
    times: np.ndarray | None = None  # the time of each row
    classes: tuple = ()
    positive: Any = None
    set_aside: int = 0  # rows without a target value
    notes: list[str] = field(default_factory=list)  # columns not used, and why

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows: np.ndarray) -> Dataset:
        return replace(self, X=self.X.iloc[rows].reset_index(drop=True), y=self.y[rows],
                       groups=None if self.groups is None else self.groups[rows],
                       times=None if self.times is None else self.times[rows])


def dataset(frame: pd.DataFrame, project: Project) -> Dataset:
    labelled = frame[project.target].notna().to_numpy()
    rows = frame.loc[labelled].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"The target '{project.target}' has no values: every row is missing it")
    schema, notes = _features(rows, project)
    y, classes, positive = _target(rows[project.target], project)
    return Dataset(
        X=schema.model_frame(rows), y=y, schema=schema,
        groups=rows[project.entity].to_numpy() if project.entity else None,
        times=rows[project.time].to_numpy() if project.time else None,
        classes=classes, positive=positive, set_aside=int((~labelled).sum()), notes=notes)


def preprocessor(schema: Schema) -> ColumnTransformer:
    """Impute and scale numbers; impute and one-hot encode text (unknown values
    at prediction time encode as all zeros instead of failing)."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler())])
    text = Pipeline([("impute", SimpleImputer(missing_values=MISSING_TEXT, strategy="constant",
                                              fill_value=MISSING_CATEGORY)),
                     ("encode", OneHotEncoder(handle_unknown="ignore"))])
    return ColumnTransformer([("numeric", numeric, schema.numeric), ("text", text, schema.text)],
                             remainder="drop", verbose_feature_names_out=False,
                             sparse_threshold=0)  # dense: every estimator (and ONNX) takes it


def _features(frame: pd.DataFrame, project: Project) -> tuple[Schema, list[str]]:
    if project.features.include:
        names = list(project.features.include)
    else:
        roles = {project.target, project.entity, project.time}
        names = [c for c in frame.columns if c not in roles]
    names = [c for c in names if c not in set(project.features.exclude)]
    columns, notes = [], []
    for name in names:
        kind = kind_of(frame[name])
        if frame[name].isna().all():
            notes.append(f"'{name}' is not used: it has no values")
        elif kind is None:
            notes.append(f"'{name}' is not used: its type ({frame[name].dtype}) is not a "
                         "number or text")
        else:
            columns.append(Column(name, kind))
    if not columns:
        raise DataError("No usable feature columns", details=notes,
                        hint="select numeric or text columns in source.query or features.include")
    return Schema(tuple(columns)), notes


def _target(values: pd.Series, project: Project) -> tuple[np.ndarray, tuple, Any]:
    name = project.target
    if project.task == REGRESSION:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = values[numbers.isna()].iloc[0]
            raise DataError(f"The target '{name}' must be numeric for a regression task; "
                            f"found {bad!r}", hint="use task: binary or multiclass for labels")
        return numbers.to_numpy(dtype=float), (), None
    y = values.to_numpy()
    classes = tuple(sorted(pd.unique(values).tolist()))
    if len(classes) < 2:
        raise DataError(f"The target '{name}' has a single class ({classes[0]!r}); a classifier "
                        "needs at least two", hint="check the query's filters and the labels")
    if project.task == BINARY and len(classes) > 2:
        raise DataError(f"The target '{name}' has {len(classes)} classes; a binary task needs "
                        f"exactly two", details=[f"classes: {_few(classes)}"],
                        hint="use task: multiclass")
    positive = None
    if project.task == BINARY:
        positive = classes[-1] if project.positive_class is None else project.positive_class
        if positive not in classes:
            raise DataError(f"positive_class {positive!r} is not a class of '{name}'",
                            details=[f"classes: {_few(classes)}"])
    return y, classes, positive


def _few(values, n: int = 10) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:n])
    return shown + (", ..." if len(values) > n else "")
