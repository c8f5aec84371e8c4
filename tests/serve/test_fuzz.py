"""The live server keeps the contract it publishes: schemathesis loads each
server's own /openapi.json over HTTP and fuzzes every operation in it with valid
and invalid requests. No answer may be a 5xx; every answer must have a
documented status, content type, headers and body; every 4xx names its reason.

Each operation is its own pytest case, driven by ``operation.as_strategy()`` under
Hypothesis: ``schemathesis.pytest.from_fixture`` (the way to fuzz a server that a
fixture starts) fails on pytest 9.2, whose nodes no longer have ``_nodeid``.

Bugs the fuzzer and hand probing found are pinned at the end as regression cases.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode

from shipyard.monitor.store import LogStore
from shipyard.serve import create_app, openapi
from shipyard.serve.alerts import AlertSink, AlertStore, Rules, routes
from shipyard.serve.auth import Keys
from shipyard.serve.background import BackgroundServer
from shipyard.serve.dashboard import routes as dashboard_routes
from shipyard.serve.log import PredictionLog
from shipyard.spec.serving import Alert, Auth

from .cases import MAX_BODY_BYTES, MAX_ROWS
from .models import binary_model, raw_rows, regression_model

TASKS = ("binary", "regression")
OPERATIONS = ("POST /predict", "POST /invocations", "GET /health", "GET /ping", "GET /version",
              "GET /ready", "GET /model", "GET /metrics", "GET /openapi.json",
              "POST /admin/reload")
WITH_INPUT = ("POST /predict", "POST /invocations")  # the others take nothing to break
ALERT_OPERATIONS = ("GET /alerts", "POST /alerts/{id}/ack")
KEYED = ("POST /predict", "POST /invocations", "GET /model", "POST /admin/reload",
         *ALERT_OPERATIONS)
API_KEY, ADMIN_KEY = "fuzz-api-key-0123456789", "fuzz-admin-key-0123456789"

# The checks call_and_validate runs, declared as a schemathesis.toml would: these and
# no others (the rest probe stateful resources and links, which this API does not have).
CONFIG = {
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        "positive_data_acceptance": {"enabled": True},
        # 413 (more rows than maxItems) is a refusal too; a 5xx fails not_a_server_error.
        "negative_data_rejection": {"enabled": True, "expected-statuses": [
            400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]},
        "error_is_one_line": {"enabled": True},
    },
}
# Derandomized: the same requests every run, so a failure reproduces. About 30 s in all.
FUZZ = settings(max_examples=75, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


@schemathesis.check
def error_is_one_line(ctx, response, case) -> None:
    """Every 4xx body is JSON with a non-empty, one-line "error" string (MLflow's
    "message" on /invocations, beside its "error_code")."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} body is not JSON: "
                             f"{response.content[:200]!r}") from None
    mlflow = isinstance(body, dict) and "error_code" in body
    error = body.get("message" if mlflow else "error") if isinstance(body, dict) else None
    if not isinstance(error, str) or not error.strip() or "\n" in error:
        raise AssertionError(f"{response.status_code} body has no one-line 'error': {body!r}")


def config(**more) -> schemathesis.Config:
    return schemathesis.Config.from_dict({**CONFIG, **more})


# ----------------------------------------------------------------------------- servers

@pytest.fixture(scope="module")
def session():
    # trust_env=False: a proxy from the environment must not see loopback traffic
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture(scope="module")
def live(served) -> dict:
    """The schema each running server publishes, loaded from its own URL."""
    return {task: schemathesis.openapi.from_url(
        f"{served[task].client.base_url}/openapi.json", config=config(),
        proxies={"no_proxy": "127.0.0.1"})  # as above, for the schema's own request
        for task in TASKS}


@pytest.fixture(scope="module")
def alerting(tmp_path_factory):
    """A real server with keys (predictions keyed) and an alert rule every prediction
    meets, holding five alerts: (url, the document it should publish)."""
    model = binary_model()
    keys = Keys.load(Auth(predict="keyed"), Path("."),
                     environ={"SHIPYARD_API_KEYS": API_KEY, "SHIPYARD_ADMIN_KEY": ADMIN_KEY})
    store = AlertStore(tmp_path_factory.mktemp("alerts") / "alerts.db")
    rules = Rules.compile([Alert(name="any", when="probability >= 0")], model.card)
    app = create_app(model, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES, keys=keys,
                     alerts=AlertSink(rules, store, model.card), extra_routes=routes(store, keys))
    with BackgroundServer(app) as server:
        answer = httpx.post(f"{server.url}/predict", json=raw_rows(5, seed=1), trust_env=False,
                            headers={"X-API-Key": API_KEY})
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 10
        while len(store.list()) < 5 and time.monotonic() < deadline:  # the sink's own thread
            time.sleep(0.02)
        yield server.url, openapi.document(model.card, max_rows=MAX_ROWS,
                                           max_body_bytes=MAX_BODY_BYTES, alerts=True)
    store.close()


