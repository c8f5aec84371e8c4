"""MLflow's own loader on Shipyard's registered models: ``mlflow.pyfunc.load_model``
then ``predict`` on the run's snapshot, as it was extracted, for the Telco and Adult
examples (smaller models, the same data and schema)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model

from shipyard import registry, spec
from shipyard.lifecycle import run_project

DATA = Path(os.environ.get("SHIPYARD_DATA", Path(__file__).parents[3] / "shared" / "data"))
assert DATA.is_dir(), f"the shared datasets are not at {DATA}: set SHIPYARD_DATA"
EXAMPLES = Path(__file__).parents[2] / "examples"

SMALL = """\
extends: {parent}
name: {name}
target: {target}
task: binary
positive_class: "{positive}"
models:
  - name: lightgbm
    params: {{n_estimators: 60}}
metric: roc_auc
"""


@pytest.fixture(scope="module", params=[("telco", "Churn", "Yes"), ("adult", "income", ">50K")])
def registered(request, tmp_path_factory):
    example, target, positive = request.param
    folder = tmp_path_factory.mktemp(example)
    (folder / "shipyard.yaml").write_text(SMALL.format(
        parent=EXAMPLES / example / "shipyard.yaml", name=f"{example}-small", target=target,
        positive=positive))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_DATA", str(DATA))
        outcome = run_project(spec.load(folder / "shipyard.yaml"))
    assert outcome.version == "1"
    return outcome


def test_mlflow_loads_the_model_and_predicts_on_the_snapshot(registered):
    ws, name = registered.workspace, registered.card.name
    mlflow.set_tracking_uri(ws.tracking_uri)
    rows = registered.snapshot.frame()
    assert (rows.dtypes == "int64").any()  # integer columns, as in the failure
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    answers = model.predict(rows)  # every column of the snapshot, target and id included

    champion = registry.load(ws, name)
    card = champion.card
    proba = champion.pipeline.predict_proba(card.schema.model_frame(rows))
    positive = list(card.classes).index(card.positive_class)
    cut = 0.5 if card.threshold is None else card.threshold
    expected = np.where(proba[:, positive] >= cut, card.classes[positive],
                        card.classes[1 - positive])
    assert list(answers) == list(expected)
    assert 0.1 < np.mean(np.asarray(answers) == card.positive_class) < 0.5


def test_the_signature_keeps_the_snapshots_types_and_an_example_is_logged(registered):
    ws, name = registered.workspace, registered.card.name
    mlflow.set_tracking_uri(ws.tracking_uri)
    info = Model.load(f"models:/{name}/1")
    declared = {c.name: c.type.name for c in info.signature.inputs.inputs}
    rows = registered.snapshot.frame()
    for column, kind in declared.items():
        dtype = rows[column].dtype
        if pd.api.types.is_integer_dtype(dtype):
            assert kind == "long", column
        elif pd.api.types.is_float_dtype(dtype):
            assert kind == "double", column
        else:
            assert kind == "string", column
    assert info.saved_input_example_info is not None
    example = mlflow.pyfunc.load_model(f"models:/{name}/1").input_example
    assert list(example.columns) == list(declared) and len(example) == 5
    # Shipyard's own loader still reads the scikit-learn flavour
    assert hasattr(mlflow.sklearn.load_model(f"models:/{name}/1"), "predict_proba")
