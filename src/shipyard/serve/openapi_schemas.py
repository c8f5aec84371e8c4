"""The schemas in a served model's OpenAPI document: rows, answers, feedback, the
model's description, built from its card (:mod:`shipyard.serve.openapi` puts them
in the document with the routes)."""

from __future__ import annotations

from typing import Any

from shipyard.card import ModelCard
from shipyard.metrics import ANOMALY, BINARY, CLASSIFICATION, TASKS
from shipyard.schema import Column
from shipyard.serve.predict import plain

JSON_TYPES = {"number": "number", "integer": "integer", "boolean": "boolean", "string": "string",
              "datetime": "string"}
# Not minimum/maximum: the server accepts integers that round to float64's largest
# value, and the document (encoded by orjson, 64-bit integers at most) cannot name the bound.
FLOAT64 = " within float64's range (|x| < 1.8e308; 1e400 is refused)"


def component(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed_object(properties: dict[str, Any], required: list[str] | None = None,
            **more: Any) -> dict[str, Any]:
    """A closed object: ``required`` defaults to every property."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False, **more}


# ----------------------------------------------------------------------------- rows

# A number written as text, as MLflow's clients may send one (/invocations only): JSON's
# number grammar, with digits bounded so that every match is a finite float64 (and an
# integer column's a whole number); shipyard.serve.formats reads exactly these.
NUMBER_TEXT = r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,17})?([eE][-+]?[0-9]{1,2})?$"
INTEGER_TEXT = r"^-?(0|[1-9][0-9]{0,14})$"


def column_schema(col: Column, mlflow: bool = False) -> dict[str, Any]:
    """A column's value: its JSON type, or null for a missing value; with ``mlflow``,
    a number column also takes its number written as text."""
    schema: dict[str, Any] = {"type": [JSON_TYPES[col.kind], "null"]}
    if mlflow and col.kind in ("number", "integer"):
        schema = {"type": [JSON_TYPES[col.kind], "string", "null"],
                  "pattern": NUMBER_TEXT if col.kind == "number" else INTEGER_TEXT}
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
    """The identifier key every row carries besides the inputs, unless it is one."""
    return card.entity if card.entity and card.entity not in card.schema.names else None


def row_schema(card: ModelCard, history: dict | None = None,
               mlflow: bool = False) -> dict[str, Any]:
    properties = {col.name: column_schema(col, mlflow) for col in card.schema.columns}
    required = list(card.schema.names)
    description = "One row: every input column, no others"
    entity = _entity(card)
    if entity:
        properties[entity] = {"not": {"type": "null"},
                              "description": "The entity's identifier (a string or a number): "
                                             "not a model input; outcomes are joined on it "
                                             "and alerts report it. Required."}
        required.insert(0, entity)
        description += f", and the entity '{entity}'"
    if history:
        for role, text in (("entity", "Whose reading this is"),
                           ("time", "When it was taken; it places the reading in the "
                                    "entity's history")):
            name = history[role]
            properties[name] = {**properties[name], "not": {"type": "null"}}
            properties[name]["description"] = f"{text}: required, not null."
        description += (f". One raw reading: the server keeps each {history['entity']}'s "
                        f"history and computes the windows itself")
    elif card.entity and card.entity in card.schema.names:
        properties[card.entity] = {**properties[card.entity], "not": {"type": "null"}}
    return closed_object(properties, required, description=description + ".")


def positional_schema(card: ModelCard) -> dict[str, Any]:
    """A row as a list of values in the schema's column order (MLflow's instances, inputs)."""
    n = len(card.schema.columns)
    return {"type": "array", "description": f"Values in the order {', '.join(card.schema.names)}.",
            "prefixItems": [column_schema(col, mlflow=True) for col in card.schema.columns],
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


def prediction_schema(card: ModelCard, ids: bool = False, history: dict | None = None,
                      companions: dict[str, ModelCard] | None = None) -> dict[str, Any]:
    """One item of ``predictions``, for the card's task; ``ids``: with its request id
    (a server with a prediction log); ``history``: with what the history store held;
    ``companions``: each companion's answer under its key."""
    found = _prediction_schema(card)
    for key, other in (companions or {}).items():
        found["properties"][key] = {**_prediction_schema(other),
                                    "description": f"{other.name} version {other.version}'s "
                                                   f"answer for this row (serve.companions)."}
        found["required"].append(key)
    if history:
        found["properties"].update({
            "history_rows": {"type": "integer", "minimum": 1, "maximum": history["history_rows"],
                             "description": "Readings of the entity the features were computed "
                                            "from, this one included (at most what the "
                                            "windows read)."},
            "history_note": {"type": "string",
                             "description": "Present when fewer readings were kept than the "
                                            "windows read (a longer-windowed new champion)."},
            "duplicate": {"const": True, "description": "This reading was already stored: "
                                                        "answered as before, not stored again."}})
        found["required"].append("history_rows")
    if ids:
        found["properties"]["request_id"] = {
            "type": "string", "description": "This row's id in the prediction log: send its "
                                             "true label to POST /feedback with it."}
        found["required"].append("request_id")
    return found