# ----------------------------------------------------------------------------- fuzzing

def same_length_columns(case):
    """MLflow's columnar ``inputs`` and ``instances`` need every column equally long,
    which JSON Schema cannot say (the document says it in words): cut valid ones to
    the shortest."""
    for key in ("inputs", "instances"):
        columns = case.body.get(key) if isinstance(case.body, dict) else None
        if isinstance(columns, dict) and columns:
            n = min(len(values) for values in columns.values())
            case.body = {**case.body, key: {k: v[:n] for k, v in columns.items()}}
    return case


def fuzz(schema, label: str, mode: GenerationMode, session: requests.Session,
         expect: set[int] | None = None, **call) -> None:
    """Send up to ``FUZZ.max_examples`` generated requests to one operation; check each
    answer (and that its status is in ``expect``, when given)."""
    method, path = label.split(" ")
    cases = schema[path][method].as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        cases = cases.map(same_length_columns)

    @FUZZ
    @given(case=cases)
    def run(case) -> None:
        response = case.call_and_validate(session=session, **call)
        assert expect is None or response.status_code in expect, response.text

    run()


@pytest.mark.parametrize("task", TASKS)
def test_the_fuzzed_operations_are_all_the_documented_ones(live, task):
    documented = {f"{method.upper()} {path}"
                  for path, methods in live[task].raw_schema["paths"].items() for method in methods}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("label", OPERATIONS)
def test_valid_requests_keep_the_contract(live, session, task, label):
    fuzz(live[task], label, GenerationMode.POSITIVE, session)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("label", WITH_INPUT)
def test_malformed_requests_are_refused_with_a_reason(live, session, task, label):
    fuzz(live[task], label, GenerationMode.NEGATIVE, session)


def _no_constants(token: str):
    raise ValueError(token)


def parses(raw: bytes, constants: bool = False) -> bool:
    """Whether ``raw`` is still strict JSON (a splice inside a string may leave it so);
    with ``constants``, NaN and Infinity tokens count as JSON (MLflow's clients send them)."""
    try:
        json.loads(raw, parse_constant=float if constants else _no_constants)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return False
    return True


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("label", WITH_INPUT)
def test_broken_json_is_refused_with_a_reason(served, live, session, task, label):
    """Not even JSON: a valid body cut short, or with a NaN token or a byte that is not
    UTF-8 spliced in. Always 400 (413 when over the size limit), in the error shape."""
    method, path = label.split(" ")
    schema = live[task]
    error = Draft202012Validator({**schema.raw_schema, "$ref": _error_shape(path)})
    valid = schema[path][method].as_strategy().map(same_length_columns)

    @settings(FUZZ, max_examples=30)
    @given(case=valid, where=st.floats(0, 1, exclude_max=True),
           splice=st.sampled_from([b"", b"NaN", b"Infinity", b"\xff", b"{", b"'"]))
    def run(case, where, splice) -> None:
        raw = json.dumps(case.body).encode()
        at = int(where * len(raw))
        broken = raw[:at] + splice + raw[at:] if splice else raw[:at]
        assume(not parses(broken, constants=path == "/invocations"))
        response = session.post(f"{served[task].client.base_url}{path}", data=broken,
                                headers={"Content-Type": "application/json"})
        assert response.status_code == (413 if len(broken) > MAX_BODY_BYTES else 400), \
            (broken[:300], response.text)
        error.validate(response.json())
        error_is_one_line(None, response, case)

    run()


def test_a_server_with_alerts_documents_the_alert_routes(alerting):
    url, expected = alerting
    published = httpx.get(f"{url}/openapi.json", trust_env=False).json()
    assert set(published["paths"]) == set(expected["paths"])


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
@pytest.mark.parametrize("label", ALERT_OPERATIONS)
def test_the_alert_routes_keep_the_contract(alerting, session, label, mode):
    # From the document the server publishes, sent to
    # the live server with the admin key, which opens every route.
    url, document = alerting
    schema = schemathesis.openapi.from_dict(document, config=config(**{"base-url": url}))
    fuzz(schema, label, mode, session, headers={"Authorization": f"Bearer {ADMIN_KEY}"})


@pytest.mark.parametrize("label", KEYED)
def test_keyed_routes_refuse_requests_without_a_valid_key(alerting, session, label):
    # No key, or random ones (schemathesis fills in the security schemes): 401 or 403,
    # with the documented WWW-Authenticate header on a 401.
    url, document = alerting
    schema = schemathesis.openapi.from_dict(document, config=config(**{"base-url": url}))
    fuzz(schema, label, GenerationMode.POSITIVE, session, expect={401, 403})


