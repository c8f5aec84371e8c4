"""Monitoring inside a real server built as `shipyard serve` builds it (app_for): a
pass on its own thread every monitor.interval seconds over the predictions it
logged, the pass's figures on /metrics, one pass at a time per workspace, and a
pass that fails costing no prediction."""

from __future__ import annotations

import fcntl
import math
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shipyard import spec
from shipyard.lifecycle import run_project
from shipyard.monitor.store import LogStore
from shipyard.serve.background import BackgroundServer
from shipyard.serve.monitoring import Monitoring
from shipyard.serve.worker import app_for
from shipyard.workspace import Workspace
from tests.loop.project import append, rows, write

from .load import wait_until
from .prometheus import promtool_check

SENT = 120
BROKEN = ("  outcomes:\n    query: SELEC eid, y FROM rows\n    on: [eid]\n"
          "    label: o.y\n")  # SELEC: the outcomes query is not SQL


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("served-monitoring")
    append(folder, rows())
    assert run_project(write(folder)).version == "1"
    return folder


def project(folder: Path, name: str, interval: float, extra: str = "") -> spec.Project:
    """A project file beside shipyard.yaml (same workspace and champion) with its
    own prediction log and pass interval."""
    path = folder / f"{name}.yaml"
    path.write_text((folder / "shipyard.yaml").read_text()
                    + f"monitor:\n  interval: {interval}\n"
                    f"  store: sqlite:///{folder / f'{name}.db'}\n{extra}")
    return spec.load(path)


def requests(n: int, seed: int, shift: float = 0.0) -> list[dict]:
    """Rows as clients send them; ``shift`` moves inputs a and c (not b)."""
    later = rows(n, seed=seed, start="2026-01-14", first_entity=500)
    return [{"eid": int(r.eid), "a": None if math.isnan(r.a) else float(r.a) + shift,
             "b": r.b if isinstance(r.b, str) else None, "c": int(r.c) + int(2 * shift)}
            for r in later.itertuples()]


