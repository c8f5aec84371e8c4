"""Alerts: rules checked against the model card, a SQLite store shared by
processes, webhook delivery to a real local HTTP receiver, and the HTTP routes
through a real server."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shipyard.card import ModelCard
from shipyard.schema import Column, Schema
from shipyard.serve.alerts import (
    AlertConfigError,
    AlertSink,
    AlertStore,
    Record,
    Rules,
    routes,
)
from shipyard.serve.auth import Keys
from shipyard.serve.background import BackgroundServer, free_port
from shipyard.spec.serving import Alert, Auth

SCHEMA = Schema((Column("cycles", "integer"), Column("egt_margin", "number"),
                 Column("member", "boolean"), Column("city", "string"),
                 Column("built", "datetime")))
REGRESSION = ModelCard(name="fleet-rul", task="regression", target="rul", schema=SCHEMA,
                       entity="engine_id").with_version("4")
BINARY = ModelCard(name="churn", task="binary", target="churned", schema=SCHEMA,
                   classes=("No", "Yes"), positive_class="Yes").with_version("2")
MULTICLASS = ModelCard(name="tier", task="multiclass", target="tier", schema=SCHEMA,
                       classes=(0, 1, 2))
API, ADMIN = "api-key-0123456789abcdef", "admin-key-0123456789abcdef"


def alert(name: str, when: str, **kw) -> Alert:
    return Alert(name=name, when=when, **kw)


def row(engine: int | str | None = 1, **values) -> dict:
    base = {"cycles": 120, "egt_margin": 12.0, "member": False, "city": "Nice",
            "built": "2020-01-01T00:00:00"}
    return {**base, **values, **({"engine_id": engine} if engine is not None else {})}


# ----------------------------------------------------------------------------- rules

def test_rules_match_rows_and_predictions():
    rules = Rules.compile([
        alert("low_rul", "prediction < 30"),
        alert("worn", "cycles >= 200 and egt_margin < 5"),
        alert("watch", "city == 'Paris' or member == 1 and prediction < 100"),
        alert("engine_7", "engine_id == 7"),
    ], REGRESSION)
    rows = [row(1), row(2, cycles=250, egt_margin=3.5), row(3, city="Paris"),
            row(4, member=True), row(7, member=True)]
    items = [{"prediction": 25.0}, {"prediction": 80.0}, {"prediction": 500.0},
             {"prediction": 150.0}, {"prediction": 99.0}]
    assert rules.match(rows, items) == [
        (0, "low_rul"), (1, "worn"), (2, "watch"), (4, "watch"), (4, "engine_7")]


def test_missing_values_never_match():
    rules = Rules.compile([alert("a", "egt_margin < 5"), alert("b", "egt_margin != 5"),
                           alert("c", "city != 'Nice'")], REGRESSION)
    rows = [row(egt_margin=None, city=None), {"cycles": 3}]
    assert rules.match(rows, [{"prediction": 1.0}] * 2) == []


def test_binary_and_multiclass_fields():
    binary = Rules.compile([alert("likely", "probability > 0.8"),
                            alert("yes", "prediction == 'Yes' and city != 'Nice'")], BINARY)
    items = [{"prediction": "Yes", "probability": 0.9, "probabilities": {}},
             {"prediction": "Yes", "probability": 0.6, "probabilities": {}}]
    assert binary.match([row(), row(city="Lyon")], items) == [(0, "likely"), (1, "yes")]
    multi = Rules.compile([alert("top", "prediction == 2"), alert("low", "prediction < 1")],
                          MULTICLASS)
    items = [{"prediction": 2}, {"prediction": 0}, {"prediction": 1}]
    assert multi.match([row()] * 3, items) == [(0, "top"), (1, "low")]


def test_anomaly_fields_are_the_flag_and_the_score():
    card = ModelCard(name="engines", task="anomaly", target="failed", schema=SCHEMA)
    rules = Rules.compile([alert("flagged", "prediction == 1"), alert("odd", "score > 0.6")],
                          card)
    items = [{"prediction": True, "score": 0.7}, {"prediction": False, "score": 0.2}]
    assert rules.match([row()] * 2, items) == [(0, "flagged"), (0, "odd")]
    with pytest.raises(AlertConfigError, match="'score' is an anomaly detector's"):
        Rules.compile([alert("odd", "score > 0.6")], REGRESSION)
    with pytest.raises(AlertConfigError, match="an anomaly flag is true or false"):
        Rules.compile([alert("odd", "prediction == 'yes'")], card)


def test_rules_may_name_a_companions_answer():
    detector = ModelCard(name="engines", task="anomaly", target=None, schema=SCHEMA)
    both = {"anomaly": detector}
    rules = Rules.compile([alert("odd", "anomaly.score > 0.6 and prediction < 100"),
                           alert("flagged", "anomaly.prediction == 1")], REGRESSION, both)
    items = [{"prediction": 50.0, "anomaly": {"prediction": True, "score": 0.7}},
             {"prediction": 500.0, "anomaly": {"prediction": False, "score": 0.9}},
             {"prediction": 50.0}]  # an answer without the companion's never matches
    assert rules.match([row()] * 3, items) == [(0, "odd"), (0, "flagged")]
    for when, message in [
            ("anomaly.scor > 0.6", "'anomaly' answers anomaly.prediction, anomaly.score; "
                                   "'anomaly.scor' is not one of them"),
            ("anomaly.probability > 0.6", "anomaly: 'probability' is the positive class's"),
            ("anomaly.score == 'high'", "anomaly: a score is a number"),
            ("other.score > 0.6", "unknown field 'other.score'"),
    ]:
        with pytest.raises(AlertConfigError) as caught:
            Rules.compile([alert("bad", when)], REGRESSION, both)
        assert message in str(caught.value), str(caught.value)
    with pytest.raises(AlertConfigError, match="known: .*anomaly.prediction, anomaly.score, "
                                               "x.prediction\n"):
        Rules.compile([alert("bad", "anomly.score > 1")], REGRESSION, {**both, "x": REGRESSION})


@pytest.mark.parametrize("card, when, message", [
    (REGRESSION, "egt_margn < 5",
     "alert 'bad' ('egt_margn < 5'): unknown field 'egt_margn' (did you mean 'egt_margin'?); "
     "known: prediction, cycles, egt_margin, member, city, built, engine_id"),
    (REGRESSION, "probability > 0.5",
     "'probability' is the positive class's probability; only binary models have it"),
    (MULTICLASS, "probability > 0.5", "only binary models have it, this one is multiclass"),
    (REGRESSION, "prediction == 'high'", "a regression prediction is a number"),
    (REGRESSION, "cycles == 'many'", "'cycles' is a integer column; compare it with a number"),
    (REGRESSION, "city < 3", "'city' is a string column; compare it with == or != and quoted"),
    (BINARY, "prediction == 'Yess'", "'Yess' is not a class (did you mean 'Yes'?); classes: No"),
    (BINARY, "prediction > 0", "the classes are text (No, Yes); write prediction == 'Yes'"),
])
def test_rules_that_do_not_fit_the_model_are_refused(card, when, message):
    with pytest.raises(AlertConfigError) as caught:
        Rules.compile([alert("fine", "cycles > 1"), alert("bad", when)], card)
    assert "do not fit model" in caught.value.headline
    assert len(caught.value.details) == 1 and message in caught.value.details[0]
    assert caught.value.details[0].startswith(f"alert 'bad' ({when!r}): ")


def test_every_misfit_is_reported_at_once():
    with pytest.raises(AlertConfigError) as caught:
        Rules.compile([alert("a", "x < 1 or y < 2"), alert("b", "z > 3")], REGRESSION)
    assert [d.split("): ")[1].split(";")[0] for d in caught.value.details] == [
        "unknown field 'x'", "unknown field 'y'", "unknown field 'z'"]


# ----------------------------------------------------------------------------- store

def record(name: str = "low_rul", entity=7, **kw) -> Record:
    return Record(alert=name, time="2026-05-09T10:00:00.000+00:00", model="fleet-rul",
                  version="4", entity=entity, prediction={"prediction": 12.5},
                  input=row(entity, **kw))


def test_store_adds_lists_and_acknowledges(tmp_path: Path):
    with AlertStore(tmp_path / "a" / "alerts.db") as store:
        ids = store.add([record(entity=7), record("worn", entity="ESN-9"), record(entity=None)])
        assert ids == [1, 2, 3]
        listed = store.list()
        assert [a["id"] for a in listed] == [3, 2, 1]  # newest first
        first = listed[-1]
        assert first == {
            "id": 1, "time": "2026-05-09T10:00:00.000+00:00", "alert": "low_rul",
            "model": {"name": "fleet-rul", "version": "4"}, "entity": 7,
            "prediction": {"prediction": 12.5}, "input": row(7), "delivery": None,
            "acknowledged": False, "acknowledged_at": None, "acknowledged_by": None}
        assert listed[1]["entity"] == "ESN-9" and listed[0]["entity"] is None
        assert store.acknowledge(2, by="ana") and store.acknowledge(2, by="bo")
        assert not store.acknowledge(99)
        acked = store.get(2)
        assert acked["acknowledged"] and acked["acknowledged_by"] == "ana"  # the first one
        assert acked["acknowledged_at"].endswith("+00:00")
        assert [a["id"] for a in store.list(unacknowledged_only=True)] == [3, 1]
        assert [a["id"] for a in store.list(limit=1)] == [3]
    with sqlite3.connect(tmp_path / "a" / "alerts.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def write_alerts(path: str, tag: str, n: int, start) -> None:
    """In a child process: n alerts, one transaction each, as a server worker would."""
    start.wait(30)
    with AlertStore(Path(path)) as store:
        for i in range(n):
            store.add([record(tag, entity=i)])


def test_two_processes_write_to_one_store(tmp_path: Path):
    path, n = tmp_path / "alerts.db", 150
    # fork is fast (nothing to import again) but unsafe once other threads run, as
    # in a whole-suite run with servers up; spawn then.
    alone = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if alone else "spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=write_alerts, args=(str(path), tag, n, start))
               for tag in ("w1", "w2")]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    with AlertStore(path) as store:
        found = store.list(limit=1000)
    assert len(found) == 2 * n and len({a["id"] for a in found}) == 2 * n
    for tag in ("w1", "w2"):
        assert sorted(a["entity"] for a in found if a["alert"] == tag) == list(range(n))


# ----------------------------------------------------------------------------- webhooks

class Receiver:
    """A real HTTP server on a free loopback port: answers the nth POST with
    ``statuses[n]`` (200 after the list), optionally holding answers until
    ``release`` is set; keeps every request's headers and body."""

    def __init__(self, statuses: tuple[int, ...] = (), hold: bool = False):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes, int]] = []
        self.arrived, self.release = threading.Event(), threading.Event()
        if not hold:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived.set()
                receiver.release.wait(10)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=s3cret"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @property
    def accepted(self) -> list[dict]:
        return [json.loads(body) for _, body, status in self.requests if status < 300]


