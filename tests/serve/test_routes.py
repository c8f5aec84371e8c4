"""The routes beside /predict: MLflow's /invocations, /ready, /model, /metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .models import SCHEMA, raw_rows


def test_invocations_accepts_every_mlflow_format_with_the_same_answer(served):
    client, model = served["binary"].client, served["binary"].model
    rows = raw_rows(6, seed=4)
    names = SCHEMA.names
    bodies = {
        "dataframe_records": {"dataframe_records": rows},
        "dataframe_split": {"dataframe_split": {
            "columns": names, "data": [[r[n] for n in names] for r in rows]}},
        "instances": {"instances": rows},
        "inputs records": {"inputs": rows, "params": {"ignored": True}},
        "inputs columns": {"inputs": {n: [r[n] for r in rows] for n in names}},
        "instances positional": {"instances": [[r[n] for n in names] for r in rows]},
    }
    frame = SCHEMA.model_frame(pd.DataFrame(rows))
    expected = model.pipeline.predict(frame).tolist()
    for name, body in bodies.items():
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, (name, response.text)
        assert response.json() == {"predictions": expected}, name


@pytest.mark.parametrize(("body", "message"), [
    ([{"age": 1}], "a JSON object with one of the keys"),
    ({"records": []}, "needs exactly one of dataframe_split"),
    ({"instances": [], "inputs": []}, "got 2 of them"),
    ({"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}},
     "dataframe_split.data[0] must be a list of 1 values"),
    ({"inputs": {"age": [1, 2], "income": [3]}}, "different lengths"),
    ({"instances": [[1, 2]]}, "row 0 is a list of 2 values; a positional row needs 5"),
    ({"dataframe_records": [{"age": 1}]}, "missing columns 'income'"),
    ({"instances": []}, "empty list"),
])
def test_invocations_refuses_bad_bodies_with_a_reason(served, body, message):
    response = served["binary"].client.post("/invocations", json=body)
    assert response.status_code == 422, response.text
    said = response.json()  # MLflow's error shape: its clients read error_code and message
    assert said["error_code"] == "INVALID_PARAMETER_VALUE" and message in said["message"]


def test_ready_and_model_describe_the_served_version(served):
    client, model = served["multiclass"].client, served["multiclass"].model
    assert client.get("/ready").json() == {"status": "ready",
                                           "model": {"name": "tier", "version": "3"}}
    info = client.get("/model").json()
    assert info["name"] == "tier" and info["version"] == "3"
    assert info["inputs"] == [{"name": c.name, "kind": c.kind} for c in SCHEMA.columns]
    assert info["classes"] == [c.item() for c in model.pipeline.classes_]
    # These test models were never registered, so no ONNX form exists: the note says so.
    assert info["serving"]["path"] == "python"
    assert "no ONNX form" in info["serving"]["note"]
    assert info["history"][-1]["version"] == "3"


def _sample(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus' text format."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    key = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{key} not in the metrics")


def test_metrics_count_requests_rows_and_errors(served):
    client = served["regression"].client
    before = client.get("/metrics").text
    ok_before = _sample_or_zero(before, "shipyard_requests_total", route="predict", status="200")
    bad_before = _sample_or_zero(before, "shipyard_requests_total", route="predict", status="422")
    rows_before = _sample_or_zero(before, "shipyard_rows_scored_total")
    for _ in range(3):
        assert client.post("/predict", json=raw_rows(4, seed=9)).status_code == 200
    assert client.post("/predict", json={"age": 1}).status_code == 422
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert _sample(text, "shipyard_requests_total", route="predict", status="200") == ok_before + 3
    assert _sample(text, "shipyard_requests_total", route="predict", status="422") == bad_before + 1
    assert _sample(text, "shipyard_rows_scored_total") == rows_before + 12
    assert _sample(text, "shipyard_model_version") == 3
    assert _sample(text, "shipyard_request_seconds_count", route="predict") >= 4
    assert np.isfinite(_sample(text, "shipyard_batch_rows_sum"))


def _sample_or_zero(text: str, name: str, **labels) -> float:
    try:
        return _sample(text, name, **labels)
    except AssertionError:
        return 0.0


def test_admin_reload_needs_a_key_that_this_server_does_not_have(served):
    response = served["regression"].client.post("/admin/reload")
    assert response.status_code == 403
    assert "no admin key configured" in response.json()["error"]
