"""The published contract is the enforced one: the OpenAPI document is checked
against the OpenAPI 3.1 schema and against what the server really accepts and
answers. (tests/serve/test_fuzz.py then fuzzes the live server with it.)"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import schemathesis
from jsonschema import Draft202012Validator

from shipyard.serve import openapi

from .cases import BAD_REQUESTS, GOOD, MAX_BODY_BYTES, MAX_ROWS
from .models import SCHEMA, binary_model, raw_rows

TASKS = ("regression", "binary", "multiclass")
ROUTES = {"/predict": "post", "/invocations": "post", "/health": "get", "/ping": "get",
          "/version": "get", "/ready": "get", "/model": "get", "/metrics": "get",
          "/openapi.json": "get", "/admin/reload": "post"}


@pytest.fixture(scope="module")
def documents(served) -> dict[str, dict]:
    docs = {}
    for task in TASKS:
        response = served[task].client.get("/openapi.json")
        assert response.status_code == 200
        docs[task] = json.loads(response.content)  # strict: would fail on NaN or bad JSON
    return docs


def validator(doc: dict, component: str) -> Draft202012Validator:
    """Validates against one component; its $refs resolve inside ``doc``."""
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{component}"})


def request_validator(doc: dict, path: str = "/predict") -> Draft202012Validator:
    body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return Draft202012Validator({**doc, **body["schema"]})


def response_schema(doc: dict, path: str, status: str) -> dict:
    answer = doc["paths"][path][ROUTES[path]]["responses"][status]
    return {**doc, **answer["content"]["application/json"]["schema"]}


def well_formed(doc: dict) -> None:
    """Valid OpenAPI 3.1 (schemathesis checks it against the specification's own
    schema), and every component a valid JSON Schema 2020-12."""
    schemathesis.openapi.from_dict(doc).validate()
    for name in doc["components"]["schemas"]:
        Draft202012Validator.check_schema({**doc, "$ref": f"#/components/schemas/{name}"})


@pytest.mark.parametrize("task", TASKS)
def test_document_is_openapi_3_1_with_every_route_and_column(documents, task):
    doc = documents[task]
    assert doc["openapi"].startswith("3.1.")
    well_formed(doc)
    assert {path: list(methods) for path, methods in doc["paths"].items()} == {
        path: [method] for path, method in ROUTES.items()}
    row = doc["components"]["schemas"]["Row"]
    types = {name: spec["type"] for name, spec in row["properties"].items()}
    assert types == {"age": ["integer", "null"], "income": ["number", "null"],
                     "member": ["boolean", "null"], "city": ["string", "null"],
                     "plan": ["string", "null"]}
    assert row["required"] == SCHEMA.names
    assert row["additionalProperties"] is False
    assert doc["components"]["schemas"]["Rows"]["maxItems"] == MAX_ROWS
    assert str(MAX_BODY_BYTES) in doc["paths"]["/predict"]["post"]["description"]


@pytest.mark.parametrize("path", ["/predict", "/invocations"])
def test_prediction_routes_document_every_refusal_and_how_to_authenticate(documents, path):
    operation = documents["binary"]["paths"][path]["post"]
    responses = operation["responses"]
    assert set(responses) == {"200", "400", "401", "403", "413", "415", "422", "500", "503"}
    shape = "Error" if path == "/predict" else "MLflowError"  # MLflow's clients read theirs
    assert all(responses[s]["content"]["application/json"]["schema"]
               == {"$ref": f"#/components/schemas/{shape}"} for s in responses if s != "200")
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
    # Open or keyed, as the project says: no key, a bearer token or an X-API-Key header.
    assert operation["security"] == [{}, {"bearer": []}, {"apiKey": []}]
    schemes = documents["binary"]["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-API-Key")


def test_admin_reload_needs_the_admin_key(documents):
    operation = documents["regression"]["paths"]["/admin/reload"]["post"]
    assert operation["security"] == [{"bearer": []}, {"apiKey": []}]
    assert set(operation["responses"]) == {"200", "401", "403", "409", "500"}


def test_prediction_schema_follows_the_task(documents):
    items = {task: documents[task]["components"]["schemas"]["Prediction"] for task in documents}
    assert items["regression"]["properties"]["prediction"] == {"type": "number"}
    assert items["binary"]["properties"]["prediction"]["enum"] == ["No", "Yes"]
    assert "'Yes'" in items["binary"]["properties"]["probability"]["description"]
    assert items["binary"]["required"] == ["prediction", "probability", "probabilities"]
    assert items["multiclass"]["properties"]["prediction"]["enum"] == [0, 1, 2]
    assert "probability" not in items["multiclass"]["properties"]
    answers = {task: documents[task]["components"]["schemas"]["InvocationsResponse"]
               for task in documents}
    assert answers["binary"]["properties"]["predictions"]["items"]["enum"] == ["No", "Yes"]
    assert answers["regression"]["properties"]["predictions"]["items"] == {"type": "number"}


@pytest.mark.parametrize("task", TASKS)
def test_real_answers_match_the_document(served, documents, task):
    doc, client = documents[task], served[task].client
    rows = raw_rows(20, seed=3)
    request_validator(doc).validate(rows)
    request_validator(doc).validate(rows[0])
    validator(doc, "PredictResponse").validate(client.post("/predict", json=rows).json())
    answer = client.post("/invocations", json={"dataframe_records": rows})
    validator(doc, "InvocationsResponse").validate(answer.json())
    validator(doc, "Health").validate(client.get("/health").json())
    validator(doc, "Ready").validate(client.get("/ready").json())
    validator(doc, "ModelInfo").validate(client.get("/model").json())
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    refused = client.post("/predict", json=[GOOD, {"age": "x"}])
    validator(doc, "Error").validate(refused.json())
    reload = client.post("/admin/reload")  # no admin key configured: the admin routes are off
    assert reload.status_code == 403
    Draft202012Validator(response_schema(doc, "/admin/reload", "403")).validate(reload.json())


def test_every_mlflow_format_matches_the_request_schema(documents):
    check = request_validator(documents["binary"], "/invocations")
    rows = raw_rows(4, seed=5)
    names = SCHEMA.names
    for body in [
        {"dataframe_records": rows},
        {"dataframe_split": {"columns": names, "data": [[r[n] for n in names] for r in rows]}},
        {"dataframe_split": {"index": [0, 1, 2, 3], "columns": names,
                             "data": [[r[n] for n in names] for r in rows]}},
        {"instances": rows},
        {"instances": [[r[n] for n in names] for r in rows]},
        {"inputs": rows, "params": {"ignored": True}},
        {"inputs": {n: [r[n] for r in rows] for n in names}},
    ]:
        check.validate(body)
    for body in [[GOOD], {"records": [GOOD]}, {"instances": [GOOD], "inputs": [GOOD]},
                 {"dataframe_split": {"columns": ["age"], "data": [[1]]}},
                 {"instances": [[1, 2]]}, {"instances": []}, {"dataframe_records": [{"age": 1}]},
                 {"inputs": [GOOD] * (MAX_ROWS + 1)}]:
        assert not check.is_valid(body), body


def test_every_error_answer_matches_the_error_schema(served, documents):
    check = validator(documents["regression"], "Error")
    for case in BAD_REQUESTS:
        check.validate(served["regression"].client.request(**case.request()).json())


# 1e400 parses to infinity, which JSON Schema still calls a number: only the server refuses it.
SCHEMA_BLIND = {"overflowing number", "overflowing integer"}


@pytest.mark.parametrize(
    "case", [c for c in BAD_REQUESTS if c.body is not None and c.id not in SCHEMA_BLIND],
    ids=lambda c: c.id,
)
def test_bodies_the_server_refuses_break_the_request_schema(documents, case):
    assert not request_validator(documents["regression"]).is_valid(case.body)


def test_alert_routes_and_the_entity_are_documented_when_the_server_has_them():
    card = replace(binary_model().card, entity="customer_id")
    doc = openapi.document(card, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES, alerts=True)
    well_formed(doc)
    assert {"/alerts", "/alerts/{id}/ack"} <= set(doc["paths"])
    assert doc["paths"]["/alerts/{id}/ack"]["post"]["security"] == [{"bearer": []},
                                                                    {"apiKey": []}]
    row = validator(doc, "Row")
    row.validate({**GOOD, "customer_id": "c-17"})  # the entity: any JSON value but null
    assert not row.is_valid(GOOD) and not row.is_valid({**GOOD, "customer_id": None})
    assert not row.is_valid({**GOOD, "customer": 1})
    plain = openapi.document(card, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES)
    assert "/alerts" not in plain["paths"] and "Alert" not in plain["components"]["schemas"]
