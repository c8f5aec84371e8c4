"""A real `shipyard serve` under load follows a retraining cycle's promotion and a
rollback without a restart and without a failed request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shipyard import registry
from shipyard.lifecycle import run_project
from shipyard.loop import retrain
from shipyard.serve.background import free_port
from shipyard.workspace import Workspace
from tests.serve.load import Wrk, get_json, stop, wait_until

from .project import append, changed_fleet, rows, write


def test_the_server_follows_a_promotion_and_a_rollback(tmp_path: Path):
    append(tmp_path, rows())
    assert run_project(write(tmp_path)).version == "1"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "serve", "shipyard.yaml", "--port", str(port)],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: get_json(f"{url}/ready")[0] == 200, 90, "the server to be ready")
        body = {"a": 0.5, "b": "x", "c": 2, "eid": 7}  # the entity is required
        before = _predict(url, body)
        during = Wrk(f"{url}/predict", body, seconds=25, connections=2, delay_ms=5)
        started = time.monotonic()

        changed_fleet(tmp_path)
        project = write(tmp_path)
        decision = retrain(project, force=True)
        assert decision.outcome == "promoted", decision.notes
        wait_until(lambda: get_json(f"{url}/model")[1]["version"] == "2", 30, "version 2")
        assert time.monotonic() - started < 22, "the switch came after the load ended"
        after = _predict(url, body)  # the new rule: a counts the other way
        result = during.result()
        assert result.failed == 0 and result.requests > 200, result

        during = Wrk(f"{url}/predict", body, seconds=4, connections=2, delay_ms=5)
        time.sleep(0.5)
        registry.rollback(Workspace.of(project), project.name, reason="alerts went up")
        wait_until(lambda: get_json(f"{url}/model")[1]["version"] == "1", 10, "version 1")
        result = during.result()
        assert result.failed == 0 and result.requests > 50, result
        assert _predict(url, body) == before != after
    finally:
        stop(proc, log)


def _predict(url: str, row: dict) -> list[float]:
    request = urllib.request.Request(f"{url}/predict", data=json.dumps(row).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
        items = json.loads(answer.read())["predictions"]
    return [item["prediction"] if isinstance(item, dict) else item for item in items]
