"""MLflow's own scoring client against a live Shipyard server: readiness through
``/ping``, the version, frames with missing values (which MLflow writes as NaN
tokens), and MLflow's error shape on ``/invocations``."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

from .models import raw_rows


@pytest.fixture
def client(served):
    target = urlsplit(str(served["regression"].client.base_url))
    return ScoringServerClient(target.hostname, target.port)


def test_mlflow_waits_for_the_server_and_reads_its_version(client):
    client.wait_server_ready(timeout=10)
    from importlib.metadata import version

    assert client.get_version() == version("mlflow")


def test_mlflow_invokes_with_missing_values_as_nan(served, client):
    model = served["regression"].model
    rows = raw_rows(20, seed=7)
    frame = pd.DataFrame(rows)
    assert frame.isna().any().any()  # MLflow's client will write NaN tokens for these
    frame["age"] = frame["age"].astype("float64")
    answer = client.invoke(frame)
    expected = model.pipeline.predict(model.card.schema.model_frame(pd.DataFrame(rows)))
    np.testing.assert_allclose(answer.get_predictions().to_numpy().ravel(), expected,
                               rtol=1e-9)
    with_params = client.invoke(frame, params={"ignored": 1})  # params are accepted
    np.testing.assert_allclose(with_params.get_predictions().to_numpy().ravel(), expected,
                               rtol=1e-9)


@pytest.mark.parametrize("body, code, fragment", [
    (b'{"dataframe_records": [{"age": 30, "income": "lots", "member": true, "city": "Nice", '
     b'"plan": "basic"}]}', "INVALID_PARAMETER_VALUE", "column 'income'"),
    (b'{"dataframe_records": [{"age": 30}]}', "INVALID_PARAMETER_VALUE", "missing columns"),
    (b'{"dataframe_records": [{"age": 30, "income": Infinity, "member": true, '
     b'"city": "Nice", "plan": "basic"}]}', "INVALID_PARAMETER_VALUE", "income"),
    (b'{"dataframe_records": [', "BAD_REQUEST", "malformed JSON"),
])
def test_invocation_errors_have_mlflows_shape(served, body, code, fragment):
    http: httpx.Client = served["regression"].client
    answer = http.post("/invocations", content=body,
                       headers={"Content-Type": "application/json"})
    assert answer.status_code in (400, 422)
    said = answer.json()
    assert set(said) == {"error_code", "message"} and said["error_code"] == code
    assert fragment in said["message"]
    # /predict keeps Shipyard's own shape, and still refuses NaN tokens
    nan = http.post("/predict", content=b'{"age": NaN}', headers={"Content-Type":
                                                                  "application/json"})
    assert nan.status_code == 400 and set(nan.json()) == {"error", "details"}
    assert "NaN is not a JSON value" in nan.json()["error"]


def test_mlflow_shapes_and_numbers_as_text_are_read_as_mlflow_reads_them(served):
    model, http = served["regression"].model, served["regression"].client
    rows = raw_rows(6, seed=11)
    expected = model.pipeline.predict(model.card.schema.model_frame(pd.DataFrame(rows)))
    columns = {name: [r[name] for r in rows] for name in rows[0]}
    as_text = [{**r, "income": None if r["income"] is None else str(r["income"]),
                "age": None if r["age"] is None else str(r["age"])} for r in rows]
    for body in ({"instances": columns}, {"inputs": columns},
                 {"dataframe_records": as_text}):
        answer = http.post("/invocations", json=body)
        assert answer.status_code == 200, (body, answer.text)
        np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-9)
    for column, text in (("income", "a lot"), ("income", "1e400"), ("age", "3.5")):
        # what is not a number of the column's kind, in JSON's grammar, stays text
        still_text = http.post("/invocations", json={"dataframe_records": [
            {**rows[1], column: text}]})
        assert still_text.status_code == 422, (column, text)
        assert f"column '{column}'" in still_text.json()["message"]
    # /predict takes JSON numbers only: its contract is Shipyard's, not MLflow's
    assert http.post("/predict", json=as_text[:1]).status_code == 422


def test_a_csv_body_is_read_as_mlflows_server_reads_it(served):
    model, http = served["regression"].model, served["regression"].client
    rows = raw_rows(8, seed=13)
    frame = pd.DataFrame(rows)
    frame["age"] = frame["age"].astype("Int64")  # as pandas writes a column with gaps
    body = frame.to_csv(index=False).encode()  # what `mlflow models predict -t csv` sends
    answer = http.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    expected = model.pipeline.predict(model.card.schema.model_frame(pd.DataFrame(rows)))
    np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-9)
    for broken, status, fragment in [
            (b"age,income\n1", 422, "CSV row 0 has 1 fields; the header has 2"),
            (b"age,income\n", 422, "needs a header line"),
            (b'age,income\n"1,2', 400, "malformed CSV"),
            (b"age\n\xff", 400, "not UTF-8")]:
        refused = http.post("/invocations", content=broken,
                            headers={"Content-Type": "text/csv; charset=utf-8"})
        assert refused.status_code == status, (broken, refused.text)
        assert fragment in refused.json()["message"]
    # /predict is JSON only
    assert http.post("/predict", content=body,
                     headers={"Content-Type": "text/csv"}).status_code == 415


def test_invocations_drop_columns_the_model_does_not_take_but_not_a_misspelt_one(served):
    model, http = served["regression"].model, served["regression"].client
    rows = raw_rows(4, seed=3)
    expected = model.pipeline.predict(model.card.schema.model_frame(pd.DataFrame(rows)))
    wider = [{**r, "customer_id": 100 + i} for i, r in enumerate(rows)]  # as MLflow: ignored
    answer = http.post("/invocations", json={"dataframe_records": wider})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-9)
    misspelt = [{("incme" if k == "income" else k): v for k, v in r.items()} for r in rows]
    refused = http.post("/invocations", json={"dataframe_records": misspelt})
    assert refused.status_code == 422
    message = refused.json()["message"]
    assert "unknown column 'incme'" in message and "did you mean 'income'" in message
    # /predict stays strict about a column it does not know
    assert http.post("/predict", json=wider[0]).status_code == 422