def _prediction_schema(card: ModelCard) -> dict[str, Any]:
    if card.task == ANOMALY:
        threshold = "" if card.threshold is None else f" (here {card.threshold:.6g})"
        return closed_object({"prediction": label_schema(card), "score": {
            "type": "number", "description": "The anomaly score, higher for more anomalous "
                                             "rows; a row is flagged where it is at least the "
                                             f"model's threshold{threshold}."}})
    if card.task not in CLASSIFICATION:
        return closed_object({"prediction": label_schema(card)})
    labels = [plain(c) for c in card.classes]
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    properties: dict[str, Any] = {
        "prediction": {"enum": labels, "description": "The most probable class (for binary "
                                                      "tasks: by the decision threshold)."}}
    if card.task == BINARY:
        positive = labels[-1] if card.positive_class is None else plain(card.positive_class)
        properties["probability"] = {**probability,
                                     "description": f"The probability of class {positive!r}."}
    properties["probabilities"] = closed_object({str(c): probability for c in labels},
                                          description="Each class's probability; they sum to 1.")
    return closed_object(properties)


def _model_info(card: ModelCard) -> dict[str, Any]:
    text, maybe_text = {"type": "string"}, {"type": ["string", "null"]}
    return closed_object({
        "name": text, "version": maybe_text, "run_id": maybe_text,
        "task": {"enum": list(TASKS)}, "target": maybe_text, "estimator": text,
        "serving": component("Serving"),
        "classes": {"type": "array", "description": "predict_proba's column order."},
        "positive_class": {"description": "Binary tasks: the class 'probability' is about."},
        "threshold": {"type": ["number", "null"]},
        "entity": maybe_text,
        "holdout_metrics": {"type": "object",
                            "additionalProperties": {"type": ["number", "null"]}},
        "inputs": {"type": "array", "items": closed_object({
            "name": text, "kind": {"enum": sorted(set(JSON_TYPES))}})},
        "required": {"type": "array", "items": text,
                     "description": "Keys every row must carry, not null: the entity, and "
                                    "the time when readings are scored from history."},
        "history": {"type": "array", "description": "Versions served, oldest first (at most 20).",
                    "items": closed_object({"version": maybe_text, "run_id": maybe_text,
                                      "path": {"enum": ["onnx", "python"]}, "note": text},
                                     ["version", "run_id", "path"])},
        "reload": closed_object({"interval_s": {"type": "number"}, "last_check": maybe_text,
                           "last_error": {"oneOf": [{"type": "null"}, component("ReloadError")]}},
                          description="Present when the server follows the registry."),
    }, ["name", "version", "run_id", "task", "target", "estimator", "serving", "classes",
        "positive_class", "threshold", "entity", "holdout_metrics", "inputs", "required",
        "history"],
        description=f"The served {card.task} model '{card.name}', how it is served and its "
                    f"input schema.")


def _alert() -> dict[str, Any]:
    maybe_text = {"type": ["string", "null"]}
    return closed_object({
        "id": {"type": "integer"}, "time": {"type": "string"},
        "alert": {"type": "string", "description": "The rule's name."},
        "model": component("Model"), "entity": {"description": "The row's entity identifier."},
        "prediction": {"type": "object"}, "input": {"type": "object"},
        "delivery": {"oneOf": [{"type": "null"}, closed_object({
            "state": {"enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": ["integer", "null"]}, "last_error": maybe_text})]},
        "acknowledged": {"type": "boolean"}, "acknowledged_at": maybe_text,
        "acknowledged_by": maybe_text,
    })


