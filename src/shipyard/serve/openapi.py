"""The OpenAPI 3.1 document of a served model, generated from its card.

It describes the contract the server enforces, column by column, so that
clients, code generators and fuzzers work from the truth.
"""

from __future__ import annotations

from typing import Any

from shipyard.card import ModelCard
from shipyard.metrics import BINARY, CLASSIFICATION
from shipyard.schema import Column
from shipyard.serve.predict import plain

OPENAPI_VERSION = "3.1.0"
JSON_TYPES = {"number": "number", "integer": "integer", "boolean": "boolean", "string": "string",
              "datetime": "string"}
ERROR_STATUSES = {
    "400": "Malformed JSON (the message says where), NaN or Infinity tokens, a body not in UTF-8.",
    "413": "The body or the number of rows is over the server's limit.",
    "415": "The Content-Type is not application/json.",
    "422": "The rows do not match the input schema: the message names row, column and value.",
    "500": "The model failed; the server logged the traceback and keeps serving.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def column_schema(col: Column) -> dict[str, Any]:
    """A column's value: its JSON type, or null for a missing value."""
    schema: dict[str, Any] = {"type": [JSON_TYPES[col.kind], "null"]}
    if col.kind == "datetime":
        schema["format"] = "date-time"
        schema["description"] = "ISO 8601, e.g. 2026-03-01 or 2026-03-01T14:30:00Z."
    elif col.kind == "integer":
        schema["description"] = "A whole number (3.0 is accepted); null when missing."
    elif col.kind == "string":
        schema["description"] = "Text; null or \"\" when missing."
    else:
        schema["description"] = "Null when missing."
    return schema


def row_schema(card: ModelCard) -> dict[str, Any]:
    names = card.schema.names
    return {
        "type": "object",
        "description": "One row: every input column, no others.",
        "properties": {col.name: column_schema(col) for col in card.schema.columns},
        "required": names,
        "additionalProperties": False,
    }


def prediction_schema(card: ModelCard) -> dict[str, Any]:
    """One item of ``predictions``, for the card's task."""
    if card.task not in CLASSIFICATION:
        return {"type": "object", "properties": {"prediction": {"type": "number"}},
                "required": ["prediction"], "additionalProperties": False}
    labels = [plain(c) for c in card.classes]
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    properties: dict[str, Any] = {
        "prediction": {"enum": labels, "description": "The most probable class."},
        "probabilities": {
            "type": "object",
            "description": "Each class's probability; they sum to 1.",
            "properties": {str(c): probability for c in labels},
            "required": [str(c) for c in labels],
            "additionalProperties": False,
        },
    }
    required = ["prediction", "probabilities"]
    if card.task == BINARY:
        positive = labels[-1] if card.positive_class is None else plain(card.positive_class)
        properties["probability"] = {**probability,
                                     "description": f"The probability of class {positive!r}."}
        required.insert(1, "probability")
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def schemas(card: ModelCard, max_rows: int) -> dict[str, Any]:
    return {
        "Row": row_schema(card),
        "Rows": {"type": "array", "items": _ref("Row"), "minItems": 1, "maxItems": max_rows},
        "Model": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "version": {"type": ["string", "null"]}},
            "required": ["name", "version"],
            "additionalProperties": False,
        },
        "Prediction": prediction_schema(card),
        "PredictResponse": {
            "type": "object",
            "description": "One prediction per row, in request order (one for a single object).",
            "properties": {"model": _ref("Model"),
                           "predictions": {"type": "array", "items": _ref("Prediction")}},
            "required": ["model", "predictions"],
            "additionalProperties": False,
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"const": "ok"}, "model": _ref("Model")},
            "required": ["status", "model"],
            "additionalProperties": False,
        },
        "ErrorDetail": {
            "type": "object",
            "description": "One problem. row, column and value are set for bad values; "
                           "line and char for malformed JSON; missing and unknown for "
                           "wrong column names.",
            "properties": {
                "message": {"type": "string"},
                "row": {"type": "integer", "minimum": 0},
                "column": {"type": "string"},
                "value": {},
                "line": {"type": "integer", "minimum": 1},
                "char": {"type": "integer", "minimum": 1},
                "missing": {"type": "array", "items": {"type": "string"}},
                "unknown": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string", "description": "What was wrong."},
                           "details": {"type": "array", "items": _ref("ErrorDetail")}},
            "required": ["error", "details"],
            "additionalProperties": False,
        },
    }


def document(card: ModelCard, *, max_rows: int, max_body_bytes: int) -> dict[str, Any]:
    """The whole OpenAPI document for a server of ``card``'s model."""
    errors = {status: {"description": text, "content": _content(_ref("Error"))}
              for status, text in ERROR_STATUSES.items()}
    predict = {
        "operationId": "predict",
        "summary": f"Predict {card.target} with {card.name}",
        "description": f"Send one row (an object) or up to {max_rows} rows (a list), "
                       f"at most {max_body_bytes} bytes. Every row is validated first.",
        "requestBody": {"required": True,
                        "content": _content({"oneOf": [_ref("Row"), _ref("Rows")]})},
        "responses": {"200": {"description": "The predictions.",
                              "content": _content(_ref("PredictResponse"))}, **errors},
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{card.name} ({card.task})", "version": card.version or "unregistered"},
        "paths": {
            "/predict": {"post": predict},
            "/health": {"get": {"operationId": "health", "summary": "Is the server up",
                                "responses": {"200": {"description": "Serving.",
                                                      "content": _content(_ref("Health"))}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1."}}}},
        },
        "components": {"schemas": schemas(card, max_rows)},
    }
