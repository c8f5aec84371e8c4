"""How MLflow's own tools run a Shipyard model: ``mlflow.pyfunc.load_model``,
``mlflow models serve`` and ``mlflow.pyfunc.spark_udf`` all go through this module.

A registered version keeps MLflow's scikit-learn flavour (``mlflow.sklearn.load_model``
gives the fitted pipeline), but its ``python_function`` flavour names this module as
its loader. MLflow's own loader would hand the client's frame to the pipeline as it
is, and the pipeline takes the columns converted by ``Schema.model_frame`` (numbers
as float64, missing text as ""). Here they are converted first, and each row's answer
is the one Shipyard's ``POST /invocations`` gives: the value for regression, the
label (after the tuned threshold) for classification, flagged or not for anomaly
detection.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from shipyard.card import ModelCard
from shipyard.serve.predict import frame_items

LOADER = __name__


class ShipyardPyfunc:
    """The object ``mlflow.pyfunc.load_model`` wraps: ``predict(frame)`` answers."""

    def __init__(self, pipeline, card: ModelCard) -> None:
        self.pipeline, self.card = pipeline, card

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> list:
        """One prediction per row of ``model_input`` (a frame, or anything
        ``pandas.DataFrame`` takes); columns beyond the schema's are ignored."""
        frame = model_input if isinstance(model_input, pd.DataFrame) \
            else pd.DataFrame(model_input)
        return [item["prediction"] for item in frame_items(self.pipeline, self.card, frame)]


def _load_pyfunc(path: str) -> ShipyardPyfunc:
    """MLflow's entry point: ``path`` is the model's folder or its pickle file."""
    import mlflow.sklearn
    from mlflow.models import Model

    folder = os.path.dirname(path) if os.path.isfile(path) else path
    meta = Model.load(os.path.join(folder, "MLmodel")).metadata or {}
    return ShipyardPyfunc(mlflow.sklearn.load_model(folder),
                          ModelCard.from_dict(meta["shipyard"]))