def _feedback_schemas(card: ModelCard, max_rows: int) -> dict[str, Any]:
    item = closed_object({"request_id": {"type": "string", "minLength": 1, "maxLength": 200,
                                   "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                   "description": "A request_id from a /predict answer."},
                    "label": {**label_schema(card), "description": "The true value."}})
    return {
        "FeedbackRequest": closed_object({"feedback": _rows(item, max_rows)}),
        "FeedbackAck": closed_object({
            "received": {"type": "integer", "minimum": 1},
            "stored": {"type": "integer", "minimum": 0, "description": "Labels new to the log."},
            "unchanged": {"type": "integer", "minimum": 0,
                          "description": "Labels the log already had (sent again)."}},
            description="Every label is on disk."),
    }


def schemas(card: ModelCard, max_rows: int, alerts: bool = False,
            feedback: bool = False, history: dict | None = None,
            companions: dict[str, ModelCard] | None = None) -> dict[str, Any]:
    model = closed_object({"name": {"type": "string"}, "version": {"type": ["string", "null"]}})
    reload_error = closed_object({"error": {"type": "string"},
                                  "version": {"type": ["string", "null"]},
                                  "at": {"type": "string"}})
    found = {
        "Row": row_schema(card, history),
        "MLflowRow": {**row_schema(card, history, mlflow=True),
                      "description": "A row as MLflow's clients send it: a number may also "
                                     "be written as text (\"700.5\")."},
        "Rows": _rows(component("Row"), max_rows),
        "PositionalRow": positional_schema(card),
        "Model": model,
        "Prediction": prediction_schema(card, ids=feedback, history=history,
                                        companions=companions),
        "PredictResponse": closed_object(
            {"model": component("Model"),
             "predictions": {"type": "array", "items": component("Prediction"), "minItems": 1}},
            description="One prediction per row, in request order (one for a single object)."),
        "InvocationsRequest": invocations_schema(card, max_rows),
        "InvocationsResponse": closed_object(
            {"predictions": {"type": "array", "items": label_schema(card), "minItems": 1}},
            description="MLflow's answer: one prediction per row, in request order."),
        "Health": closed_object({"status": {"enum": ["ok", "degraded"]},
                                 "model": component("Model"),
                           "reload": component("ReloadError"),
                           "monitoring": closed_object({
                               "ok": {"type": "boolean"}, "error": {"type": ["string", "null"]}},
                               description="Whether the latest monitoring pass ran; its error "
                                           "when it failed (status is then degraded)."),
                           "history": closed_object({
                               "ok": {"type": "boolean"}, "error": {"type": "string"}},
                               description="A history store that could not be warmed."),
                           "prediction_log": closed_object({
                               "ok": {"type": "boolean"}, "error": {"type": ["string", "null"]},
                               "dropped": {"type": "integer", "minimum": 0}},
                               description="Whether predictions are being logged; dropped: "
                                           "rows not logged (queue full).")},
                          ["status", "model"]),
        "Ready": closed_object({"status": {"const": "ready"}, "model": component("Model")}),
        "Serving": closed_object({
            "path": {"enum": ["onnx", "python"]}, "note": {"type": "string"},
            "steps": {"type": "array", "items": closed_object({
                "step": {"type": "string"}, "kind": {"type": "string"},
                "runs": {"enum": ["compiled", "python", "training only"]}},
                ["step", "kind", "runs"])},
            "history": closed_object({
                "entity": {"type": "string"}, "time": {"type": "string"},
                "history_rows": {"type": "integer", "minimum": 1},
                "retention": {"type": "integer", "minimum": 1}},
                description="Readings are scored from the server's history store: the "
                            "windows read history_rows readings; retention are kept.")},
            ["path", "steps"], description="Which engine scores, why not ONNX, and where each "
                                           "pipeline step runs."),
        "ModelInfo": _model_info(card),
        "ReloadError": reload_error,
        "ReloadOutcome": closed_object({
            "ok": {"type": "boolean"}, "version": {"type": ["string", "null"]},
            "changed": {"type": "boolean"}, "previous": {"type": ["string", "null"]},
            "seconds": {"type": "number"}, "error": {"type": "string"}, "at": {"type": "string"},
        }, ["ok", "version", "changed"]),
        "ErrorDetail": closed_object({
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
        "MLflowError": closed_object(
            {"error_code": {"type": "string", "minLength": 1},
             "message": {"type": "string", "minLength": 1}},
            description="MLflow's error shape, on /invocations: its clients read it."),
        "Error": closed_object({"error": {"type": "string", "minLength": 1,
                                    "description": "What was wrong, on one line."},
                          "details": {"type": "array", "items": component("ErrorDetail")}}),
    }
    if alerts:
        found["Alert"] = _alert()
    if feedback:
        found.update(_feedback_schemas(card, max_rows))
    return found


def invocations_schema(card: ModelCard, max_rows: int) -> dict[str, Any]:
    """MLflow's four request formats, each an object with exactly one of the keys."""
    names = card.schema.names
    either_row = {"oneOf": [component("MLflowRow"), component("PositionalRow")]}
    columns = {col.name: {**_rows(column_schema(col, mlflow=True), max_rows),
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
                "data": _rows(component("PositionalRow"), max_rows)},
            "required": ["columns", "data"]},
        "dataframe_records": _rows(component("MLflowRow"), max_rows),
        **{key: {"oneOf": [
            _rows(either_row, max_rows),
            closed_object(columns, names,
                          description="One list per column, all the same length.")]}
           for key in ("instances", "inputs")},
    }
    return {"oneOf": [closed_object({key: value, "params": {
        "description": "MLflow inference parameters: accepted and ignored."}}, [key],
        title=key) for key, value in formats.items()]}


# ----------------------------------------------------------------------------- paths