def sink_for(store: AlertStore, url: str, retries: int = 5, **kw) -> AlertSink:
    rules = Rules.compile([alert("low_rul", "prediction < 30", webhook=url, retries=retries,
                                 backoff_s=0.05)], REGRESSION)
    return AlertSink(rules, store, REGRESSION, timeout_s=2, **kw)


ROWS = [row(7, cycles=300), row(8)]
ITEMS = [{"prediction": 12.0}, {"prediction": 90.0}]  # only the first row raises an alert


def test_webhook_is_retried_on_503_then_delivered_once(tmp_path: Path):
    with Receiver(statuses=(503, 503)) as receiver, AlertStore(tmp_path / "a.db") as store:
        sink = sink_for(store, receiver.url)
        sink.submit(ROWS, ITEMS)
        sink.close(timeout=10)
        assert [status for _, _, status in receiver.requests] == [503, 503, 200]
        assert len({h["X-Shipyard-Alert-Id"] for h, _, _ in receiver.requests}) == 1
        (sent,) = receiver.accepted
        assert sent["alert"] == "low_rul" and sent["entity"] == 7 and sent["id"] == 1
        assert sent["model"] == {"name": "fleet-rul", "version": "4"}
        assert sent["prediction"] == {"prediction": 12.0} and sent["input"] == ROWS[0]
        (stored,) = store.list()
        assert stored["delivery"] == {"state": "delivered", "attempts": 3, "last_error": None}
    assert (sink.submitted, sink.recorded, sink.delivered, sink.failed, sink.dropped,
            sink.errors) == (1, 1, 1, 0, 0, 0)