@pytest.fixture(scope="module", params=["binary", "regression"])
def logging(request, tmp_path_factory):
    """A real server with a prediction log (so ``/feedback``) and the dashboard, as
    ``shipyard serve`` runs one with monitoring: the schema it publishes, loaded
    from its own URL, holding some logged predictions."""
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'predictions.db'}"
    log, store = PredictionLog(url), LogStore(url)
    model = binary_model() if request.param == "binary" else regression_model()
    app = create_app(model, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES, log=log,
                     extra_routes=dashboard_routes(store, None, "fuzz"))
    with BackgroundServer(app) as server:
        answer = httpx.post(f"{server.url}/predict", json=raw_rows(5, seed=2), trust_env=False)
        assert answer.status_code == 200, answer.text
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config(),
                                            proxies={"no_proxy": "127.0.0.1"})
    store.close()


LOGGING_OPERATIONS = (*OPERATIONS, "POST /feedback", "GET /dashboard", "GET /dashboard/data")


def test_a_server_with_a_log_and_the_dashboard_documents_every_route(logging):
    documented = {f"{method.upper()} {path}"
                  for path, methods in logging.raw_schema["paths"].items() for method in methods}
    assert documented == set(LOGGING_OPERATIONS)


@pytest.mark.parametrize("label", ["POST /feedback", "GET /dashboard", "GET /dashboard/data",
                                   "GET /health", "GET /metrics"])
def test_the_log_and_dashboard_routes_keep_the_contract(logging, session, label):
    fuzz(logging, label, GenerationMode.POSITIVE, session)


def test_malformed_feedback_is_refused_with_a_reason(logging, session):
    fuzz(logging, "POST /feedback", GenerationMode.NEGATIVE, session)


# ------------------------------------------------------------------- bugs found, now fixed

def bug(id: str, reason: str, method: str, url: str, status: int, **send):
    """A request that once got a 5xx or an off-schema body (see ``reason``); it must
    be refused with ``status`` and the Error body."""
    return pytest.param(method, url, send, status, id=id)


ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
ROW = [30, 42.5, True, "Paris", "basic"]
FIXED_BUGS = [
    bug("split-list-column", "formats.py: a list as a dataframe_split column name is "
        "unhashable; the TypeError is answered as a 500 'the model failed'",
        "POST", "/invocations", 422, json={"dataframe_split": {"columns": [[1]], "data": [[1]]}}),
    bug("split-null-column", "formats.py: a non-string column name is echoed in "
        "details[].unknown, which the Error schema says holds strings",
        "POST", "/invocations", 422, json={"dataframe_split": {
            "columns": [None, "income", "member", "city", "plan"], "data": [ROW]}}),
    bug("alerts-limit-superscript", "alerts.py: limit=² passes str.isdigit, then int() "
        "raises ValueError: a 500", "GET", "/alerts?limit=%C2%B2", 400),
    bug("ack-id-superscript", "alerts.py: id ² passes str.isdigit, then int() raises "
        "ValueError: a 500", "POST", "/alerts/%C2%B2/ack", 404, headers=ADMIN),
    bug("ack-id-over-64-bits", "alerts.py: an id beyond SQLite's 64-bit INTEGER raises "
        "OverflowError: a 500", "POST", "/alerts/99999999999999999999/ack", 404, headers=ADMIN),
    bug("ack-deep-body", "alerts.py: json.loads of a deeply nested body raises "
        "RecursionError: a 500", "POST", "/alerts/1/ack", 400, headers=ADMIN,
        content=b"[" * 100_000),
]


@pytest.mark.parametrize(("method", "url", "send", "status"), FIXED_BUGS)
def test_fixed_bug_stays_fixed(alerting, method, url, send, status):
    base, document = alerting
    send = {**send, "headers": {"X-API-Key": API_KEY, **send.get("headers", {})}}
    # A fresh connection each: after a 500 from a Starlette route uvicorn drops the connection.
    response = httpx.request(method, f"{base}{url}", trust_env=False, timeout=10, **send)
    # The server logs a 500's traceback on its event loop after answering; once it
    # answers again it is done. Python 3.11 formats tracebacks with the ast module, whose
    # state two threads must not share ("AST constructor recursion depth mismatch").
    httpx.get(f"{base}/health", trust_env=False, timeout=10)
    assert response.status_code == status, response.text
    error = Draft202012Validator({**document, "$ref": _error_shape(url)})
    error.validate(response.json())


def _error_shape(path: str) -> str:
    """Shipyard's error schema, or MLflow's on its scoring route."""
    name = "MLflowError" if path.startswith("/invocations") else "Error"
    return f"#/components/schemas/{name}"
