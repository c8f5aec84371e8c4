"""The published contract is the enforced one: the OpenAPI document is checked
against the schema and against what the server really accepts and answers."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from .cases import BAD_REQUESTS, GOOD, MAX_ROWS
from .models import SCHEMA, raw_rows


@pytest.fixture(scope="module")
def documents(served) -> dict[str, dict]:
    docs = {}
    for task in ("regression", "binary", "multiclass"):
        response = served[task].client.get("/openapi.json")
        assert response.status_code == 200
        docs[task] = json.loads(response.content)  # strict: would fail on NaN or bad JSON
    return docs


def validator(doc: dict, component: str) -> Draft202012Validator:
    """Validates against one component; its $refs resolve inside ``doc``."""
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{component}"})


def request_validator(doc: dict) -> Draft202012Validator:
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    return Draft202012Validator({**doc, **body["schema"]})


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_document_is_openapi_3_1_with_every_column(documents, task):
    doc = documents[task]
    assert doc["openapi"].startswith("3.1.")
    assert set(doc["paths"]) == {"/predict", "/health", "/openapi.json"}
    row = doc["components"]["schemas"]["Row"]
    types = {name: spec["type"] for name, spec in row["properties"].items()}
    assert types == {"age": ["integer", "null"], "income": ["number", "null"],
                     "member": ["boolean", "null"], "city": ["string", "null"],
                     "plan": ["string", "null"]}
    assert row["required"] == SCHEMA.names
    assert row["additionalProperties"] is False
    assert doc["components"]["schemas"]["Rows"]["maxItems"] == MAX_ROWS
    responses = doc["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "500"} <= set(responses)
    Draft202012Validator.check_schema({**doc, "$ref": "#/components/schemas/Row"})


def test_prediction_schema_follows_the_task(documents):
    items = {task: documents[task]["components"]["schemas"]["Prediction"] for task in documents}
    assert items["regression"]["properties"]["prediction"] == {"type": "number"}
    assert items["binary"]["properties"]["prediction"]["enum"] == ["No", "Yes"]
    assert "'Yes'" in items["binary"]["properties"]["probability"]["description"]
    assert items["multiclass"]["properties"]["prediction"]["enum"] == [0, 1, 2]
    assert "probability" not in items["multiclass"]["properties"]


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_real_answers_match_the_document(served, documents, task):
    doc, client = documents[task], served[task].client
    rows = raw_rows(20, seed=3)
    request_validator(doc).validate(rows)
    request_validator(doc).validate(rows[0])
    validator(doc, "PredictResponse").validate(client.post("/predict", json=rows).json())
    validator(doc, "Health").validate(client.get("/health").json())
    refused = client.post("/predict", json=[GOOD, {"age": "x"}])
    validator(doc, "Error").validate(refused.json())


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
