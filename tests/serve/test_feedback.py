"""POST /feedback on real servers: labels by request id, all or nothing, checked
against the model, acknowledged only once on disk (a SIGKILL loses none)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode

from shipyard import spec
from shipyard.card import ModelCard
from shipyard.lifecycle import run_project
from shipyard.monitor import labels
from shipyard.monitor.store import LogStore
from shipyard.serve.auth import Keys
from shipyard.serve.background import free_port
from shipyard.spec.serving import Auth
from shipyard.workspace import Workspace
from tests.test_lifecycle import _project

from .load import get_json, wait_until, workers
from .models import SCHEMA, binary_model, raw_rows, regression_model
from .test_fuzz import config, fuzz
from .test_log import logged_server

KEY = "feedback-key-0123456789"


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('feedback') / 'p.db'}"
    with logged_server(binary_model(), url) as (client, log):
        yield client, url


def predict(client, n: int, seed: int) -> list[str]:
    answer = client.post("/predict", json=raw_rows(n, seed=seed))
    assert answer.status_code == 200, answer.text
    return [item["request_id"] for item in answer.json()["predictions"]]


def send(client, pairs, **options):
    return client.post("/feedback", json={"feedback": [{"request_id": rid, "label": label}
                                                       for rid, label in pairs]}, **options)


def stored(url: str) -> dict:
    with LogStore(url) as store:
        got = store.predictions(features=False)
    return dict(zip(got["request_id"], got["label"], strict=True))


def test_labels_are_stored_and_sending_them_again_changes_nothing(binary):
    client, url = binary
    ids = predict(client, 3, seed=1)  # at once: the server writes its queue first
    answer = send(client, [(ids[0], "Yes"), (ids[1], "No"), (ids[2], "Yes")])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 3, "stored": 3, "unchanged": 0}
    assert [stored(url)[rid] for rid in ids] == ["Yes", "No", "Yes"]
    again = send(client, [(ids[0], "Yes"), (ids[0], "Yes")])
    assert again.json() == {"received": 2, "stored": 0, "unchanged": 1}


def test_a_different_label_is_a_conflict_and_nothing_is_stored(binary):
    client, url = binary
    ids = predict(client, 2, seed=2)
    assert send(client, [(ids[0], "No")]).status_code == 200
    answer = send(client, [(ids[1], "Yes"), (ids[0], "Yes")])
    assert answer.status_code == 409
    assert f"'{ids[0]}' already has the label 'No'" in answer.json()["error"]
    assert pd.isna(stored(url)[ids[1]])  # all or nothing
    twice = send(client, [(ids[1], "Yes"), (ids[1], "No")])
    assert twice.status_code == 409 and "sent twice with different labels" in twice.json()["error"]


def test_unknown_ids_are_listed(binary):
    client, url = binary
    ids = predict(client, 1, seed=3)
    answer = send(client, [(ids[0], "No"), ("nope-0", "Yes"), ("nada-1", "No")])
    assert answer.status_code == 404
    body = answer.json()
    assert body["error"].startswith("2 unknown request ids: 'nope-0', 'nada-1'")
    assert [d["message"] for d in body["details"]] == ["unknown request id 'nope-0'",
                                                       "unknown request id 'nada-1'"]
    assert pd.isna(stored(url)[ids[0]])  # all or nothing


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"feedback": []}, 422, "empty feedback list"),
    ({"feedback": [{"request_id": "a-0", "label": 1}]}, 422,
     "feedback[0]: label 1 (number) is not one of the classes ['No', 'Yes']"),
    ({"feedback": [{"request_id": "a-0", "label": "Yes"}, {"request_id": 5, "label": "No"}]}, 422,
     "feedback[1]: request_id must be an id from a /predict answer"),
    ({"feedback": [{"request_id": "a\nb", "label": "No"}]}, 422,
     "feedback[0]: request_id must be an id from a /predict answer"),
    ({"feedback": [{"request_id": "a-0"}]}, 422, "feedback[0]: missing label"),
    ({"labels": []}, 422, 'the body must be {"feedback"'),
    ({"feedback": [{"request_id": "a-0", "label": "No"}] * 101}, 413, "too many feedback items"),
])
def test_refused_bodies_say_why(binary, body, status, error):
    client, _ = binary
    answer = client.post("/feedback", json=body)
    assert answer.status_code == status, answer.text
    assert error in answer.json()["error"]


def test_wrong_labels_name_the_item_and_store_nothing(binary):
    client, url = binary
    ids = predict(client, 2, seed=5)
    answer = send(client, [(ids[0], "No"), (ids[1], True)])
    assert answer.status_code == 422
    assert answer.json()["details"] == [{"message": "feedback[1]: label True (boolean) is not "
                                                    "one of the classes ['No', 'Yes']", "row": 1}]
    assert pd.isna(stored(url)[ids[0]])


def test_malformed_json_and_other_media_are_refused(binary):
    client, _ = binary
    broken = client.post("/feedback", content=b'{"feedback": [', headers={
        "Content-Type": "application/json"})
    assert broken.status_code == 400 and "malformed JSON" in broken.json()["error"]
    text = client.post("/feedback", content=b"a-0,Yes", headers={"Content-Type": "text/csv"})
    assert text.status_code == 415
    assert client.get("/feedback").status_code == 405


def test_labels_follow_the_task(tmp_path):
    check = labels.checker(regression_model().card)
    assert check(3) is None and check(2.5) is None
    assert "not a number" in check("3") and "not a number" in check(True)
    # every finite float64 is a label, to the last one; an integer beyond them is not
    assert check(-1.7976931348623157e308) is None and check(2**1023) is None
    assert "not a number" in check(2**1024)
    anomaly = ModelCard(name="a", task="anomaly", target=None, schema=SCHEMA)
    assert labels.checker(anomaly)(True) is None and "true or false" in labels.checker(anomaly)(1)
    multi = ModelCard(name="m", task="multiclass", target="t", schema=SCHEMA, classes=(0, 1, 2))
    assert labels.checker(multi)(2) is None and "classes [0, 1, 2]" in labels.checker(multi)("2")
    with logged_server(regression_model(), f"sqlite:///{tmp_path / 'p.db'}") as (client, _):
        ids = predict(client, 2, seed=6)
        assert send(client, [(ids[0], 12.5), (ids[1], 3)]).status_code == 200
        assert send(client, [(ids[0], "12.5")]).status_code == 422


def test_feedback_needs_the_key_when_predictions_are_keyed(tmp_path):
    model = binary_model()
    keys = Keys.load(Auth(predict="keyed"), Path("."), environ={"SHIPYARD_API_KEYS": KEY})
    server = logged_server(model, f"sqlite:///{tmp_path / 'p.db'}")
    server.app.rest.state.shipyard.keys = keys
    with server as (client, _):
        answer = client.post("/predict", json=raw_rows(1, seed=1), headers={"X-API-Key": KEY})
        rid = answer.json()["predictions"][0]["request_id"]
        assert send(client, [(rid, "No")]).status_code == 401
        assert send(client, [(rid, "No")], headers={"X-API-Key": "wrong-key-0123456789"}
                    ).status_code == 403
        assert send(client, [(rid, "No")], headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_the_feedback_route_keeps_its_documented_contract(binary, mode):
    client, _ = binary
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json(),
                                            config=config(**{"base-url": str(client.base_url)}))
    with requests.Session() as session:
        session.trust_env = False
        fuzz(schema, "POST /feedback", mode, session)


# ------------------------------------------------------------ a real `shipyard serve`

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    _project(folder, task="binary", target="label", gates="    - {metric: roc_auc, min: 0.6}")
    path = folder / "shipyard.yaml"
    path.write_text(path.read_text() + "serve:\n  workers: 2\n")
    assert run_project(spec.load(path)).version == "1"
    return path


def test_two_workers_log_to_one_store_and_a_sigkill_loses_no_acknowledged_label(project):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = open(project.parent / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", str(project),
                             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_until(lambda: get_json(f"{url}/ready")[0] == 200, 90, "the server to be ready")
        wait_until(lambda: len(workers(proc.pid)) >= 2, 30, "two workers")
        row = {"a": 0.3, "b": "x", "c": 2, "eid": 7}
        ids, acknowledged = [], []
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
            for _ in range(40):  # new connections: the kernel spreads them over both workers
                with httpx.Client(base_url=url, timeout=10, trust_env=False) as fresh:
                    answer = fresh.post("/predict", json=[row, row])
                    assert answer.status_code == 200, answer.text
                    ids += [item["request_id"] for item in answer.json()["predictions"]]
            wait_until(lambda: _logged(project) >= len(ids), 10, "every prediction logged")
            for start in range(0, len(ids), 8):
                batch = [(rid, "Yes" if i % 2 else "No") for i, rid in
                         enumerate(ids[start:start + 8], start)]
                answer = send(client, batch)
                assert answer.status_code == 200, answer.text
                acknowledged += batch
        os.killpg(proc.pid, signal.SIGKILL)  # right after the last acknowledgement
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out.close()
    with LogStore.of(spec.load(project), Workspace.of(spec.load(project))) as store:
        got = store.predictions()
    labelled = dict(zip(got["request_id"], got["label"], strict=True))
    assert {rid: labelled.get(rid) for rid, _ in acknowledged} == dict(acknowledged)
    assert len(got) == len(ids) and set(got["model_version"]) == {"1"}
    assert set(got["eid"]) == {7}  # the entity key is logged with the inputs


def _logged(project: Path) -> int:
    with LogStore.of(spec.load(project), Workspace.of(spec.load(project))) as store:
        return store.count()
