"""The prediction log in a real server: every answered row is logged with its id,
version, inputs and output, off the hot path; a store that is down costs no
prediction and shows in /health and /metrics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from shipyard.monitor.store import LogStore
from shipyard.serve import create_app, openapi
from shipyard.serve.background import BackgroundServer
from shipyard.serve.log import PredictionLog

from .cases import MAX_BODY_BYTES, MAX_ROWS
from .models import binary_model, raw_rows
from .test_routes import _sample

DOWN = "postgresql+psycopg://shipyard:secret@127.0.0.1:9/log"  # nothing listens on port 9


class logged_server:
    """A real server of ``model`` with a prediction log at ``url``: (client, log)."""

    def __init__(self, model, url: str, **log_options):
        self.log = PredictionLog(url, **log_options)
        self.app = create_app(model, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES,
                              log=self.log)

    def __enter__(self):
        self.server = BackgroundServer(self.app).__enter__()
        self.client = httpx.Client(base_url=self.server.url, timeout=10, trust_env=False)
        return self.client, self.log

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture(scope="module")
def model():
    return binary_model()


def test_every_answered_row_is_logged_under_its_id(model, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    rows = raw_rows(6, seed=4)
    with logged_server(model, url) as (client, log):
        answer = client.post("/predict", json=rows)
        mine = client.post("/predict", json=rows[0], headers={"X-Request-ID": "order-42"})
        unsafe = client.post("/predict", json=rows[0], headers={"X-Request-ID": "no way!"})
        mlflow = client.post("/invocations", json={"dataframe_records": rows[:2]})
        refused = client.post("/predict", json={"age": "x"})
        assert log.flush(5)
    assert answer.status_code == mine.status_code == mlflow.status_code == 200
    base = answer.headers["x-request-id"]
    items = answer.json()["predictions"]
    assert [item["request_id"] for item in items] == [f"{base}-{i}" for i in range(6)]
    assert mine.headers["x-request-id"] == "order-42"
    assert mine.json()["predictions"][0]["request_id"] == "order-42-0"
    assert unsafe.headers["x-request-id"] != "no way!"
    assert mlflow.json()["predictions"] in (["No", "No"], ["No", "Yes"], ["Yes", "No"],
                                            ["Yes", "Yes"])  # MLflow's shape: labels, no ids
    assert refused.status_code == 422 and refused.headers["x-request-id"]
    with LogStore(url) as store:
        got = store.predictions().set_index("request_id")
    invoked = mlflow.headers["x-request-id"]
    assert sorted(got.index) == sorted([f"{base}-{i}" for i in range(6)] + ["order-42-0",
                                       f"{unsafe.headers['x-request-id']}-0",
                                       f"{invoked}-0", f"{invoked}-1"])
    first = got.loc[f"{base}-0"]
    assert first["model_version"] == "3" and first["prediction"] == items[0]["prediction"]
    assert first["score"] == pytest.approx(items[0]["probability"], rel=1e-12)
    assert first["latency_ms"] > 0 and abs(first["ts"] - time.time()) < 60
    for i, row in enumerate(rows):
        logged = got.loc[f"{base}-{i}", ["age", "income", "member", "city", "plan"]]
        assert [None if v != v else v for v in logged] == [row[k] for k in logged.index]


def test_a_store_that_is_down_costs_no_prediction_and_is_reported(model):
    with logged_server(model, DOWN, backoff_cap_s=0.5, max_queued_rows=10) as (client, log):
        answers = [client.post("/predict", json=raw_rows(5, seed=s)) for s in range(6)]
        assert [a.status_code for a in answers] == [200] * 6
        assert _eventually(lambda: not client.get("/health").json()["prediction_log"]["ok"])
        health = client.get("/health").json()["prediction_log"]
        metrics = client.get("/metrics").text
    assert health["ok"] is False and "127.0.0.1:9/log is unavailable" in health["error"]
    assert "secret" not in health["error"]
    assert health["dropped"] >= 20  # 30 rows, at most 10 queued
    assert _sample(metrics, "shipyard_prediction_log_up") == 0
    assert _sample(metrics, "shipyard_prediction_log_rows_total", outcome="dropped") >= 20
    assert _sample(metrics, "shipyard_prediction_log_rows_total", outcome="written") == 0


def test_the_log_catches_up_when_the_store_comes_back(tmp_path: Path):
    blocker = tmp_path / "not-yet"
    blocker.write_text("a file where the store's folder should be")
    url = f"sqlite:///{blocker / 'p.db'}"
    log = PredictionLog(url, interval_s=0.05, backoff_cap_s=0.2)
    log.submit("a", 1.0, "1", [{"x": 1}], [{"prediction": 2.0}], 0.001)
    assert not log.flush(5)
    assert not log.status()["ok"] and "Cannot create the folder" in log.status()["error"]
    blocker.unlink()  # the folder can be made now
    assert _eventually(lambda: log.status()["ok"])
    log.submit("b", 2.0, "1", [{"x": 2}], [{"prediction": 3.0}], 0.001)
    assert log.flush(5)
    log.submit("b", 3.0, "1", [{"x": 2}], [{"prediction": 4.0}], 0.001)  # b-0 again
    log.close()
    assert log.status() == {"ok": True, "error": None, "written": 2, "duplicate": 1,
                            "dropped": 0, "failed": 0, "queued": 0}
    with LogStore(url) as store:
        assert store.predictions()["request_id"].tolist() == ["a-0", "b-0"]


def test_closing_writes_what_is_queued(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url, interval_s=60)  # would not write on its own for a minute
    for i in range(50):
        log.submit(f"q{i}", float(i), "7", [{"x": i}, {"x": -i}],
                   [{"prediction": "No", "probability": 0.1}, {"prediction": "Yes"}], 0.002)
    started = time.monotonic()
    log.close()
    assert time.monotonic() - started < 5
    log.submit("late", 99.0, "7", [{"x": 0}], [{"prediction": "No"}], 0.0)
    assert log.status()["dropped"] == 1  # after closing: counted, not written
    with LogStore(url) as store:
        got = store.predictions()
    assert len(got) == 100 and set(got["model_version"]) == {"7"}
    assert got["score"].iloc[0] == 0.1 and got["latency_ms"].iloc[0] == pytest.approx(2.0)


def test_submitting_only_queues_the_rows(tmp_path: Path):
    # The hot path hands rows over and goes on: nothing is written on its thread.
    # (Not timed: tests assert behaviour, benchmarks measure.)
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", max_queued_rows=10**7, interval_s=60)
    row, item = raw_rows(1, seed=1), [{"prediction": "No", "probability": 0.2}]
    n = 20_000
    for i in range(n):
        log.submit(f"id{i}", 0.0, "1", row, item, 0.001)
    assert log.status()["written"] == 0  # the writer waits out its interval
    log.close(timeout=60)
    assert log.status()["written"] == n


def test_a_server_with_a_log_documents_ids_and_feedback(model, tmp_path: Path):
    with logged_server(model, f"sqlite:///{tmp_path / 'p.db'}") as (client, _):
        doc = client.get("/openapi.json").json()
        answer = client.post("/predict", json=raw_rows(3, seed=2))
        health = client.get("/health").json()
    assert doc == openapi.document(model.card, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES,
                                   feedback=True)
    assert "/feedback" in doc["paths"]
    assert "request_id" in doc["components"]["schemas"]["Prediction"]["required"]
    for component, body in (("PredictResponse", answer.json()), ("Health", health)):
        Draft202012Validator({**doc, "$ref": f"#/components/schemas/{component}"}).validate(body)
    assert health["prediction_log"] == {"ok": True, "error": None, "dropped": 0}


def _eventually(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_personal_inputs_are_left_out_of_the_log(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url, interval_s=0.05)
    log.submit("p", 1.0, "1", [{"x": 1, "email": "ana@example.org"}, {"x": 2}],
               [{"prediction": 2.0}, {"prediction": 3.0}], 0.001, ("email",))
    log.submit("q", 2.0, "1", [{"x": 3, "email": "bo@example.org"}], [{"prediction": 4.0}],
               0.001)
    assert log.flush(5)
    log.close()
    with LogStore(url) as store:
        logged = store.predictions()
    assert logged["x"].tolist() == [1, 2, 3]
    # the model whose card names 'email' as personal never wrote it; one that did not, did
    assert logged["email"].isna().tolist() == [True, True, False]


def test_generated_request_ids_sort_in_time_and_do_not_repeat():
    """Time-ordered ids keep the log's primary key growing at its end (random ones made
    each insert touch a random page of a large index)."""
    import time

    from shipyard.serve.hot import _new_id

    first = _new_id()
    time.sleep(0.002)
    burst = [_new_id() for _ in range(10_000)]
    assert all(first < later for later in burst)
    assert len(set(burst)) == len(burst)
