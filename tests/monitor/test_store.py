"""The prediction log's store on real SQLite files and on the session's real
PostgreSQL (the same assertions for both): predictions, feedback, passes, several
writer processes at once, and a store that cannot be reached."""

from __future__ import annotations

import math
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.monitor.store import FeedbackError, LogStore, StoreError, url_of
from tests.helpers import project


def rows(n: int, start: int = 0, version: str = "1", ts0: float = 1000.0) -> list[dict]:
    return [{"request_id": f"r{i}", "ts": ts0 + i, "model_version": version,
             "features": {"a": i * 0.5, "b": "xyz"[i % 3], "flag": i % 2 == 0,
                          **({"eid": i} if i % 4 else {})},
             "prediction": "Yes" if i % 2 else "No", "score": i / 100, "latency_ms": 1.0 + i}
            for i in range(start, start + n)]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path: Path) -> str:
    """An empty prediction log: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log' / 'predictions.db'}"
    postgres = request.getfixturevalue("postgres")
    return postgres.url(postgres.create_database())


@pytest.fixture
def store(url: str):
    with LogStore(url) as s:
        yield s


def test_predictions_come_back_with_their_inputs_as_columns(store):
    assert store.write_predictions(rows(10)) == 10
    assert store.write_predictions(rows(3)) == 0  # a reused id keeps its first prediction
    got = store.predictions()
    assert list(got.columns[:8]) == ["request_id", "ts", "model_version", "prediction", "score",
                                     "latency_ms", "label", "labelled_at"]
    assert list(got.columns[8:]) == ["a", "b", "flag", "eid"]
    assert got["request_id"].tolist() == [f"r{i}" for i in range(10)]
    assert got["prediction"].tolist() == ["No", "Yes"] * 5
    assert got["a"].tolist() == [i * 0.5 for i in range(10)]
    assert got["flag"].tolist() == [i % 2 == 0 for i in range(10)]
    assert math.isnan(got["eid"][0]) and got["eid"][1] == 1  # absent from some rows
    assert got["score"].tolist() == pytest.approx([i / 100 for i in range(10)])
    assert got["label"].isna().all() and got["labelled_at"].isna().all()


def test_windows_select_by_time_version_and_count(store):
    store.write_predictions(rows(10) + rows(5, start=10, version="2"))
    assert store.predictions(last=3, features=False)["request_id"].tolist() == \
        ["r12", "r13", "r14"]  # the latest, oldest first
    assert store.predictions(since=1003, until=1005)["ts"].tolist() == [1003, 1004, 1005]
    assert len(store.predictions(version="2")) == 5
    assert store.predictions(version="9").empty
    assert list(store.predictions(features=False).columns) == [
        "request_id", "ts", "model_version", "prediction", "score", "latency_ms", "label",
        "labelled_at"]
    assert store.count() == 15 and store.count(since=1012) == 3
    assert store.count(labelled=True) == 0


def test_inputs_named_like_log_columns_and_mixed_types_survive(store):
    logged = rows(4)
    logged[0]["features"] = {"score": 7, "eid": "E-1", "nested": {"k": [1, 2]}}
    logged[1]["features"] = {"score": 8, "eid": 2, "nested": None}
    store.write_predictions(logged[:2])
    got = store.predictions()
    assert got["features.score"].tolist() == [7, 8] and got["score"].tolist() == [0.0, 0.01]
    assert got["eid"].tolist() == ["E-1", 2]  # mixed types: the JSON values
    assert got["nested"].tolist() == [{"k": [1, 2]}, None]


def test_feedback_is_all_or_nothing_and_idempotent(store):
    store.write_predictions(rows(6))
    assert store.add_feedback([("r0", "No"), ("r1", "Yes")]) == 2
    assert store.add_feedback([("r0", "No"), ("r2", "No")]) == 1  # r0 again: not an error
    with pytest.raises(FeedbackError, match="unknown request id") as unknown:
        store.add_feedback([("r3", "Yes"), ("nope", "No"), ("nada", "No")])
    assert unknown.value.unknown == ["nope", "nada"]
    with pytest.raises(FeedbackError, match="already has the label 'Yes'") as clash:
        store.add_feedback([("r4", "No"), ("r1", "No")])
    assert clash.value.conflicts == [{"request_id": "r1", "label": "Yes", "sent": "No"}]
    with pytest.raises(FeedbackError, match="twice with different labels"):
        store.add_feedback([("r5", "No"), ("r5", "Yes")])
    with pytest.raises(FeedbackError, match=r"feedback\[1\]: bad") as wrong:
        store.add_feedback([("r5", "No"), ("r5", 3)], check=lambda v: None if v == "No" else "bad")
    assert wrong.value.invalid[0]["index"] == 1
    got = store.predictions().set_index("request_id")
    assert got["label"].dropna().to_dict() == {"r0": "No", "r1": "Yes", "r2": "No"}
    assert got["labelled_at"].notna().sum() == 3  # nothing of a refused request
    assert store.count(labelled=True) == 3


@pytest.mark.parametrize("labels", [["No", "Yes", "Yes", "No"], ["No"] * 4])
def test_writers_racing_to_label_one_prediction_store_one_label(url, store, labels):
    """Four stores send a label for the same id at once: one label is stored; the
    others are refused as conflicts (409 in the API) or, when the same, unchanged.
    On PostgreSQL a writer can lose the race on the key: it retries and sees why."""
    store.write_predictions(rows(1))
    start = threading.Barrier(len(labels))

    def send(label: str):
        with LogStore(url) as mine:
            start.wait()
            try:
                return mine.add_feedback([("r0", label)])
            except FeedbackError as refused:
                return refused

    with ThreadPoolExecutor(len(labels)) as pool:
        answers = list(pool.map(send, labels))
    kept = store.predictions()["label"][0]
    assert answers.count(1) == 1 and kept == labels[answers.index(1)]
    for label, answer in zip(labels, answers, strict=True):
        if answer != 1:
            assert answer == 0 if label == kept else answer.conflicts == [
                {"request_id": "r0", "label": kept, "sent": label}]
    assert store.count(labelled=True) == 1


def test_numbers_and_booleans_are_different_labels(store):
    store.write_predictions(rows(2))
    store.add_feedback([("r0", 1.0), ("r1", True)])
    assert store.add_feedback([("r0", 1)]) == 0  # 1 and 1.0 are the same number
    with pytest.raises(FeedbackError):
        store.add_feedback([("r1", 1)])  # true is not 1


def test_traffic_buckets_requests_and_latency(store):
    store.write_predictions(rows(20))
    traffic = store.traffic(since=1000, bucket_s=10)
    assert traffic["ts"].tolist() == [1000.0, 1010.0]
    assert traffic["requests"].tolist() == [10, 10]
    assert traffic["latency_p50_ms"].tolist() == [5.5, 15.5]
    assert traffic["latency_p99_ms"][0] == pytest.approx(9.91)
    assert store.traffic(since=5000, bucket_s=10).empty


def test_passes_and_decisions_keep_their_order(store):
    for i in range(5):
        store.save_pass({"at": 100.0 + i, "rows": i, "psi": float("nan")})
        store.save_decision({"at": 200.0 + i, "triggered": bool(i % 2)})
    assert [p["rows"] for p in store.passes()] == [0, 1, 2, 3, 4]
    assert [p["rows"] for p in store.passes(limit=2)] == [3, 4]  # the latest, oldest first
    assert store.passes()[0]["psi"] is None  # NaN is not JSON
    assert [d["triggered"] for d in store.decisions(limit=3)] == [False, True, False]


def _write(url: str, worker: int) -> None:
    with LogStore(url) as store:
        for batch in range(20):
            start = worker * 10_000 + batch * 50
            store.write_predictions(rows(50, start=start))
            store.add_feedback([(f"r{start}", "No")])


def test_several_processes_write_one_store_at_once(url: str):
    context = multiprocessing.get_context("fork")  # the children open their own store
    writers = [context.Process(target=_write, args=(url, w)) for w in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0, 0, 0]
    with LogStore(url) as store:
        assert store.count() == 4 * 20 * 50
        assert store.count(labelled=True) == 4 * 20


def test_a_store_that_cannot_be_reached_says_where_and_why(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot create the folder"):
        LogStore(f"sqlite:///{blocker / 'predictions.db'}")
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:9/db is unavailable") as down:
        LogStore("postgresql+psycopg://shipyard:secret@127.0.0.1:9/db")
    assert "secret" not in str(down.value) and "refused" in str(down.value).lower()
    with pytest.raises(StoreError, match="Cannot parse"):
        LogStore("not a url")


def test_the_default_store_is_in_the_workspace_and_relative_paths_start_at_the_project(tmp_path):
    from shipyard.workspace import Workspace

    p = project(extra="monitor: {store: 'sqlite:///logs/p.db'}")
    assert url_of(project(), Workspace(tmp_path / ".ws", "")) == \
        f"sqlite:///{tmp_path / '.ws' / 'predictions.db'}"
    anchored = p.resolve("logs/p.db")
    assert anchored.is_absolute() and url_of(p, Workspace(tmp_path, "")) == f"sqlite:///{anchored}"
