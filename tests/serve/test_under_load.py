"""`shipyard serve` with two worker processes under real load (wrk): a soak, a
champion switch, a tampered version, and a killed worker. Nothing may fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from shipyard import registry, spec
from shipyard.lifecycle import run_project
from shipyard.serve.background import free_port
from shipyard.workspace import Workspace
from tests.test_lifecycle import _project

from .load import Wrk, get_json, rss_bytes, stop, tree, wait_until, workers
from .test_routes import _sample

# Monitoring passes every few seconds: several run in the warm-up, the soak then
# shows whether repeated passes (and the prediction log) hold on to memory.
SERVE = """
serve:
  workers: 2
  reload_interval: 0.3
monitor:
  interval: 4
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    _project(folder, task="binary", target="label", gates="    - {metric: roc_auc, min: 0.6}")
    path = folder / "shipyard.yaml"
    path.write_text(path.read_text() + SERVE)
    outcome = run_project(spec.load(path))
    assert outcome.passed and outcome.version == "1"
    return path


@pytest.fixture(scope="module")
def server(project):
    port = free_port()
    log = project.parent / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "serve", str(project), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get_json(f"{url}/ready")[0] == 200, 90, "the server to be ready")
        wait_until(lambda: len(workers(proc.pid)) >= 2, 30, "two workers")
        yield proc, url
    finally:
        stop(proc, log)


def _body():
    from tests.helpers import frame

    rows = frame(n=40, seed=3)[["eid", "a", "b", "c"]]  # the entity: every row names it
    rows = rows.astype(object).where(rows.notna(), None)
    return rows.to_dict(orient="records")[0]


def test_soak_at_2000_requests_per_second_without_errors_or_growing_memory(server):
    proc, url = server
    load = Wrk(f"{url}/predict", _body(), seconds=60, connections=4, delay_ms=2)
    time.sleep(15)  # warm-up: allocators and caches settle
    warm = rss_bytes(tree(proc.pid))
    time.sleep(40)
    late = rss_bytes(tree(proc.pid))
    result = load.result()
    assert result.failed == 0, result
    assert result.requests > 30_000, result  # it really was a sustained load
    assert late < warm * 1.10, f"memory grew from {warm / 2**20:.0f} to {late / 2**20:.0f} MiB"
    time.sleep(1.5)  # each worker publishes its numbers every second
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    counted = _sample(text, "shipyard_requests_total", route="predict", status="200")
    assert counted >= result.requests  # both workers' requests, summed


def test_a_new_champion_is_served_without_a_failed_request(server, project):
    proc, url = server
    load = Wrk(f"{url}/predict", [_body()] * 5, seconds=25, connections=8)
    time.sleep(2)
    outcome = run_project(spec.load(project))  # trains and promotes version 2 under load
    assert outcome.version == "2"

    def everyone_serves_2():
        return all(get_json(f"{url}/model")[1]["version"] == "2" for _ in range(10))

    wait_until(everyone_serves_2, 20, "both workers to serve version 2")
    result = load.result()
    assert result.failed == 0, result
    assert result.requests > 100


def test_a_tampered_version_is_refused_and_the_old_one_keeps_serving(server, project):
    proc, url = server
    wait_until(lambda: get_json(f"{url}/model")[1]["version"] == "2", 30, "version 2")
    loaded = spec.load(project)
    workspace = Workspace.of(loaded)
    pickles = [p for p in registry.artifact_paths(workspace, loaded.name, "1")
               if p.name == "model.pkl"]
    assert pickles, "version 1 has no model.pkl in the store"
    data = bytearray(pickles[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    pickles[0].write_bytes(bytes(data))
    client = MlflowClient(workspace.tracking_uri)
    client.set_registered_model_alias(loaded.name, "champion", "1")
    load = Wrk(f"{url}/predict", _body(), seconds=4, connections=4)

    def refused():
        status, health = get_json(f"{url}/health")
        return "reload" in health and "SHA-256" in health["reload"]["error"]

    wait_until(refused, 20, "the reload error in /health")
    assert get_json(f"{url}/model")[1]["version"] == "2"
    assert load.result().failed == 0
    client.set_registered_model_alias(loaded.name, "champion", "2")


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(server):
    proc, url = server
    before = workers(proc.pid)
    assert len(before) >= 2
    load = Wrk(f"{url}/predict", _body(), seconds=6, connections=4)
    time.sleep(1.5)
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: len(set(workers(proc.pid)) - set(before)) >= 1, 30, "a new worker")
    during = load.result()
    assert during.requests > 100
    after = Wrk(f"{url}/predict", _body(), seconds=3, connections=4).result()
    assert after.failed == 0 and after.requests > 100, after
