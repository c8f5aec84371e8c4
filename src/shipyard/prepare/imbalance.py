"""Rare classes: resample the training rows, or weight the classes in the loss.

A sampler goes inside an imblearn ``Pipeline`` after the encoding (SMOTE and
its kin interpolate between numeric rows) and before the model. Samplers act
only when the pipeline is fitted, so in cross-validation only the training
folds are resampled and the validation folds keep their true class mix.
"""

from __future__ import annotations

import inspect

from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE
from imblearn.under_sampling import RandomUnderSampler

from shipyard.errors import DataError
from shipyard.metrics import BINARY, REGRESSION
from shipyard.spec.options import Imbalance

SAMPLERS = {"smote": SMOTE, "borderline_smote": BorderlineSMOTE, "adasyn": ADASYN,
            "undersample": RandomUnderSampler}


def resampler(spec: Imbalance, seed: int, task: str | None = None):
    """The seeded imblearn sampler for ``spec.method``, or None when no rows are
    resampled (``none``; ``class_weight`` is set on the estimator instead).

    ``ratio`` is the minority/majority ratio after resampling (default: balanced).
    With ``task`` given, settings that do not fit it raise :class:`DataError`.
    """
    if task == REGRESSION and spec.method != "none":
        raise DataError(f"prepare.imbalance.method: '{spec.method}' is for classification; "
                        "a regression target has no classes to balance",
                        hint="remove prepare.imbalance")
    if task is not None and task != BINARY and spec.ratio is not None:
        raise DataError("prepare.imbalance.ratio: a ratio applies to binary tasks only",
                        hint="remove it to balance every class")
    if spec.method not in SAMPLERS:
        return None
    strategy = "auto" if spec.ratio is None else spec.ratio
    return SAMPLERS[spec.method](sampling_strategy=strategy, random_state=seed)


def class_weight_param(estimator) -> dict:
    """``{"class_weight": "balanced"}`` when ``estimator`` (an instance or a class)
    takes a ``class_weight`` parameter, else ``{}``."""
    cls = estimator if isinstance(estimator, type) else type(estimator)
    takes = "class_weight" in inspect.signature(cls.__init__).parameters
    return {"class_weight": "balanced"} if takes else {}
