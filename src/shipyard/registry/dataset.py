"""The snapshot as MLflow's record of a run's training data.

MLflow's pandas dataset infers its schema by looking at every value in Python:
7.5 s for the demo's 250,000 rows, on every run. The schema only needs each
column's type and whether it has missing values, so it is inferred here on the
first rows plus, for every column with gaps, one row where it is missing: the
same schema, in milliseconds. The record keeps the whole frame's row count.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.types.utils import _infer_schema

HEAD_ROWS = 2000


def sample_for_schema(frame: pd.DataFrame) -> pd.DataFrame:
    """The first rows and, for each column with missing values, its first missing one."""
    keep = set(range(min(HEAD_ROWS, len(frame))))
    missing = frame.isna().to_numpy()
    for col in np.flatnonzero(missing.any(axis=0)):
        keep.add(int(np.argmax(missing[:, col])))
    return frame.iloc[sorted(keep)]


class SnapshotDataset(PandasDataset):
    """A :class:`PandasDataset` whose schema is inferred on :func:`sample_for_schema`."""

    @cached_property
    def schema(self):
        try:
            return _infer_schema(sample_for_schema(self.df))
        except Exception:  # as MLflow's own: a frame it cannot type gets no schema
            return None