def gauges(text: str) -> dict[tuple, float]:
    """Prometheus exposition -> {(sample name, sorted labels): value}."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_server_runs_passes_and_exports_their_figures(folder: Path):
    watched = project(folder, "watched", interval=0.5)
    with BackgroundServer(app_for(watched)) as server, \
            httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client, \
            LogStore.of(watched, Workspace.of(watched)) as store:
        answer = client.post("/predict", json=requests(SENT, seed=5, shift=3.0))
        assert answer.status_code == 200, answer.text
        wait_until(lambda: any(p["rows"] == SENT for p in store.passes()), 30,
                   "a pass over the sent predictions")
        metrics = client.get("/metrics")
        health = client.get("/health").json()
        latest = store.passes()[-1]
    assert metrics.status_code == 200 and health["status"] == "ok"
    assert health["monitoring"] == {"ok": True, "error": None}
    got = gauges(metrics.text)
    assert latest["rows"] == SENT and latest["drift"]["drifted"] == ["a", "c"]
    assert got[("shipyard_dataset_drift", (("version", "1"),))] == 1.0
    assert got[("shipyard_drift_share", (("version", "1"),))] == pytest.approx(2 / 3)
    assert got[("shipyard_monitor_window_rows", ())] == SENT
    for f in latest["drift"]["features"]:
        feature = (("feature", f["feature"]),)
        assert got[("shipyard_feature_psi", feature)] == pytest.approx(f["psi"])
        assert got[("shipyard_feature_drifted", feature)] == float(f["drifted"])
    assert {k[1][0][1] for k in got if k[0] == "shipyard_feature_psi"} == {"a", "b", "c"}
    assert ("shipyard_prediction_drift", (("method", "ks"),)) in got
    checked = promtool_check(metrics.text)  # the monitoring families pass Prometheus's lint
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), \
        checked.stdout + checked.stderr
    # the distribution of what the model answered: a summary of the window
    served = np.array([item["prediction"] for item in answer.json()["predictions"]])
    assert got[("shipyard_window_predictions", (("quantile", "0.5"),))] == \
        pytest.approx(np.quantile(served, 0.5))
    assert got[("shipyard_window_predictions", (("quantile", "0.95"),))] == \
        pytest.approx(np.quantile(served, 0.95))
    assert got[("shipyard_window_predictions_count", ())] == SENT
    assert got[("shipyard_window_predictions_sum", ())] == pytest.approx(served.sum())

    with LogStore.of(watched, Workspace.of(watched)) as store:  # stopped: no more passes
        count = len(store.passes())
        time.sleep(1.2)
        assert len(store.passes()) == count


class Timed(LogStore):
    """A real log store that notes when a pass reads its window and when it has
    saved its result: the two ends of the work the monitor lock guards."""

    def __init__(self, url: str, name: str, events: list):
        super().__init__(url)
        self.name, self.events = name, events

    def predictions(self, **options):
        self.events.append((self.name, "start"))
        return super().predictions(**options)

    def save_pass(self, record: dict) -> None:
        super().save_pass(record)
        self.events.append((self.name, "end"))


def test_monitors_sharing_a_workspace_never_run_a_pass_at_once(folder: Path):
    shared = project(folder, "shared", interval=0)
    ws = Workspace.of(shared)
    url = f"sqlite:///{folder / 'shared.db'}"
    with LogStore(url) as store:  # as the server logs them
        store.write_predictions([{"request_id": f"r{i}", "ts": 1.8e9 + i, "model_version": "1",
                                  "features": row, "prediction": 0.5, "score": None,
                                  "latency_ms": 1.0}
                                 for i, row in enumerate(requests(400, seed=6))])
    state = app_for(shared).state  # a real server's state: the champion it serves
    events: list = []
    watches = {name: Monitoring(shared, ws, Timed(url, name, events), state, interval=0)
               for name in ("A", "B")}

    with open(ws.root / "monitor.lock", "a+") as held:  # another worker is at it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert [w.run_once() for w in watches.values()] == [None, None]
    assert events == []

    ran = {name: [] for name in watches}
    start = threading.Barrier(len(watches))

    def work(name: str) -> None:
        start.wait()
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            ran[name].append(watches[name].run_once() is not None)

    threads = [threading.Thread(target=work, args=(name,)) for name in watches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for watch in watches.values():
        assert watch.last_error is None
        watch.stop()

    passes = sum(sum(r) for r in ran.values())
    assert passes >= 2 and sum(not x for r in ran.values() for x in r) >= 1, ran
    running = None
    for name, what in events:  # each pass ends before the next one starts
        assert (what == "start" and running is None) or (what == "end" and running == name), \
            events
        running = name if what == "start" else None
    assert len(events) == 2 * passes
    with LogStore(url) as store:
        assert len(store.passes()) == passes


def test_outcomes_that_cannot_be_joined_are_a_note_and_drift_goes_on(folder: Path):
    broken = project(folder, "broken", interval=0.5, extra=BROKEN)
    with BackgroundServer(app_for(broken)) as server, \
            httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        assert client.post("/predict", json=requests(20, seed=7)).status_code == 200
        data = wait_until(lambda: (d := client.get("/dashboard/data").json())
                          ["summary"]["passes"] and d, 30, "a saved pass")
        health = client.get("/health").json()
    with LogStore(f"sqlite:///{folder / 'broken.db'}") as store:
        saved = store.passes()[-1]
    assert saved["notes"][0].startswith("outcomes not joined: "), saved["notes"]
    assert "SELEC" in saved["notes"][0] or "syntax" in saved["notes"][0].lower()
    assert saved["drift"], saved  # drift needs no labels
    assert health["status"] == "ok" and health["monitoring"] == {"ok": True, "error": None}
    assert data["summary"]["passes"] >= 1


def test_a_failing_pass_degrades_health_and_leaves_the_server_serving(folder: Path):
    failing = project(folder, "failing", interval=0.5)
    lock = Workspace.of(failing).root / "monitor.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()  # the pass cannot take its lock: a real failure, every time
    try:
        with BackgroundServer(app_for(failing)) as server, \
                httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            first = client.post("/predict", json=requests(20, seed=7))
            health = wait_until(lambda: (h := client.get("/health").json())
                                ["status"] == "degraded" and h, 30, "/health degraded")
            again = client.post("/predict", json=requests(20, seed=8))
            ready = client.get("/ready")
            page = client.get("/dashboard")
            data = client.get("/dashboard/data")
            metrics = client.get("/metrics")
    finally:
        lock.rmdir()
    monitoring = health["monitoring"]
    assert monitoring["ok"] is False and monitoring["error"].startswith("IsADirectoryError"), \
        health
    assert first.status_code == again.status_code == ready.status_code == 200
    assert len(again.json()["predictions"]) == 20
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()
    body = data.json()
    assert body["summary"]["passes"] == 0
    assert any("monitoring pass failed" in e and "IsADirectoryError" in e
               for e in body["errors"]), body["errors"]
    failures = [line for line in metrics.text.splitlines()
                if line.startswith("shipyard_monitor_failures_total")]
    assert failures and float(failures[0].split()[-1]) >= 1, failures
    assert "shipyard_dataset_drift" not in metrics.text


def test_passes_run_when_the_workspace_folder_is_not_on_the_serving_host(folder: Path):
    """The registry (tracking.uri) and the log (monitor.store) live elsewhere, so the
    serving host has no workspace folder; the monitor lock must not need one."""
    remote = project(folder, "remote", interval=0)
    path = Path(remote.file)
    path.write_text(path.read_text() + "workspace: serving-host\ntracking: {uri: "
                    f"'sqlite:///{folder / '.shipyard' / 'mlflow.db'}'}}\n")
    remote = spec.load(path)
    assert not (folder / "serving-host").exists()
    with LogStore(f"sqlite:///{folder / 'remote.db'}") as store:
        store.write_predictions([{"request_id": f"r{i}", "ts": 1.8e9 + i, "model_version": "1",
                                  "features": row, "prediction": 0.5, "score": None,
                                  "latency_ms": 1.0}
                                 for i, row in enumerate(requests(30, seed=9))])
        watch = app_for(remote).state.monitoring
        result = watch.run_once()
        assert watch.last_error is None and result is not None and result["rows"] == 30
        assert store.passes()[-1] == result
