"""The MLflow model a run logs: scikit-learn's flavour for the pipeline, with
``python_function`` loaded through ``shipyard.serve.pyfunc`` so that MLflow's own
tools answer as Shipyard's server does; and a signature with the snapshot's types.

This module is the ``flavor`` handed to ``mlflow.models.Model.log``: it needs a
``save_model`` and a ``__name__``.
"""

from __future__ import annotations

import os
import sys

import pandas as pd

from shipyard.schema import Schema

# A string, not an import: serving sits above the registry.
PYFUNC_LOADER = "shipyard.serve.pyfunc"
_MLFLOW_TYPES = {"integer": "long", "number": "double", "boolean": "boolean",
                 "string": "string", "datetime": "datetime"}


def save_model(path: str, mlflow_model, sk_model, **kwargs) -> None:
    """``mlflow.sklearn.save_model``, then the ``python_function`` loader swapped."""
    import mlflow.sklearn
    from mlflow.models.model import MLMODEL_FILE_NAME

    mlflow.sklearn.save_model(sk_model, path, mlflow_model=mlflow_model, **kwargs)
    mlflow_model.flavors["python_function"]["loader_module"] = PYFUNC_LOADER
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))


def signature(schema: Schema, output):
    """Inputs as the snapshot holds them: an integer column stays ``long`` (a column
    with missing values is float in the snapshot, so ``double``); one output column
    of ``output``'s type (a value, a label or a flag)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec
    from mlflow.types import Schema as MlflowSchema

    inputs = MlflowSchema([ColSpec(_MLFLOW_TYPES[c.kind], c.name) for c in schema.columns])
    kind = "boolean" if isinstance(output, bool) else "long" if isinstance(output, int) \
        else "double" if isinstance(output, float) else "string"
    return ModelSignature(inputs=inputs, outputs=MlflowSchema([ColSpec(kind)]))


def example(schema: Schema, rows: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows as extracted, schema columns only."""
    return rows.loc[:, schema.names].head(n).reset_index(drop=True)


FLAVOR = sys.modules[__name__]
