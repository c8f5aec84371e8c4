"""The ``prepare`` section as one scikit-learn ``ColumnTransformer``.

Numeric columns are grouped by imputation strategy (the default, or a per-column
override), one pipeline per group: clip outliers, impute, scale. Text columns
are imputed, then encoded by a one-hot, ordinal or target encoder chosen by
how many distinct values each column has. Optional missing indicators come
from a branch of their own, so clipping and scaling never touch them.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers it)
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from shipyard.errors import DataError, did_you_mean
from shipyard.metrics import ANOMALY, BINARY, REGRESSION, TASKS
from shipyard.prepare.outliers import Clipper
from shipyard.schema import MISSING_TEXT, Schema
from shipyard.spec.options import Prepare

MISSING_CATEGORY = "(missing)"
SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}
# These impute from other columns, so those columns must be on one scale first.
IMPUTE_AFTER_SCALING = ("knn", "iterative")


def build(schema: Schema, spec: Prepare, task: str, seed: int,
          cardinality: dict[str, int]) -> ColumnTransformer:
    """The preprocessing ``ColumnTransformer`` for ``schema``'s columns.

    ``cardinality`` is the number of distinct values of each text column on the
    training rows. Output is a dense float matrix whose feature names are the
    column names (numbers, ordinal and binary/continuous target codes), ``col_value``
    (one-hot), ``col_class`` (multiclass target codes) and ``missingindicator_col``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    strategies = _numeric_strategies(schema, spec)
    steps = []
    for strategy in dict.fromkeys(strategies.values()):
        columns = [c for c in schema.numeric if strategies[c] == strategy]
        steps.append((f"numeric_{strategy}", _numeric(spec, strategy, seed), columns))
    encoders = _text_encoders(schema, spec, cardinality)
    for encoder in dict.fromkeys(encoders.values()):
        columns = [c for c in schema.text if encoders[c] == encoder]
        steps.append((f"text_{encoder}", _text(spec, encoder, task, seed), columns))
    if spec.impute.indicators:
        steps.extend(_indicators(schema, spec))
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0,
                             verbose_feature_names_out=False)


def _numeric_strategies(schema: Schema, spec: Prepare) -> dict[str, str]:
    for name in spec.impute.columns:
        key = f"prepare.impute.columns.{name}"
        if name not in schema.names:
            raise DataError(f"{key}: '{name}' is not a feature column"
                            f"{did_you_mean(name, schema.numeric)}",
                            details=[f"numeric features: {', '.join(schema.numeric) or '(none)'}"])
        if name not in schema.numeric:
            raise DataError(f"{key}: '{name}' is a text column; per-column strategies are for "
                            "numeric columns", hint="set prepare.impute.text for text columns")
    return {c: spec.impute.columns.get(c, spec.impute.numeric) for c in schema.numeric}


def _numeric(spec: Prepare, strategy: str, seed: int) -> Pipeline:
    steps = []
    if spec.outliers.action == "clip":
        # Before imputation: fences come from observed values, and a mean or a
        # neighbour is not pulled by the extremes.
        o = spec.outliers
        steps.append(("clip", Clipper(rule=o.rule, iqr=o.iqr, quantiles=tuple(o.quantiles))))
    impute = ("impute", _numeric_imputer(spec, strategy, seed))
    scale = [("scale", SCALERS[spec.scale]())] if spec.scale in SCALERS else []
    # Scalers ignore NaN when fitting and keep it when transforming.
    steps += [*scale, impute] if strategy in IMPUTE_AFTER_SCALING else [impute, *scale]
    return Pipeline(steps)


def _numeric_imputer(spec: Prepare, strategy: str, seed: int):
    # keep_empty_features: a column without values in a training fold stays (and is
    # then constant) rather than vanishing with a warning and shifting the others.
    if strategy == "knn":
        return KNNImputer(keep_empty_features=True)
    if strategy == "iterative":
        # Not keep_empty_features: in scikit-learn 1.9 it writes into its input, which
        # fails on the read-only arrays pandas 3 hands out.
        return IterativeImputer(random_state=seed)
    if strategy == "constant":
        return SimpleImputer(strategy="constant", fill_value=spec.impute.fill_value,
                             keep_empty_features=True)
    return SimpleImputer(strategy=strategy, keep_empty_features=True)


def _text_encoders(schema: Schema, spec: Prepare, cardinality: dict[str, int]) -> dict[str, str]:
    missing = [c for c in schema.text if c not in cardinality]
    if missing:
        raise ValueError(f"cardinality has no count for text columns {missing}")
    encode = spec.encode
    return {c: encode.text if cardinality[c] <= encode.max_onehot else encode.high_cardinality
            for c in schema.text}


def _text(spec: Prepare, encoder: str, task: str, seed: int) -> Pipeline:
    if spec.impute.text == "constant":
        impute = SimpleImputer(missing_values=MISSING_TEXT, strategy="constant",
                               fill_value=MISSING_CATEGORY)
    else:
        impute = SimpleImputer(missing_values=MISSING_TEXT, strategy="most_frequent")
    return Pipeline([("impute", impute), ("encode", _encoder(encoder, task, seed))])


def _encoder(name: str, task: str, seed: int):
    if name == "onehot":
        # Unseen values at prediction time encode as all zeros instead of failing.
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if name == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                              encoded_missing_value=-1)
    if task == ANOMALY:
        # an anomaly detector learns from features alone, never from the labels
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                              encoded_missing_value=-1)
    if task == REGRESSION:
        target_type, folds = "continuous", KFold(5, shuffle=True, random_state=seed)
    else:
        target_type = "binary" if task == BINARY else "multiclass"
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    # fit_transform cross-fits: each training row is encoded by the other folds' means.
    return TargetEncoder(target_type=target_type, cv=folds)


def _indicators(schema: Schema, spec: Prepare) -> list[tuple]:
    # Only columns with gaps in the training rows get one; gaps that first appear
    # at prediction time must not fail.
    steps = []
    if schema.numeric:
        steps.append(("missing_numeric",
                      MissingIndicator(features="missing-only", error_on_new=False),
                      schema.numeric))
    # Constant imputation already keeps "(missing)" as a category of its own.
    if schema.text and spec.impute.text == "most_frequent":
        steps.append(("missing_text",
                      MissingIndicator(missing_values=MISSING_TEXT, features="missing-only",
                                       error_on_new=False),
                      schema.text))
    return steps