def test_webhook_down_fails_after_retries_without_slowing_submit(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    with AlertStore(tmp_path / "a.db") as store:
        sink = sink_for(store, url, retries=2)
        started = time.perf_counter()
        for _ in range(3):
            sink.submit(ROWS, ITEMS)
        assert time.perf_counter() - started < 0.05
        sink.close(timeout=10)
        found = store.list()
        assert len(found) == 3
        for stored in found:
            delivery = stored["delivery"]
            assert delivery["state"] == "failed" and delivery["attempts"] == 3
            assert delivery["last_error"].startswith("cannot connect: ")
    assert (sink.delivered, sink.failed, sink.errors) == (0, 3, 0)


def test_client_errors_are_not_retried(tmp_path: Path):
    with Receiver(statuses=(400,)) as receiver, AlertStore(tmp_path / "a.db") as store:
        sink = sink_for(store, receiver.url)
        sink.submit(ROWS, ITEMS)
        sink.close(timeout=10)
        assert len(receiver.requests) == 1
        assert store.list()[0]["delivery"] == {
            "state": "failed", "attempts": 1, "last_error": "HTTP 400"}


def test_a_full_queue_drops_batches_and_counts_them(tmp_path: Path):
    with Receiver(hold=True) as receiver, AlertStore(tmp_path / "a.db") as store:
        sink = sink_for(store, receiver.url, queue_size=1)
        sink.submit(ROWS, ITEMS)
        assert receiver.arrived.wait(10)  # the sink's thread now waits on the receiver
        for _ in range(4):
            sink.submit(ROWS, ITEMS)  # one fits in the queue, three do not
        assert (sink.submitted, sink.dropped) == (2, 3)
        receiver.release.set()
        sink.close(timeout=10)
        sink.submit(ROWS, ITEMS)  # after close: dropped, not raised
        assert (sink.submitted, sink.dropped, sink.recorded, sink.delivered) == (2, 4, 2, 2)
        assert len(receiver.accepted) == 2


def test_close_gives_up_on_deliveries_still_waiting(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}/hook"
    rules = Rules.compile([alert("low_rul", "prediction < 30", webhook=url, retries=5,
                                 backoff_s=30)], REGRESSION)
    with AlertStore(tmp_path / "a.db") as store:
        sink = AlertSink(rules, store, REGRESSION, timeout_s=2)
        sink.submit(ROWS, ITEMS)
        started = time.perf_counter()
        sink.close(timeout=0.3)
        assert time.perf_counter() - started < 3
        delivery = store.list()[0]["delivery"]
        assert delivery["state"] == "failed" and delivery["attempts"] == 1


# ----------------------------------------------------------------------------- routes

async def health(request):
    return PlainTextResponse("ok")


@pytest.fixture
def alerts_api(tmp_path: Path):
    """A real server with the alert routes over a store holding three alerts."""

    def serve(keys: Keys):
        store = AlertStore(tmp_path / "alerts.db")
        store.add([record("low_rul", entity=1), record("worn", entity=2),
                   record("low_rul", entity=3)])
        app = Starlette(routes=[*routes(store, keys), Route("/health", health)])
        server = BackgroundServer(app).__enter__()
        client = httpx.Client(base_url=server.url, timeout=10, trust_env=False)
        opened.append((store, server, client))
        return client

    opened: list = []
    yield serve
    for store, server, client in opened:
        client.close()
        server.stop()
        store.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_routes_list_and_acknowledge_with_keys(alerts_api):
    keys = Keys.load(Auth(predict="keyed"), Path("."),
                     {"SHIPYARD_API_KEYS": API, "SHIPYARD_ADMIN_KEY": ADMIN})
    client = alerts_api(keys)

    answer = client.get("/alerts")
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json() == {"error": answer.json()["error"], "details": []}
    assert client.get("/alerts", headers={"X-API-Key": "wrong-key-0123456789"}).status_code \
        == 403
    answer = client.get("/alerts", headers=auth(API))
    assert answer.status_code == 200
    assert [a["id"] for a in answer.json()["alerts"]] == [3, 2, 1]
    assert [a["id"] for a in client.get("/alerts?limit=2", headers=auth(API)).json()[
        "alerts"]] == [3, 2]

    assert client.post("/alerts/2/ack").status_code == 401
    answer = client.post("/alerts/2/ack", headers=auth(API))
    assert answer.status_code == 403 and "admin key" in answer.json()["error"]
    answer = client.post("/alerts/2/ack", headers=auth(ADMIN), json={"by": "ana"})
    assert answer.status_code == 200
    acked = answer.json()["alert"]
    assert acked["id"] == 2 and acked["acknowledged"] and acked["acknowledged_by"] == "ana"
    answer = client.post("/alerts/3/ack", headers={"X-API-Key": ADMIN})
    assert answer.status_code == 200 and answer.json()["alert"]["acknowledged_by"] == "admin"

    answer = client.get("/alerts?unacknowledged=true", headers=auth(API))
    assert [a["id"] for a in answer.json()["alerts"]] == [1]


@pytest.mark.parametrize("method, path, body, status, message", [
    ("GET", "/alerts?limit=0", None, 400, "limit must be a whole number from 1 to 1000"),
    ("GET", "/alerts?limit=many", None, 400, "got 'many'"),
    ("GET", "/alerts?unacknowledged=maybe", None, 400, "unacknowledged must be true or false"),
    ("POST", "/alerts/99/ack", None, 404, "no alert with id 99"),
    ("POST", "/alerts/abc/ack", None, 404, "no alert with id 'abc'"),
    ("POST", "/alerts/1/ack", b"{not json", 400, "the body must be JSON"),
    ("POST", "/alerts/1/ack", b'{"by": 3}', 400, "expected {\"by\""),
])
def test_routes_refuse_bad_requests_in_the_error_shape(alerts_api, method, path, body, status,
                                                       message):
    keys = Keys.load(Auth(), Path("."), {"SHIPYARD_ADMIN_KEY": ADMIN})
    answer = alerts_api(keys).request(method, path, content=body, headers=auth(ADMIN))
    assert answer.status_code == status
    assert message in answer.json()["error"] and answer.json()["details"] == []


def test_open_predict_opens_the_list_but_not_acknowledging(alerts_api):
    client = alerts_api(Keys.load(Auth(), Path("."), {}))
    assert len(client.get("/alerts").json()["alerts"]) == 3
    answer = client.post("/alerts/1/ack", headers=auth(ADMIN))
    assert answer.status_code == 403
    assert answer.json()["error"] == "admin routes are disabled: no admin key configured"


def test_repeat_after_raises_an_entity_once_across_batches_and_sinks(tmp_path: Path):
    rules = Rules.compile([alert("low_rul", "prediction < 30", repeat_after="1h"),
                           alert("any", "prediction < 1000")], REGRESSION)
    with AlertStore(tmp_path / "a.db") as store:
        first = AlertSink(rules, store, REGRESSION)
        # engine 7 twice in one batch, then again in the next: one low_rul alert
        first.submit([row(7), row(7), row(8)], [{"prediction": 12.0}, {"prediction": 11.0},
                                                {"prediction": 90.0}])
        first.submit([row(7), row(9)], [{"prediction": 10.0}, {"prediction": 5.0}])
        assert first.drain(timeout=10)
        # another worker's sink shares the store, so it stays quiet about engine 7 too
        second = AlertSink(rules, store, REGRESSION)
        second.submit([row(7), row(9), row(10)], [{"prediction": 9.0}] * 3)
        assert second.drain(timeout=10)
        first.close()
        second.close()
        raised = [(a["alert"], a["entity"]) for a in reversed(store.list())]
    assert [e for a, e in raised if a == "low_rul"] == [7, 9, 10]
    assert [e for a, e in raised if a == "any"] == [7, 7, 8, 7, 9, 7, 9, 10]  # no repeat_after


def test_repeat_after_is_a_duration():
    with pytest.raises(ValueError, match="repeat_after"):
        alert("a", "prediction < 3", repeat_after="soon")


def test_an_explanation_that_fails_does_not_lose_the_alert(tmp_path: Path):
    import lightgbm
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.card import LoadedModel

    # a real model that was fitted on other columns than the rows carry
    other = pd.DataFrame({"x": np.arange(50.0)})
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("model", lightgbm.LGBMRegressor(n_estimators=5, verbose=-1))])
    model = LoadedModel(pipeline.fit(other, other["x"]), REGRESSION)
    with AlertStore(tmp_path / "a.db") as store:
        sink = AlertSink(Rules.compile([alert("low_rul", "prediction < 30")], REGRESSION),
                         store, REGRESSION)
        sink.submit(ROWS, ITEMS, model)
        assert sink.drain(timeout=10)
        sink.close()
        (stored,) = store.list()
    assert stored["prediction"] == ITEMS[0] and sink.errors == 1
