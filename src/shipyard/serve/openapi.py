"""The OpenAPI 3.1 document of a served model, generated from its card.

It describes the contract the server enforces, route by route and column by
column, so that clients, code generators and fuzzers work from the truth: every
route, every status it answers with, and the body of each.
"""

from __future__ import annotations

from typing import Any

from shipyard.card import ModelCard
from shipyard.metrics import ANOMALY, BINARY, CLASSIFICATION, TASKS
from shipyard.schema import Column
from shipyard.serve.alerts import MAX_LIMIT as MAX_ALERTS
from shipyard.serve.predict import plain

OPENAPI_VERSION = "3.1.0"
JSON, TEXT = "application/json", "text/plain"
JSON_TYPES = {"number": "number", "integer": "integer", "boolean": "boolean", "string": "string",
              "datetime": "string"}
# Not minimum/maximum: the server accepts integers that round to float64's largest
# value, and the document (encoded by orjson, 64-bit integers at most) cannot name the bound.
FLOAT64 = " within float64's range (|x| < 1.8e308; 1e400 is refused)"

PREDICT_ERRORS = {
    "400": "Malformed JSON (the message says where), NaN or Infinity tokens, a body not in UTF-8.",
    "401": "Predictions are keyed and no key was sent.",
    "403": "The key sent is not a valid API key.",
    "413": "The body or the number of rows is over the server's limit.",
    "415": "The Content-Type is not application/json (charset, if any, utf-8).",
    "422": "The rows do not match the input schema: the message names row, column and value.",
    "500": "The model failed; the server logged the traceback and keeps serving.",
    "503": "Overloaded: the scoring queue is full or the request waited too long. Retry later.",
}
SECURITY_NOTE = ("Send a key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'. Predictions "
                 "(and /model, /alerts) are open or keyed, as the project's serve.auth says; "
                 "admin routes need the admin key and are off when none is configured.")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {media: {"schema": schema}}


