"""The models a project file can name, found through a table of dotted paths.

A name maps to one estimator class per task, imported only when used, so the
table costs nothing to load. Any scikit-learn-compatible estimator works too:
write its dotted path (``mypackage.models.MyRegressor``) as the model name.

Anomaly detectors (``task: anomaly``) are a role of their own: they fit on
features only and score rows with ``score_samples``; only they fit that task.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import did_you_mean
from shipyard.metrics import ANOMALY, REGRESSION


@dataclass(frozen=True)
class Entry:
    regressor: str | None
    classifier: str | None
    defaults: dict[str, Any] = field(default_factory=dict)
    # Default search space, as the project file would write it ({low, high, log} or a
    # list of choices); keys "regressor"/"classifier" hold role-specific parts.
    space: dict[str, Any] = field(default_factory=dict)
    detector: str | None = None  # the anomaly detector, for task: anomaly

    def path(self, task: str) -> str | None:
        if task == ANOMALY:
            return self.detector
        return self.regressor if task == REGRESSION else self.classifier


def _log(low, high) -> dict:
    return {"low": low, "high": high, "log": True}


def _lin(low, high) -> dict:
    return {"low": low, "high": high}


_TREES = {"max_features": _lin(0.2, 1.0), "min_samples_leaf": _log(1, 30),
          "n_estimators": _lin(100, 400)}

MODELS: dict[str, Entry] = {
    "linear": Entry("sklearn.linear_model.Ridge", "sklearn.linear_model.LogisticRegression",
                    {"classifier": {"max_iter": 2000}},
                    {"regressor": {"alpha": _log(1e-3, 1e3)},
                     "classifier": {"C": _log(1e-3, 1e3)}}),
    "decision_tree": Entry("sklearn.tree.DecisionTreeRegressor",
                           "sklearn.tree.DecisionTreeClassifier", {"min_samples_leaf": 5},
                           {"max_depth": _lin(2, 20), "min_samples_leaf": _log(1, 100)}),
    "random_forest": Entry("sklearn.ensemble.RandomForestRegressor",
                           "sklearn.ensemble.RandomForestClassifier",
                           {"n_estimators": 100, "min_samples_leaf": 3, "max_samples": 0.5,
                            "n_jobs": -1}, _TREES),
    "extra_trees": Entry("sklearn.ensemble.ExtraTreesRegressor",
                         "sklearn.ensemble.ExtraTreesClassifier",
                         {"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": -1}, _TREES),
    "hist_gradient_boosting": Entry(
        "sklearn.ensemble.HistGradientBoostingRegressor",
        "sklearn.ensemble.HistGradientBoostingClassifier", {},
        {"learning_rate": _log(0.01, 0.3), "max_leaf_nodes": _log(8, 128),
         "min_samples_leaf": _log(5, 200), "l2_regularization": _log(1e-6, 10.0)}),
    # One thread: LightGBM's OpenMP threads spin-wait, and on a small, busy machine
    # that made a 30-tree fit 80x slower than one thread. Set n_jobs to use more.
    "lightgbm": Entry("lightgbm.LGBMRegressor", "lightgbm.LGBMClassifier",
                      {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
                       "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
                       "n_jobs": 1, "verbose": -1},
                      # Bounded for cost: a trial of 1,000 trees at 0.02 with 128 leaves
                      # learns about as much as slower corners of the space would.
                      {"learning_rate": _log(0.02, 0.2), "num_leaves": _log(8, 128),
                       "min_child_samples": _log(5, 200), "subsample": _lin(0.5, 1.0),
                       "colsample_bytree": _lin(0.3, 1.0), "reg_lambda": _log(1e-3, 30.0),
                       "n_estimators": _log(100, 1000)}),
    "xgboost": Entry("xgboost.XGBRegressor", "shipyard.train.estimators.LabelledXGBClassifier",
                     {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 6,
                      "subsample": 0.8, "colsample_bytree": 0.8, "n_jobs": 1,
                      "tree_method": "hist"},
                     {"learning_rate": _log(0.01, 0.2), "max_depth": _lin(2, 10),
                      "min_child_weight": _log(1, 50), "subsample": _lin(0.5, 1.0),
                      "colsample_bytree": _lin(0.3, 1.0), "reg_lambda": _log(1e-3, 30.0),
                      "n_estimators": _log(100, 1500)}),
    "svm": Entry("sklearn.svm.SVR", "sklearn.svm.SVC", {"classifier": {"probability": True}},
                 {"C": _log(1e-2, 1e3), "gamma": _log(1e-4, 1.0)}),
    "mlp": Entry("sklearn.neural_network.MLPRegressor", "sklearn.neural_network.MLPClassifier",
                 {"hidden_layer_sizes": (64, 32), "early_stopping": True, "max_iter": 500},
                 {"alpha": _log(1e-6, 1e-1), "learning_rate_init": _log(1e-4, 1e-2)}),
    "naive_bayes": Entry(None, "sklearn.naive_bayes.GaussianNB", {},
                         {"var_smoothing": _log(1e-12, 1e-3)}),
    "knn": Entry("sklearn.neighbors.KNeighborsRegressor",
                 "sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 15},
                 {"n_neighbors": _log(3, 200), "weights": ["uniform", "distance"]}),
    "isolation_forest": Entry(None, None, {"n_estimators": 200},
                              {"n_estimators": _lin(50, 400), "max_samples": _lin(0.1, 1.0),
                               "max_features": _lin(0.3, 1.0)},
                              detector="sklearn.ensemble.IsolationForest"),
    # novelty=True: fitted once, it scores new rows (the default only scores its own)
    "local_outlier_factor": Entry(None, None, {"novelty": True, "n_neighbors": 20},
                                  {"n_neighbors": _log(5, 200)},
                                  detector="sklearn.neighbors.LocalOutlierFactor"),
}
DETECTORS = tuple(name for name, entry in MODELS.items() if entry.detector)
# What a project file without `models` gets: a linear baseline and gradient boosting,
# each tuned over its default space (an anomaly task: a forest, as it comes, since
# without labels nothing can tune it).
_TUNED = ({"name": "linear", "search": "auto"}, {"name": "lightgbm", "search": "auto"})
DEFAULT_MODELS = {"regression": _TUNED, "binary": _TUNED, "multiclass": _TUNED,
                  "anomaly": ({"name": "isolation_forest"},)}
# Names people write for the linear classifier (LogisticRegression): a classification
# project reads them as "linear".
CLASSIFIER_ALIASES = {"logistic": "linear", "logistic_regression": "linear"}


def canonical(name: str, task: str) -> str:
    """The catalogue name ``name`` stands for on ``task``."""
    return CLASSIFIER_ALIASES.get(name, name) if task in ("binary", "multiclass") else name


def default_space(name: str, task: str) -> dict[str, Any]:
    """The catalogue's search space for ``name`` on ``task`` ({} when it has none)."""
    entry = MODELS.get(name)
    if entry is None:
        return {}
    role = "regressor" if task == REGRESSION else "classifier"
    shared = {k: v for k, v in entry.space.items() if k not in ("regressor", "classifier")}
    return {**shared, **entry.space.get(role, {})}


