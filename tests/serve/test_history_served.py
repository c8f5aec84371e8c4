"""A real `shipyard serve` (two workers) of a project with ``prepare.series``: the
store is warmed from the project's SQL, raw readings are answered as the
pipeline answers the same history, two workers take one entity's readings at
once, ``POST /history`` backfills, and a SIGKILL loses no acknowledged reading."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard import registry, spec
from shipyard.lifecycle import run_project
from shipyard.serve.background import free_port
from shipyard.serve.history import HistoryStore, url_of
from shipyard.workspace import Workspace
from tests.test_lifecycle import _project

from .load import get_json, stop, wait_until, workers

ADMIN = "history-admin-key-0123456789"
SERIES = ("prepare:\n  series: {smooth: {method: median, window: 3, columns: [a]}, "
          "windows: [4], stats: [mean, std, slope], lags: [1], elapsed: true}\n"
          "serve:\n  workers: 2\n  history: from_source\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("served-history")
    _project(folder)
    path = folder / "shipyard.yaml"
    path.write_text(path.read_text() + SERIES)
    assert run_project(spec.load(path)).version == "1"
    return path


class Running:
    """`shipyard serve` of ``project`` in its own session, with the admin key."""

    def __init__(self, project: Path):
        self.project = project
        self.log = project.parent / f"serve-{free_port()}.log"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shipyard", "serve", str(project), "--port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "SHIPYARD_ADMIN_KEY": ADMIN})
        try:
            wait_until(lambda: get_json(f"{self.url}/ready")[0] == 200, 90, "the server")
            wait_until(lambda: len(workers(self.proc.pid)) >= 2, 30, "two workers")
        except BaseException:
            self.stop()
            raise

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop(self.proc, self.log)


@pytest.fixture(scope="module")
def server(project):
    running = Running(project)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def model(project):
    return registry.load(Workspace.of(spec.load(project)), "small")


def source_rows(project: Path) -> pd.DataFrame:
    rows = pd.read_csv(project.parent / "rows.csv", parse_dates=["t"])
    return rows.sort_values(["eid", "t"], kind="stable").reset_index(drop=True)


def reading(eid, t: pd.Timestamp, rng) -> dict:
    return {"eid": eid, "t": t.isoformat(), "a": float(rng.normal()),
            "b": str(rng.choice(["x", "y", "z"])), "c": int(rng.integers(0, 5))}


def expected(model, history: list[dict]) -> float:
    """The pipeline's prediction for the newest of ``history`` (rows as sent)."""
    frame = pd.DataFrame(history).assign(t=lambda f: pd.to_datetime(f["t"]))
    return float(model.pipeline.predict(model.card.schema.model_frame(frame))[-1])