def _answer(description: str, schema: str | dict[str, Any],
            headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A response: ``schema`` is a component's name or a schema; ``headers`` are
    required response headers (name -> description) whose value is a string."""
    answer: dict[str, Any] = {
        "description": description,
        "content": _content(_ref(schema) if isinstance(schema, str) else schema)}
    if headers:
        answer["headers"] = {name: {"description": text, "required": True,
                                    "schema": {"type": "string"}}
                             for name, text in headers.items()}
    return answer


REQUEST_ID = {"x-request-id": "The request's id: the client's X-Request-ID when it is a safe "
                              "token (letters, digits, ._:-, at most 64), else a random one. "
                              "Send a new one each time: a repeated id is logged once."}
ERROR_HEADERS = {"401": {"WWW-Authenticate": "How to authenticate: Bearer."},
                 "503": {"Retry-After": "Seconds to wait before retrying."}}


def _error(description: str, status: str) -> dict[str, Any]:
    return _answer(description, "Error", ERROR_HEADERS.get(status))


def _open_or_keyed() -> list[dict[str, list]]:
    """No key (when the route is open), a bearer token or an X-API-Key header."""
    return [{}, {"bearer": []}, {"apiKey": []}]


def _admin_key() -> list[dict[str, list]]:
    return [{"bearer": []}, {"apiKey": []}]


def _internal() -> dict[str, Any]:
    return _error("An unexpected failure; the server log has details.", "500")


def _object(properties: dict[str, Any], required: list[str] | None = None,
            **more: Any) -> dict[str, Any]:
    """A closed object: ``required`` defaults to every property."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False, **more}


# ----------------------------------------------------------------------------- rows

def column_schema(col: Column) -> dict[str, Any]:
    """A column's value: its JSON type, or null for a missing value."""
    schema: dict[str, Any] = {"type": [JSON_TYPES[col.kind], "null"]}
    if col.kind == "datetime":
        schema["format"] = "date-time"
        schema["description"] = "ISO 8601, e.g. 2026-03-01 or 2026-03-01T14:30:00Z."
    elif col.kind == "integer":
        schema["description"] = f"A whole number (3.0 is accepted){FLOAT64}; null when missing."
    elif col.kind == "number":
        schema["description"] = f"A number{FLOAT64}; null when missing."
    elif col.kind == "string":
        schema["description"] = "Text; null or \"\" when missing."
    else:
        schema["description"] = "Null when missing."
    return schema


def _entity(card: ModelCard) -> str | None:
    """The optional identifier key a row may carry, unless it is also an input."""
    return card.entity if card.entity and card.entity not in card.schema.names else None


def row_schema(card: ModelCard) -> dict[str, Any]:
    properties = {col.name: column_schema(col) for col in card.schema.columns}
    description = "One row: every input column, no others"
    entity = _entity(card)
    if entity:
        properties[entity] = {"description": "The entity's identifier, any JSON value: not a "
                                             "model input, reported with alerts."}
        description += f" (besides the optional '{entity}')"
    return _object(properties, card.schema.names, description=description + ".")


def positional_schema(card: ModelCard) -> dict[str, Any]:
    """A row as a list of values in the schema's column order (MLflow's instances, inputs)."""
    n = len(card.schema.columns)
    return {"type": "array", "description": f"Values in the order {', '.join(card.schema.names)}.",
            "prefixItems": [column_schema(col) for col in card.schema.columns],
            "items": False, "minItems": n}


def _rows(item: dict[str, Any], max_rows: int) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": 1, "maxItems": max_rows}


# ----------------------------------------------------------------------------- answers

def label_schema(card: ModelCard) -> dict[str, Any]:
    """One prediction's value: a class label, a number for regression, true/false
    (flagged as an anomaly) for anomaly detection."""
    if card.task == ANOMALY:
        return {"type": "boolean", "description": "Whether the row is flagged as an anomaly."}
    if card.task not in CLASSIFICATION:
        return {"type": "number"}
    return {"enum": [plain(c) for c in card.classes], "description": "The predicted class."}


def prediction_schema(card: ModelCard, ids: bool = False) -> dict[str, Any]:
    """One item of ``predictions``, for the card's task; ``ids``: with its request id
    (a server with a prediction log)."""
    found = _prediction_schema(card)
    if ids:
        found["properties"]["request_id"] = {
            "type": "string", "description": "This row's id in the prediction log: send its "
                                             "true label to POST /feedback with it."}
        found["required"].append("request_id")
    return found


def _prediction_schema(card: ModelCard) -> dict[str, Any]:
    if card.task == ANOMALY:
        threshold = "" if card.threshold is None else f" (here {card.threshold:.6g})"
        return _object({"prediction": label_schema(card), "score": {
            "type": "number", "description": "The anomaly score, higher for more anomalous "
                                             "rows; a row is flagged where it is at least the "
                                             f"model's threshold{threshold}."}})
    if card.task not in CLASSIFICATION:
        return _object({"prediction": label_schema(card)})
    labels = [plain(c) for c in card.classes]
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    properties: dict[str, Any] = {
        "prediction": {"enum": labels, "description": "The most probable class (for binary "
                                                      "tasks: by the decision threshold)."}}
    if card.task == BINARY:
        positive = labels[-1] if card.positive_class is None else plain(card.positive_class)
        properties["probability"] = {**probability,
                                     "description": f"The probability of class {positive!r}."}
    properties["probabilities"] = _object({str(c): probability for c in labels},
                                          description="Each class's probability; they sum to 1.")
    return _object(properties)


def _model_info(card: ModelCard) -> dict[str, Any]:
    text, maybe_text = {"type": "string"}, {"type": ["string", "null"]}
    return _object({
        "name": text, "version": maybe_text, "run_id": maybe_text,
        "task": {"enum": list(TASKS)}, "target": maybe_text, "estimator": text,
        "serving": _ref("Serving"),
        "classes": {"type": "array", "description": "predict_proba's column order."},
        "positive_class": {"description": "Binary tasks: the class 'probability' is about."},
        "threshold": {"type": ["number", "null"]},
        "entity": maybe_text,
        "holdout_metrics": {"type": "object",
                            "additionalProperties": {"type": ["number", "null"]}},
        "inputs": {"type": "array", "items": _object({
            "name": text, "kind": {"enum": sorted(set(JSON_TYPES))}})},
        "history": {"type": "array", "description": "Versions served, oldest first (at most 20).",
                    "items": _object({"version": maybe_text, "run_id": maybe_text,
                                      "path": {"enum": ["onnx", "python"]}, "note": text},
                                     ["version", "run_id", "path"])},
        "reload": _object({"interval_s": {"type": "number"}, "last_check": maybe_text,
                           "last_error": {"oneOf": [{"type": "null"}, _ref("ReloadError")]}},
                          description="Present when the server follows the registry."),
    }, ["name", "version", "run_id", "task", "target", "estimator", "serving", "classes",
        "positive_class", "threshold", "entity", "holdout_metrics", "inputs", "history"],
        description=f"The served {card.task} model '{card.name}', how it is served and its "
                    f"input schema.")


def _alert() -> dict[str, Any]:
    maybe_text = {"type": ["string", "null"]}
    return _object({
        "id": {"type": "integer"}, "time": {"type": "string"},
        "alert": {"type": "string", "description": "The rule's name."},
        "model": _ref("Model"), "entity": {"description": "The row's entity identifier."},
        "prediction": {"type": "object"}, "input": {"type": "object"},
        "delivery": {"oneOf": [{"type": "null"}, _object({
            "state": {"enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": ["integer", "null"]}, "last_error": maybe_text})]},
        "acknowledged": {"type": "boolean"}, "acknowledged_at": maybe_text,
        "acknowledged_by": maybe_text,
    })


def _feedback_schemas(card: ModelCard, max_rows: int) -> dict[str, Any]:
    item = _object({"request_id": {"type": "string", "minLength": 1, "maxLength": 200,
                                   "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                   "description": "A request_id from a /predict answer."},
                    "label": {**label_schema(card), "description": "The true value."}})
    return {
        "FeedbackRequest": _object({"feedback": _rows(item, max_rows)}),
        "FeedbackAck": _object({
            "received": {"type": "integer", "minimum": 1},
            "stored": {"type": "integer", "minimum": 0, "description": "Labels new to the log."},
            "unchanged": {"type": "integer", "minimum": 0,
                          "description": "Labels the log already had (sent again)."}},
            description="Every label is on disk."),
    }


def schemas(card: ModelCard, max_rows: int, alerts: bool = False,
            feedback: bool = False) -> dict[str, Any]:
    model = _object({"name": {"type": "string"}, "version": {"type": ["string", "null"]}})
    reload_error = _object({"error": {"type": "string"}, "version": {"type": ["string", "null"]},
                            "at": {"type": "string"}})
    found = {
        "Row": row_schema(card),
        "Rows": _rows(_ref("Row"), max_rows),
        "PositionalRow": positional_schema(card),
        "Model": model,
        "Prediction": prediction_schema(card, ids=feedback),
        "PredictResponse": _object(
            {"model": _ref("Model"),
             "predictions": {"type": "array", "items": _ref("Prediction"), "minItems": 1}},
            description="One prediction per row, in request order (one for a single object)."),
        "InvocationsRequest": invocations_schema(card, max_rows),
        "InvocationsResponse": _object(
            {"predictions": {"type": "array", "items": label_schema(card), "minItems": 1}},
            description="MLflow's answer: one prediction per row, in request order."),
        "Health": _object({"status": {"const": "ok"}, "model": _ref("Model"),
                           "reload": _ref("ReloadError"),
                           "prediction_log": _object({
                               "ok": {"type": "boolean"}, "error": {"type": ["string", "null"]},
                               "dropped": {"type": "integer", "minimum": 0}},
                               description="Whether predictions are being logged; dropped: "
                                           "rows not logged (queue full).")},
                          ["status", "model"]),
        "Ready": _object({"status": {"const": "ready"}, "model": _ref("Model")}),
        "Serving": _object({"path": {"enum": ["onnx", "python"]}, "note": {"type": "string"}},
                           ["path"], description="Which engine scores, and why not ONNX."),
        "ModelInfo": _model_info(card),
        "ReloadError": reload_error,
        "ReloadOutcome": _object({
            "ok": {"type": "boolean"}, "version": {"type": ["string", "null"]},
            "changed": {"type": "boolean"}, "previous": {"type": ["string", "null"]},
            "seconds": {"type": "number"}, "error": {"type": "string"}, "at": {"type": "string"},
        }, ["ok", "version", "changed"]),
        "ErrorDetail": _object({
            "message": {"type": "string"},
            "row": {"type": "integer", "minimum": 0},
            "column": {"type": "string"},
            "value": {},
            "line": {"type": "integer", "minimum": 1},
            "char": {"type": "integer", "minimum": 1},
            "missing": {"type": "array", "items": {"type": "string"}},
            "unknown": {"type": "array", "items": {"type": "string"}},
        }, ["message"], description="One problem. row, column and value are set for bad "
                                    "values; line and char for malformed JSON; missing and "
                                    "unknown for wrong column names."),
        "Error": _object({"error": {"type": "string", "minLength": 1,
                                    "description": "What was wrong, on one line."},
                          "details": {"type": "array", "items": _ref("ErrorDetail")}}),
    }
    if alerts:
        found["Alert"] = _alert()
    if feedback:
        found.update(_feedback_schemas(card, max_rows))
    return found


def invocations_schema(card: ModelCard, max_rows: int) -> dict[str, Any]:
    """MLflow's four request formats, each an object with exactly one of the keys."""
    names = card.schema.names
    either_row = {"oneOf": [_ref("Row"), _ref("PositionalRow")]}
    columns = {col.name: {**_rows(column_schema(col), max_rows),
                          "description": "This column's values, one per row."}
               for col in card.schema.columns}
    entity = _entity(card)
    if entity:
        columns[entity] = {"type": "array", "description": "The entities' identifiers."}
    formats = {
        "dataframe_split": {
            "type": "object",
            "description": "pandas' split orient ('index' and other keys are ignored).",
            "properties": {
                "columns": {"type": "array", "prefixItems": [{"const": n} for n in names],
                            "items": False, "minItems": len(names),
                            "description": "The column names (in any order on the server; "
                                           "documented in the schema's order)."},
                "data": _rows(_ref("PositionalRow"), max_rows)},
            "required": ["columns", "data"]},
        "dataframe_records": _ref("Rows"),
        "instances": _rows(either_row, max_rows),
        "inputs": {"oneOf": [
            _rows(either_row, max_rows),
            _object(columns, names, description="One list per column, all the same length.")]},
    }
    return {"oneOf": [_object({key: value, "params": {
        "description": "MLflow inference parameters: accepted and ignored."}}, [key],
        title=key) for key, value in formats.items()]}


# ----------------------------------------------------------------------------- paths

def _predict_operation(card: ModelCard, route: str, max_rows: int,
                       max_body_bytes: int) -> dict[str, Any]:
    errors = {status: _error(text, status) for status, text in PREDICT_ERRORS.items()}
    limits = f"at most {max_rows} rows and {max_body_bytes} bytes"
    if route == "predict":
        summary = (f"Score rows for anomalies with {card.name}" if card.task == ANOMALY
                   else f"Predict {card.target} with {card.name}")
        description = (f"Send one row (an object) or a list of rows, {limits}. Every row is "
                       f"validated first; nothing is scored unless all are valid.")
        body, answer = {"oneOf": [_ref("Row"), _ref("Rows")]}, "PredictResponse"
    else:
        summary = "Predict in MLflow's scoring-server formats"
        description = (f"MLflow clients call this unchanged: dataframe_split, dataframe_records, "
                       f"instances or inputs, {limits}.")
        body, answer = _ref("InvocationsRequest"), "InvocationsResponse"
    return {
        "operationId": route, "tags": ["predict"], "summary": summary,
        "description": description,
        "security": _open_or_keyed(),
        "requestBody": {"required": True, "content": _content(body)},
        "responses": {"200": _answer("The predictions.", answer, REQUEST_ID), **errors},
    }


def _get(operation_id: str, summary: str, ok: dict[str, Any], tag: str = "operate",
         **more: Any) -> dict[str, Any]:
    responses = {"200": ok, **more.pop("responses", {}),
                 "500": _internal()}
    return {"get": {"operationId": operation_id, "tags": [tag], "summary": summary,
                    **more, "responses": responses}}


def _auth_errors(admin: bool) -> dict[str, Any]:
    who = "the admin key" if admin else "an API key (when keyed)"
    return {"401": _error(f"No key was sent; this route needs {who}.", "401"),
            "403": _error("The key is wrong or not enough"
                          + ("; or no admin key is configured (admin routes off)." if admin
                             else "."), "403")}


def _alert_paths() -> dict[str, Any]:
    errors = _auth_errors(admin=False)
    listing = _get(
        "listAlerts", "The newest alerts, newest first", tag="alerts",
        ok=_answer("The alerts.", _object({"alerts": {"type": "array",
                                                       "items": _ref("Alert")}})),
        security=_open_or_keyed(),
        parameters=[
            {"name": "limit", "in": "query", "description": "How many, newest first.",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ALERTS, "default": 100}},
            {"name": "unacknowledged", "in": "query", "description": "Only those not yet seen.",
             "schema": {"enum": ["true", "false", "1", "0"], "default": "false"}},
        ],
        responses={"400": _error("A query parameter is not valid.", "400"), **errors})
    ack = {"post": {
        "operationId": "acknowledgeAlert", "tags": ["alerts"], "summary": "Mark an alert seen",
        "description": "Acknowledging twice keeps the first time and name.",
        "security": _admin_key(),
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 0}}],
        "requestBody": {"required": False, "description": "Who acknowledges; 'admin' if no body.",
                        "content": _content({"type": "object", "properties": {
                            "by": {"type": "string", "minLength": 1, "maxLength": 100}},
                            "required": ["by"]})},
        "responses": {
            "200": _answer("The acknowledged alert.", _object({"alert": _ref("Alert")})),
            "400": _error("The body is not JSON such as {\"by\": \"ana\"}.", "400"),
            **_auth_errors(admin=True),
            "404": _error("No alert with this id.", "404"),
            "500": _internal(),
        }}}
    return {"/alerts": listing, "/alerts/{id}/ack": ack}


