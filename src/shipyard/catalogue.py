"""The models a project file can name, found through a table of dotted paths.

A name maps to one estimator class per task, imported only when used, so the
table costs nothing to load. Any scikit-learn-compatible estimator works too:
write its dotted path (``mypackage.models.MyRegressor``) as the model name.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import did_you_mean
from shipyard.metrics import REGRESSION


@dataclass(frozen=True)
class Entry:
    regressor: str
    classifier: str
    defaults: dict[str, Any] = field(default_factory=dict)

    def path(self, task: str) -> str:
        return self.regressor if task == REGRESSION else self.classifier


MODELS: dict[str, Entry] = {
    "linear": Entry("sklearn.linear_model.Ridge", "sklearn.linear_model.LogisticRegression",
                    {"classifier": {"max_iter": 2000}}),
    "decision_tree": Entry("sklearn.tree.DecisionTreeRegressor",
                           "sklearn.tree.DecisionTreeClassifier", {"min_samples_leaf": 5}),
    "random_forest": Entry("sklearn.ensemble.RandomForestRegressor",
                           "sklearn.ensemble.RandomForestClassifier",
                           {"n_estimators": 100, "min_samples_leaf": 3, "max_samples": 0.5,
                            "n_jobs": -1}),
    "extra_trees": Entry("sklearn.ensemble.ExtraTreesRegressor",
                         "sklearn.ensemble.ExtraTreesClassifier",
                         {"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": -1}),
    "hist_gradient_boosting": Entry("sklearn.ensemble.HistGradientBoostingRegressor",
                                    "sklearn.ensemble.HistGradientBoostingClassifier"),
    # One thread: LightGBM's OpenMP threads spin-wait, and on a small, busy machine
    # that made a 30-tree fit 80x slower than one thread. Set n_jobs to use more.
    "lightgbm": Entry("lightgbm.LGBMRegressor", "lightgbm.LGBMClassifier",
                      {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
                       "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
                       "n_jobs": 1, "verbose": -1}),
    "knn": Entry("sklearn.neighbors.KNeighborsRegressor",
                 "sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 15}),
}

_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


class UnknownModel(LookupError):
    """The name is neither in the catalogue nor an importable estimator class."""


def is_dotted(name: str) -> bool:
    return bool(_DOTTED.match(name))


def estimator_class(name: str, task: str) -> type:
    """The estimator class that ``name`` means for ``task``."""
    if name in MODELS:
        path = MODELS[name].path(task)
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