_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


class UnknownModel(LookupError):
    """The name is neither in the catalogue nor an importable estimator class."""


def is_dotted(name: str) -> bool:
    return bool(_DOTTED.match(name))


def estimator_class(name: str, task: str) -> type:
    """The estimator class that ``name`` means for ``task``."""
    name = canonical(name, task)
    if name in CLASSIFIER_ALIASES:
        raise UnknownModel(f"'{name}' is the linear classifier (LogisticRegression), for "
                           f"binary and multiclass tasks; this task is {task}: "
                           + ("use 'linear' (Ridge)" if task == REGRESSION else
                              f"use {' or '.join(DETECTORS)}"))
    if name in MODELS:
        path = MODELS[name].path(task)
        if path is None and task == ANOMALY:
            raise UnknownModel(f"'{name}' is not an anomaly detector; a task: anomaly uses "
                               f"{' or '.join(DETECTORS)} (or the dotted path of one)")
        if path is None and MODELS[name].detector:
            raise UnknownModel(f"'{name}' is an anomaly detector; it needs task: anomaly, "
                               f"this task is {task}")
        if path is None:
            raise UnknownModel(f"'{name}' has no {task} form; choose another model")
    elif is_dotted(name):
        path = name
    else:
        raise UnknownModel(f"unknown model '{name}'{did_you_mean(name, MODELS)}; known models: "
                           f"{', '.join(MODELS)}, or the dotted path of an estimator class")
    module, _, attr = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownModel(f"cannot import '{path}': {exc}") from exc
    if not (inspect.isclass(cls) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise UnknownModel(f"'{path}' is not a scikit-learn-compatible estimator class "
                           "(it needs fit and get_params)")
    if task == ANOMALY and not hasattr(cls, "score_samples"):
        raise UnknownModel(f"'{path}' is not an anomaly detector (it needs score_samples); "
                           f"a task: anomaly uses {' or '.join(DETECTORS)}")
    return cls


def default_params(name: str, task: str) -> dict[str, Any]:
    entry = MODELS.get(name)
    if entry is None:
        return {}
    role = "regressor" if task == REGRESSION else "classifier"
    shared = {k: v for k, v in entry.defaults.items() if k not in ("regressor", "classifier")}
    return {**shared, **entry.defaults.get(role, {})}


def make_estimator(name: str, task: str, params: dict[str, Any], seed: int):
    """A fresh, unfitted estimator: catalogue defaults, then the seed, then ``params``."""
    cls = estimator_class(name, task)
    settings = default_params(name, task)
    if "random_state" in cls().get_params():
        settings["random_state"] = seed
    settings.update(params)
    return cls(**settings)


def check_params(name: str, task: str, params: dict[str, Any]) -> dict[str, str]:
    """Problems with ``params`` for this model, by parameter name ('' when none).

    Unknown names get a did-you-mean; values are checked against the estimator's
    own declared constraints when it has them (scikit-learn's estimators do).
    """
    cls = estimator_class(name, task)
    known = cls().get_params()
    checked = bool(getattr(cls, "_parameter_constraints", None))
    open_ended = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    problems = {}
    for key, value in params.items():
        if key not in known:
            hint = did_you_mean(key, known)
            # Estimators taking **kwargs (LightGBM) accept their native parameters too;
            # for them only a near miss of a known name is reported, as a likely typo.
            if hint or not open_ended:
                problems[key] = f"unknown parameter for {cls.__name__}{hint}"
            continue
        if not checked:
            continue
        try:  # one at a time, so that every bad value is reported, not only the first
            cls(**{key: value})._validate_params()
        except (ValueError, TypeError) as exc:
            problems[key] = _sklearn_message(str(exc))
    return problems


def _sklearn_message(text: str) -> str:
    found = re.search(r"must be (.*?)\. Got (.*) instead\.", text, flags=re.S)
    return f"expected {found.group(1)}, got {found.group(2)}" if found else text
