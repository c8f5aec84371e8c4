"""The OpenAPI 3.1 document of a served model, generated from its card.

It describes the contract the server enforces, route by route and column by
column, so that clients, code generators and fuzzers work from the truth: every
route, every status it answers with, and the body of each.
"""

from __future__ import annotations

from typing import Any

from shipyard.card import ModelCard
from shipyard.metrics import ANOMALY
from shipyard.serve.alerts import MAX_LIMIT as MAX_ALERTS
from shipyard.serve.openapi_schemas import closed_object, component, schemas

OPENAPI_VERSION = "3.1.0"
JSON, TEXT = "application/json", "text/plain"

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


def _content(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {media: {"schema": schema}}


def _answer(description: str, schema: str | dict[str, Any],
            headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A response: ``schema`` is a component's name or a schema; ``headers`` are
    required response headers (name -> description) whose value is a string."""
    answer: dict[str, Any] = {
        "description": description,
        "content": _content(component(schema) if isinstance(schema, str) else schema)}
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


def _predict_operation(card: ModelCard, route: str, max_rows: int,
                       max_body_bytes: int, history: dict | None = None) -> dict[str, Any]:
    said = dict(PREDICT_ERRORS)
    if route == "invocations":  # MLflow's clients write NaN (missing) and Infinity
        said["400"] = "Malformed JSON or CSV (the message says where), a body not in UTF-8."
        said["415"] = ("The Content-Type is not application/json or text/csv (charset, if "
                       "any, utf-8).")
        said["422"] += (" Shipyard refuses infinite values, which MLflow passes to the "
                        "model; NaN is read as a missing value, as MLflow reads it.")
    if history:
        said["409"] = HISTORY_409
        said["503"] += " Or the history store is unavailable: nothing was stored."
    shape = "Error" if route == "predict" else "MLflowError"
    errors = {status: _answer(text, shape, ERROR_HEADERS.get(status))
              for status, text in said.items()}
    limits = f"at most {max_rows} rows and {max_body_bytes} bytes"
    if route == "predict":
        summary = (f"Score rows for anomalies with {card.name}" if card.task == ANOMALY
                   else f"Predict {card.target} with {card.name}")
        description = (f"Send one row (an object) or a list of rows, {limits}. Every row is "
                       f"validated first; nothing is scored unless all are valid.")
        body, answer = {"oneOf": [component("Row"), component("Rows")]}, "PredictResponse"
    else:
        summary = "Predict in MLflow's scoring-server formats"
        description = (f"MLflow clients call this unchanged: dataframe_split, dataframe_records, "
                       f"instances or inputs, {limits}. A text/csv body (a header line with "
                       f"the column names, then one line per row; an empty field is a "
                       f"missing value) is read as MLflow's server reads one; it is not "
                       f"described as a schema here, since no JSON Schema can say which text "
                       f"is CSV.")
        body, answer = component("InvocationsRequest"), "InvocationsResponse"
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
        ok=_answer("The alerts.", closed_object({"alerts": {"type": "array",
                                                       "items": component("Alert")}})),
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
            "200": _answer("The acknowledged alert.", closed_object({"alert": component("Alert")})),
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
        "requestBody": {"required": True, "content": _content(component("FeedbackRequest"))},
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
          alerts: bool = False, feedback: bool = False,
          history: dict | None = None, dashboard: bool = False) -> dict[str, Any]:
    found = {
        "/predict": {"post": _predict_operation(card, "predict", max_rows, max_body_bytes,
                                                history)},
        "/invocations": {"post": _predict_operation(card, "invocations", max_rows,
                                                    max_body_bytes, history)},
        "/ping": _get("ping", "MLflow's liveness check: 200 while a model is served",
                      {"description": "Serving (the body is a newline, as MLflow's).",
                       "content": _content({"const": "\n"}, TEXT)}),
        "/version": _get("version", "The MLflow version whose scoring protocol this speaks",
                         {"description": "The version, as text (as MLflow's server sends it).",
                          "content": _content({"type": "string", "minLength": 1}, TEXT)}),
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
        "/openapi.json": _get("openapi", "This document", _answer("OpenAPI 3.1.", closed_object(
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
                               "serving).",
                               {"anyOf": [component("Error"), component("ReloadOutcome")]}),
                "500": _internal(),
            }}},
    }
    if alerts:
        found.update(_alert_paths())
    if feedback:
        found.update(_feedback_path())
    if history:
        found.update(_history_paths())
    if dashboard:
        found.update(_dashboard_paths())
    return found


def _dashboard_paths() -> dict[str, Any]:
    listed = {"type": "array", "items": {"type": "object"}}
    return {
        "/dashboard": _get("dashboard", "The live monitoring dashboard, a web page",
                           {"description": "The page; it polls /dashboard/data.",
                            "content": _content({"type": "string"}, "text/html")},
                           tag="monitor"),
        "/dashboard/data": _get(
            "dashboardData", "What the dashboard draws: traffic, latency, drift, live "
            "performance, retraining decisions and versions", tag="monitor",
            ok=_answer("The dashboard's data.", closed_object({
                "project": {"type": "string"}, "generated": {"type": "number"},
                "refresh_s": {"type": "number"}, "champion": {"type": "object"},
                "errors": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": "object"}, "charts": {"type": "object"},
                "features": listed, "decisions": listed, "served": listed,
                "versions": listed})),
            security=_open_or_keyed(), responses=_auth_errors(admin=False)),
    }


HISTORY_409 = ("A reading the history store refuses, nothing of the body stored: the same "
               "time already stored with other values, or a time older than the history kept "
               "for the entity.")


def _history_paths() -> dict[str, Any]:
    return {
        "/history": {"post": {
            "operationId": "backfillHistory", "tags": ["admin"],
            "summary": "Backfill readings into the history store, without scoring them",
            "description": "The body /predict takes; readings already stored are counted, "
                           "not stored twice; the answer comes once they are on disk.",
            "security": _admin_key(),
            "requestBody": {"required": True, "content": _content(
                {"oneOf": [component("Row"), component("Rows")]})},
            "responses": {
                "200": _answer("Stored.", closed_object({
                    "stored": {"type": "integer", "minimum": 0},
                    "already_stored": {"type": "integer", "minimum": 0},
                    "entities": {"type": "integer", "minimum": 1}})),
                **{status: _error(text, status) for status, text in PREDICT_ERRORS.items()
                   if status not in ("401", "403", "500", "503")},
                **_auth_errors(admin=True),
                "409": _error(HISTORY_409, "409"),
                "500": _internal(),
                "503": _error("The history store is unavailable; nothing was stored.", "503"),
            }}},
        "/history/{entity}": _get(
            "entityHistory", "What the history store keeps for an entity", tag="predict",
            ok=_answer("The entity's history.", closed_object({
                "entity": {"type": "string"}, "kept": {"type": "integer", "minimum": 1},
                "readings": {"type": "integer", "minimum": 1},
                "oldest_time": {"type": "number"}, "newest_time": {"type": "number"},
                "history_rows": {"type": "integer", "minimum": 1},
                "retention": {"type": "integer", "minimum": 1}})),
            security=_open_or_keyed(),
            parameters=[{"name": "entity", "in": "path", "required": True,
                         "schema": {"type": "string"}}],
            responses={**_auth_errors(admin=False),
                       "404": _error("No reading is stored for this entity.", "404"),
                       "503": _error("The history store is unavailable.", "503")}),
    }


def document(card: ModelCard, *, max_rows: int, max_body_bytes: int,
             alerts: bool = False, feedback: bool = False,
             history: dict | None = None,
             companions: dict[str, ModelCard] | None = None,
             dashboard: bool = False) -> dict[str, Any]:
    """The whole OpenAPI document for a server of ``card``'s model; ``alerts`` adds
    the alert routes (served when the project declares alert rules), ``feedback``
    the request ids and ``POST /feedback`` (served with a prediction log), ``history``
    (the history store's description) the raw-reading contract and ``/history``,
    ``companions`` (key -> card) their answers in each prediction, ``dashboard``
    the dashboard's page and data."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{card.name} ({card.task})", "version": card.version or "unregistered",
                 "description": ("Flags anomalies" if card.task == ANOMALY else
                                 f"Predicts '{card.target}'")
                                + ". Every refused request gets a 4xx "
                                f"(or 503 with Retry-After when overloaded) whose body is "
                                f"{{\"error\": one line, \"details\": [...]}}. {SECURITY_NOTE}"},
        "paths": paths(card, max_rows, max_body_bytes, alerts, feedback, history, dashboard),
        "components": {
            "schemas": schemas(card, max_rows, alerts, feedback, history, companions),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "'Authorization: Bearer KEY'. " + SECURITY_NOTE},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "The same keys, in the X-API-Key header."},
            },
        },
    }
