"""A real `shipyard serve` (two workers) whose project logs to the session's real
PostgreSQL through ``monitor.store``: every prediction and label lands in that
database, none in a SQLite file; a clashing label is refused with a 409."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from shipyard import spec
from shipyard.lifecycle import run_project
from shipyard.monitor.store import LogStore
from shipyard.serve.background import free_port
from tests.test_lifecycle import _project

from .load import get_json, wait_until, workers


@pytest.fixture(scope="module")
def pg_served(postgres, tmp_path_factory):
    """(base URL, the log's URL, its database, the project file) of a running server."""
    folder = tmp_path_factory.mktemp("served-pg")
    _project(folder, task="binary", target="label", gates="    - {metric: roc_auc, min: 0.6}")
    database = postgres.create_database()
    log_url = postgres.url(database)
    path = folder / "shipyard.yaml"
    path.write_text(path.read_text() + f"serve:\n  workers: 2\nmonitor:\n  store: '{log_url}'\n")
    assert run_project(spec.load(path)).version == "1"
    port = free_port()
    out = open(folder / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", str(path),
                             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get_json(f"{base}/ready")[0] == 200, 90, "the server to be ready")
        wait_until(lambda: len(workers(proc.pid)) >= 2, 30, "two workers")
        yield base, log_url, database, path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        out.close()


def test_predictions_and_labels_are_logged_in_postgresql(pg_served, postgres):
    base, log_url, database, path = pg_served
    row = {"a": 0.3, "b": "x", "c": 2, "eid": 7}
    ids = []
    for _ in range(20):  # new connections: the kernel spreads them over both workers
        with httpx.Client(base_url=base, timeout=10, trust_env=False) as fresh:
            answer = fresh.post("/predict", json=[row, row])
            assert answer.status_code == 200, answer.text
            ids += [item["request_id"] for item in answer.json()["predictions"]]

    def logged() -> int:
        return postgres.sql("SELECT count(*) FROM predictions", database=database)[0][0]

    wait_until(lambda: logged() >= len(ids), 15, "every prediction in PostgreSQL")
    labels = [(rid, "Yes" if i % 3 else "No") for i, rid in enumerate(ids)]
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
        answer = client.post("/feedback", json={"feedback": [
            {"request_id": rid, "label": label} for rid, label in labels]})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": len(ids), "stored": len(ids), "unchanged": 0}
        clash = client.post("/feedback", json={"feedback": [
            {"request_id": ids[0], "label": "Yes"}]})
    assert clash.status_code == 409
    assert f"'{ids[0]}' already has the label 'No'" in clash.json()["error"]
    assert logged() == len(ids)
    assert postgres.sql("SELECT count(*) FROM feedback", database=database) == [(len(ids),)]
    with LogStore(log_url) as store:
        got = store.predictions()
    assert dict(zip(got["request_id"], got["label"], strict=True)) == dict(labels)
    assert set(got["model_version"]) == {"1"} and set(got["eid"]) == {7}
    assert not list(path.parent.rglob("predictions.db*"))  # nothing went to SQLite
