"""How far off a regression is before the labels arrive: direct loss estimation
(DLE, as NannyML describes it).

On the reference holdout the error of every row is known. A second model (a
small LightGBM) learns it from what is also known at prediction time: the
row's inputs and the prediction itself. One learns the squared error, one the
absolute error; on a window of unlabelled rows, the estimated RMSE is the root
of the mean predicted squared error and the estimated MAE the mean predicted
absolute error. Where some inputs make the model worse (an engine late in its
life, a rare operating condition), a window with more such rows gets a higher
estimate.

The assumption is the method's: the relation between inputs and label has not
changed, and the window's rows look like rows the reference had (a category
the reference never saw is treated as missing, so its error is estimated as
that of rows without it). The entity and date-time columns are left out: ids
and dates say nothing about the error of new rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

METRICS = ("rmse", "mae")
MIN_ROWS = 100  # labelled reference rows needed to learn the error


@dataclass(frozen=True)
class LossEstimator:
    columns: list[str]  # inputs, then the prediction
    categories: dict[str, list]  # the reference's categories of each text column
    squared: object  # fitted LGBMRegressor of the squared error
    absolute: object  # ... and of the absolute error
    reference: dict[str, float]  # realised on the reference holdout

    @classmethod
    def fit(cls, inputs: pd.DataFrame, predictions, labels, *, seed: int = 0
            ) -> LossEstimator | None:
        """Learn the error from the reference holdout; None with too few labels."""
        truth = pd.to_numeric(pd.Series(np.asarray(labels, dtype=object)), errors="coerce")
        said = pd.to_numeric(pd.Series(np.asarray(predictions, dtype=object)), errors="coerce")
        keep = (truth.notna() & said.notna()).to_numpy()
        if keep.sum() < MIN_ROWS:
            return None
        inputs = inputs.reset_index(drop=True)[keep].reset_index(drop=True)
        said, truth = said[keep].to_numpy(float), truth[keep].to_numpy(float)
        categories = {c: sorted(inputs[c].dropna().astype(str).unique().tolist())
                      for c in inputs.columns if not pd.api.types.is_numeric_dtype(inputs[c])}
        columns = [*inputs.columns, "__prediction__"]
        X = _matrix(inputs, said, categories, columns)
        error = truth - said
        squared = _learner(seed).fit(X, error ** 2)
        absolute = _learner(seed).fit(X, np.abs(error))
        reference = {"rmse": float(np.sqrt(np.mean(error ** 2))),
                     "mae": float(np.mean(np.abs(error)))}
        return cls(columns, categories, squared, absolute, reference)

    def estimate(self, inputs: pd.DataFrame, predictions) -> dict[str, float]:
        """The estimated RMSE and MAE of a window; NaN for an empty one."""
        said = pd.to_numeric(pd.Series(np.asarray(predictions, dtype=object)),
                             errors="coerce").to_numpy(float)
        keep = ~np.isnan(said)
        if not keep.any():
            return {m: math.nan for m in METRICS}
        X = _matrix(inputs.reset_index(drop=True)[keep].reset_index(drop=True), said[keep],
                    self.categories, self.columns)
        squared = np.clip(self.squared.predict(X), 0, None)
        absolute = np.clip(self.absolute.predict(X), 0, None)
        return {"rmse": float(np.sqrt(squared.mean())), "mae": float(absolute.mean())}


def inputs_of(frame: pd.DataFrame, schema, entity: str | None) -> pd.DataFrame:
    """The columns the error is learnt from: the schema's inputs but the entity
    and date-times."""
    names = [c.name for c in schema.columns if c.name != entity and c.kind != "datetime"
             and c.name in frame.columns]
    return frame[names]


def _matrix(inputs: pd.DataFrame, predictions: np.ndarray, categories: dict,
            columns: list[str]) -> pd.DataFrame:
    out = {}
    for name in columns[:-1]:
        values = inputs[name] if name in inputs.columns else pd.Series(np.nan, index=inputs.index)
        if name in categories:
            known = set(categories[name])
            text = [str(v) if v is not None and not (isinstance(v, float) and math.isnan(v))
                    else None for v in values.astype(object)]
            # a category the reference never saw counts as missing
            out[name] = pd.Categorical([v if v in known else None for v in text],
                                       categories=categories[name])
        else:
            out[name] = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    out[columns[-1]] = predictions
    return pd.DataFrame(out)


def _learner(seed: int):
    import lightgbm

    # Small and regularised: the reference holds a few thousand rows, and the error
    # is noisy; a deep model would learn the noise of each row's error.
    return lightgbm.LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31,
                                  min_child_samples=20, subsample=0.8, subsample_freq=1,
                                  colsample_bytree=0.8, random_state=seed, n_jobs=1,
                                  verbose=-1)
