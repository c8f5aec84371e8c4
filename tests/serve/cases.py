"""Bad requests and what the server must answer: status and part of the message."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 50
MAX_BODY_BYTES = 32 * 1024  # small limits keep the over-limit tests cheap

GOOD = {"age": 30, "income": 42.5, "member": True, "city": "Paris", "plan": "basic"}


def row(**changes: Any) -> dict:
    """GOOD with some values replaced."""
    return {**GOOD, **changes}


def post(body: Any = None, *, raw: bytes | str | None = None,
         content_type: str | None = "application/json") -> Callable[[], dict]:
    """A request to POST /predict, built fresh each time (stream bodies are one-shot)."""
    content = json.dumps(body) if raw is None else raw

    def make() -> dict:
        headers = {} if content_type is None else {"Content-Type": content_type}
        return {"method": "POST", "url": "/predict", "content": content, "headers": headers}
    return make


def chunked(size: int) -> Callable[[], dict]:
    """A body sent without Content-Length, so only counting the bytes can catch it."""
    def make() -> dict:
        def chunks():
            yield b"[" + b" " * (size - 1)
        return {"method": "POST", "url": "/predict", "content": chunks(),
                "headers": {"Content-Type": "application/json"}}
    return make


def call(method: str, url: str) -> Callable[[], dict]:
    return lambda: {"method": method, "url": url}


@dataclass(frozen=True)
class Case:
    id: str
    request: Callable[[], dict]
    status: int
    message: str
    body: Any = None  # the decoded JSON body, when it parses: checked against the OpenAPI schema


def json_case(id: str, body: Any, status: int, message: str) -> Case:
    return Case(id, post(body), status, message, body)


BAD_REQUESTS = [
    # the body is not JSON, or not strict JSON
    Case("truncated", post(raw='{"age": 30,'), 400, "malformed JSON at line 1, column 12"),
    Case("bad line", post(raw='[\n {"age": 1},\n {"age" 2}\n]'), 400,
         "malformed JSON at line 3, column 9: Expecting ':' delimiter"),
    Case("empty body", post(raw=""), 400, "malformed JSON at line 1, column 1"),
    Case("NaN", post(raw='{"age": 30, "income": NaN}'), 400, "NaN is not a JSON value"),
    Case("Infinity", post(raw='[{"income": Infinity}]'), 400, "Infinity is not a JSON value"),
    Case("-Infinity", post(raw='{"income": -Infinity}'), 400, "-Infinity is not a JSON value"),
    Case("not utf-8", post(raw=b'{"city": "Z\xfcrich"}'), 400, "not UTF-8: bad byte at offset 11"),
    Case("deep nesting", post(raw="[" * 20_000), 400, "nested too deeply"),
    Case("huge integer", post(raw="[" + "9" * 5000 + "]"), 400, "malformed JSON"),
    # the envelope
    Case("text/plain", post(GOOD, content_type="text/plain"), 415, "unsupported Content-Type"),
    Case("form", post(GOOD, content_type="application/x-www-form-urlencoded"), 415,
         "send application/json"),
    Case("no content type", post(GOOD, content_type=None), 415, "missing Content-Type"),
    Case("latin-1", post(GOOD, content_type="application/json; charset=latin-1"), 415,
         "the body must be utf-8"),
    Case("large body", post(raw=b" " * (MAX_BODY_BYTES + 1)), 413,
         f"request body too large: {MAX_BODY_BYTES + 1} bytes, at most {MAX_BODY_BYTES}"),
    Case("large chunked body", chunked(MAX_BODY_BYTES + 10), 413,
         f"request body too large: over {MAX_BODY_BYTES} bytes"),
    json_case("too many rows", [GOOD] * (MAX_ROWS + 1), 413,
              f"too many rows: {MAX_ROWS + 1}, at most {MAX_ROWS}"),
    json_case("empty list", [], 422, "empty list"),
    json_case("scalar body", 3, 422, "must be a JSON object (one row) or a list of objects"),
    json_case("null body", None, 422, "got null"),
    json_case("row not an object", [GOOD, GOOD, "age=3"], 422,
              "row 2 is not a JSON object (got a string)"),
    json_case("rows not objects", [[1], GOOD, None], 422,
              "2 rows are not JSON objects; first: row 0 is not a JSON object (got an array)"),
    # columns
    json_case("missing columns", {"age": 3, "member": False, "city": "Nice"}, 422,
              "row 0: missing columns 'income', 'plan'"),
    json_case("unknown column", row(colour="red"), 422, "row 0: unknown column 'colour'"),
    json_case("typo", {k if k != "city" else "ctiy": v for k, v in GOOD.items()}, 422,
              "unknown column 'ctiy' (did you mean 'city'?); missing column 'city'"),
    json_case("second row missing", [GOOD, row(plan=None), {}], 422,
              "row 2: missing columns 'age', 'income', 'member', 'city', 'plan'"),
    # values
    json_case("string for number", row(income="abc"), 422,
              "row 0, column 'income': expected a number or null, got string \"abc\""),
    json_case("numeric string", [GOOD, row(age="31")], 422,
              "row 1, column 'age': expected an integer or null, got string \"31\""),
    json_case("number for string", row(city=3), 422,
              "row 0, column 'city': expected a string or null, got 3"),
    json_case("bool for string", row(plan=False), 422,
              "column 'plan': expected a string or null, got false"),
    json_case("bool for number", row(income=True), 422,
              "column 'income': expected a number or null, got true"),
    json_case("bool for integer", row(age=False), 422,
              "column 'age': expected an integer or null, got false"),
    json_case("fraction for integer", row(age=30.5), 422,
              "row 0, column 'age': expected an integer or null, got 30.5"),
    json_case("number for boolean", row(member=1), 422,
              "column 'member': expected true, false or null, got 1"),
    json_case("string for boolean", row(member="yes"), 422, "got string \"yes\""),
    json_case("array value", row(income=[1, 2]), 422,
              "column 'income': expected a number or null, got an array"),
    json_case("object value", row(city={"name": "Paris"}), 422, "got an object"),
    Case("overflowing number", post(raw=json.dumps(GOOD).replace("42.5", "1e400")), 422,
         "column 'income': expected a number or null, got a number too large for float64"),
    json_case("overflowing integer", row(age=10**400), 422, "got an integer too large for float64"),
    json_case("many bad values", [row(income="a"), GOOD, row(age=1.5, city=7)], 422,
              "3 invalid values; first: row 0, column 'income'"),
    # routes and methods
    Case("unknown route", call("GET", "/nope"), 404,
         "no route for GET /nope; routes: POST /predict, POST /invocations, GET /health, "
         "GET /ping, GET /version, GET /ready, GET /model, GET /metrics, GET /openapi.json, "
         "POST /admin/reload"),
    Case("wrong method", call("GET", "/predict"), 405,
         "method not allowed: GET /predict; allowed: POST"),
    Case("post to health", call("POST", "/health"), 405, "allowed: GET, HEAD"),
]