def as_sent(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame[["eid", "t", "a", "b", "c"]].to_dict("records"):
        out.append({"eid": int(row["eid"]), "t": row["t"].isoformat(),
                    "a": None if pd.isna(row["a"]) else float(row["a"]),
                    "b": None if pd.isna(row["b"]) else row["b"], "c": int(row["c"])})
    return out


def test_the_first_landing_after_start_already_has_its_history(server, model, project):
    need = model.pipeline[0].history_rows()
    rows = source_rows(project)
    with server.client() as client:
        kept = client.get("/history/3")
        assert kept.status_code == 200, kept.text
        assert kept.json()["kept"] == 10 and kept.json()["history_rows"] == need
        described = client.get("/model").json()
        assert described["serving"]["history"]["entity"] == "eid"
        assert described["required"] == ["eid", "t"]
        history = as_sent(rows[rows["eid"] == 3])
        new = reading(3, rows.loc[rows["eid"] == 3, "t"].max() + pd.Timedelta(hours=1),
                      np.random.default_rng(1))
        answer = client.post("/predict", json=new)
        assert answer.status_code == 200, answer.text
        item = answer.json()["predictions"][0]
        assert item["history_rows"] == need
        assert item["prediction"] == pytest.approx(expected(model, [*history, new]),
                                                   rel=1e-9, abs=1e-9)
        # An entity the source never had starts cold, and says so.
        cold = reading(70_001, pd.Timestamp("2026-06-01"), np.random.default_rng(2))
        item = client.post("/predict", json=cold).json()["predictions"][0]
        assert item["history_rows"] == 1
        assert item["prediction"] == pytest.approx(expected(model, [cold]), rel=1e-9, abs=1e-9)


def test_two_workers_store_one_entitys_readings_in_time_order(server, model, project):
    rng = np.random.default_rng(7)
    times = pd.date_range("2026-03-01", periods=40, freq="h")
    sent = [reading(80_000, t, rng) for t in times]
    shuffled = random.Random(3).sample(range(len(sent)), len(sent))

    def post(i: int) -> int:
        with server.client() as fresh:  # a new connection each: both workers get some
            return fresh.post("/predict", json=sent[i]).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, shuffled))
    assert statuses == [200] * len(sent)
    store = HistoryStore(url_of(spec.load(project), Workspace.of(spec.load(project))))
    try:
        kept = store.rows("80000")
    finally:
        store.close()
    assert len(kept) == len(sent)
    assert [r.pos for r in kept] == list(range(len(sent)))
    assert [r.t for r in kept] == sorted(r.t for r in kept)
    # Each reading sent again is a duplicate, answered from its place in the history.
    with server.client() as client:
        for k in (0, 5, 17, 39):
            item = client.post("/predict", json=sent[k]).json()["predictions"][0]
            assert item["duplicate"] is True
            assert item["prediction"] == pytest.approx(expected(model, sent[:k + 1]),
                                                       rel=1e-9, abs=1e-9), k


def test_history_is_backfilled_with_the_admin_key_only(server, model):
    rng = np.random.default_rng(11)
    times = pd.date_range("2026-04-01", periods=12, freq="h")
    rows = [reading(90_000, t, rng) for t in times]
    with server.client() as client:
        assert client.post("/history", json=rows[:10]).status_code in (401, 403)
        headers = {"X-API-Key": ADMIN}
        filled = client.post("/history", json=rows[:10], headers=headers)
        assert filled.status_code == 200, filled.text
        assert filled.json() == {"stored": 10, "already_stored": 0, "entities": 1}
        again = client.post("/history", json=rows[:10], headers=headers).json()
        assert again == {"stored": 0, "already_stored": 10, "entities": 1}
        clash = client.post("/history", json=[dict(rows[2], a=99.0), rows[10]],
                            headers=headers)
        assert clash.status_code == 409 and "already has a reading" in clash.json()["error"]
        assert client.get("/history/90000").json()["kept"] == 10  # nothing of it stored
        item = client.post("/predict", json=rows[10]).json()["predictions"][0]
        assert item["prediction"] == pytest.approx(expected(model, rows[:11]), rel=1e-9,
                                                   abs=1e-9)
        assert client.get("/health").json()["status"] == "ok"


def test_a_sigkill_right_after_the_answer_loses_no_reading(project):
    running = Running(project)
    rng = np.random.default_rng(13)
    sent = [reading(95_000, t, rng) for t in pd.date_range("2026-05-01", periods=6, freq="h")]
    try:
        with running.client() as client:
            for row in sent:
                assert client.post("/predict", json=row).status_code == 200
        os.killpg(running.proc.pid, signal.SIGKILL)  # no shutdown: nothing more is flushed
        running.proc.wait(timeout=20)
    finally:
        running.stop()
    store = HistoryStore(url_of(spec.load(project), Workspace.of(spec.load(project))))
    try:
        kept = store.rows("95000")
    finally:
        store.close()
    assert [r.pos for r in kept] == list(range(6))
    assert [r.t for r in kept] == [pd.Timestamp(r["t"]).value / 1000 for r in sent]