def _feedback_path() -> dict[str, Any]:
    return {"/feedback": {"post": {
        "operationId": "feedback", "tags": ["predict"],
        "summary": "Send the true labels of served predictions",
        "description": "By the request_id of each /predict item. All or nothing; the same "
                       "label again is accepted; the answer comes once the labels are on "
                       "disk. Predictions are logged within about 0.2 s of their answer.",
        "security": _open_or_keyed(),
        "requestBody": {"required": True, "content": _content(_ref("FeedbackRequest"))},
        "responses": {
            "200": _answer("Stored.", "FeedbackAck"),
            "400": _error("Malformed JSON.", "400"),
            **_auth_errors(admin=False),
            "404": _error("Request ids that no logged prediction has (listed).", "404"),
            "409": _error("An id already has a different label; nothing was stored.", "409"),
            "413": _error("The body or the number of items is over the server's limit.", "413"),
            "415": _error("The Content-Type is not application/json.", "415"),
            "422": _error("Not the documented shape, or a label of the wrong kind (the item "
                          "is named).", "422"),
            "500": _internal(),
            "503": _error("The prediction log is unavailable; nothing was stored.", "503"),
        }}}}


def paths(card: ModelCard, max_rows: int, max_body_bytes: int,
          alerts: bool = False, feedback: bool = False) -> dict[str, Any]:
    found = {
        "/predict": {"post": _predict_operation(card, "predict", max_rows, max_body_bytes)},
        "/invocations": {"post": _predict_operation(card, "invocations", max_rows,
                                                    max_body_bytes)},
        "/health": _get("health", "Liveness: the process answers, and which model it serves",
                        _answer("Serving; 'reload' says why following the registry failed.",
                                "Health")),
        "/ready": _get("ready", "Readiness: a model is loaded and the queue has room",
                       _answer("Ready for traffic.", "Ready"),
                       responses={"503": _error("Not ready: the scoring queue is full.", "503")}),
        "/model": _get("model", "The served version, its lineage and input schema",
                       _answer("The model.", "ModelInfo"),
                       security=_open_or_keyed(),
                       responses=_auth_errors(admin=False)),
        "/metrics": _get("metrics", "Prometheus metrics",
                         {"description": "The Prometheus text exposition format.",
                          "content": _content({"type": "string"}, TEXT)}),
        "/openapi.json": _get("openapi", "This document", _answer("OpenAPI 3.1.", _object(
            {"openapi": {"type": "string"}, "info": {"type": "object"},
             "paths": {"type": "object"}}, additionalProperties=True))),
        "/admin/reload": {"post": {
            "operationId": "reload", "tags": ["admin"],
            "summary": "Check the registry's champion now",
            "description": "Loads, verifies and swaps in the champion if the alias moved.",
            "security": _admin_key(),
            "responses": {
                "200": _answer("Checked; 'changed' says whether a new version serves.",
                               "ReloadOutcome"),
                **_auth_errors(admin=True),
                "409": _answer("Nothing to reload: the server does not follow a registry, "
                               "or the champion failed to load (the old version keeps "
                               "serving).", {"anyOf": [_ref("Error"), _ref("ReloadOutcome")]}),
                "500": _internal(),
            }}},
    }
    if alerts:
        found.update(_alert_paths())
    if feedback:
        found.update(_feedback_path())
    return found


def document(card: ModelCard, *, max_rows: int, max_body_bytes: int,
             alerts: bool = False, feedback: bool = False) -> dict[str, Any]:
    """The whole OpenAPI document for a server of ``card``'s model; ``alerts`` adds
    the alert routes (served when the project declares alert rules), ``feedback``
    the request ids and ``POST /feedback`` (served with a prediction log)."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{card.name} ({card.task})", "version": card.version or "unregistered",
                 "description": ("Flags anomalies" if card.task == ANOMALY else
                                 f"Predicts '{card.target}'")
                                + ". Every refused request gets a 4xx "
                                f"(or 503 with Retry-After when overloaded) whose body is "
                                f"{{\"error\": one line, \"details\": [...]}}. {SECURITY_NOTE}"},
        "paths": paths(card, max_rows, max_body_bytes, alerts, feedback),
        "components": {
            "schemas": schemas(card, max_rows, alerts, feedback),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "'Authorization: Bearer KEY'. " + SECURITY_NOTE},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "The same keys, in the X-API-Key header."},
            },
        },
    }
