"""`shipyard monitor` as a person runs it on a small real project: a champion
trained by `shipyard run`'s own stages, predictions sent to a real server built
the way `shipyard serve` builds it (and so logged by it), labels sent to its
/feedback; then the command's table, exit status and HTML report."""

from __future__ import annotations

import math
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shipyard import registry, spec
from shipyard.cli import app
from shipyard.lifecycle import run_project
from shipyard.monitor.store import LogStore
from shipyard.serve.background import BackgroundServer
from shipyard.serve.worker import app_for
from shipyard.workspace import Workspace
from tests.loop.project import append, rows, write

SENT, LABELLED = 150, 60
SHIFT = 3.0  # added to input a: the fleet's a moved, b and c did not
EMPTY = "No predictions of version 1 of 'loopy' are in the prediction log to monitor"


def shipyard(*args: str):
    return CliRunner().invoke(app, list(args))


def project_file(folder: Path, name: str, store: str) -> Path:
    """A project file beside shipyard.yaml (so the same workspace and champion) with
    a prediction log of its own; its server runs no monitoring passes itself."""
    path = folder / name
    path.write_text((folder / "shipyard.yaml").read_text()
                    + f"monitor:\n  interval: 0\n  store: sqlite:///{folder / store}\n")
    return path


def table(out: str) -> dict[str, str]:
    """The drift verdict of each feature row of the printed table."""
    verdicts = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 8 and cells[1] not in ("feature", ""):
            verdicts[cells[1]] = cells[5]
    return verdicts


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("monitor-cli")
    append(folder, rows())
    assert run_project(write(folder)).version == "1"
    return folder


@pytest.fixture(scope="module")
def logged(folder: Path) -> Path:
    """SENT shifted rows predicted by a real server, LABELLED of them labelled."""
    path = project_file(folder, "logged.yaml", "logged.db")
    later = rows(SENT, seed=5, start="2026-01-14", first_entity=500)
    body = [{"eid": int(r.eid), "a": None if math.isnan(r.a) else float(r.a) + SHIFT,
             "b": r.b if isinstance(r.b, str) else None, "c": int(r.c)}
            for r in later.itertuples()]
    with BackgroundServer(app_for(spec.load(path))) as server, \
            httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        answer = client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        ids = [item["request_id"] for item in answer.json()["predictions"]]
        labels = [{"request_id": rid, "label": float(y)}
                  for rid, y in zip(ids[:LABELLED], later["y"], strict=False)]
        sent = client.post("/feedback", json={"feedback": labels})
        assert sent.status_code == 200, sent.text
    return path


def test_an_empty_log_exits_2_and_writes_nothing(folder: Path):
    path = project_file(folder, "empty.yaml", "empty.db")
    default = Workspace.of(spec.load(path)).reports / "monitoring.html"
    before = default.stat().st_mtime_ns if default.exists() else None
    elsewhere = folder / "empty-report" / "monitoring.html"
    for extra in ([], ["--report", str(elsewhere)]):
        done = shipyard("monitor", str(path), *extra)
        assert done.exit_code == 2, done.output
        assert EMPTY in " ".join(done.stderr.split())
        assert "Hint: serve the model" in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == ""
    assert not elsewhere.exists() and not elsewhere.parent.exists()
    assert (default.stat().st_mtime_ns if default.exists() else None) == before
    with LogStore(f"sqlite:///{folder / 'empty.db'}") as store:
        assert store.passes() == []


def test_monitor_prints_the_drift_table_and_writes_the_report(folder: Path, logged: Path):
    done = shipyard("monitor", str(logged))
    assert done.exit_code == 0, done.output
    out = " ".join(done.stdout.split())
    # a moved 'a', the feature the model leans on most: the importance-weighted rule
    # calls the data set drifted though two of three features stay put
    found = re.search(rf"Version 1: {SENT} logged rows; data set drift YES \(33% of features "
                      r"drifted, (\d+)% of the weight by importance\)", out)
    assert found and 33 < int(found[1]) < 100, out
    assert table(done.stdout) == {"a": "drift", "b": "ok", "c": "ok"}
    assert "live RMSE" in out and f"on {LABELLED} labelled rows" in out
    assert "champion's holdout RMSE" in out

    project = spec.load(logged)
    report = Workspace.of(project).reports / "monitoring.html"
    assert f"Report: {report}" in done.stdout
    html = report.read_text()
    for section in ("Summary", "Drift by feature", "Distributions: reference vs current",
                    "Drift over time", "Performance", "Data quality"):
        assert f">{section}<" in html, section
    for name in ("a", "b", "c", "prediction"):
        assert f'alt="Distribution of {name}, reference vs current"' in html, name
    assert "<strong>Drifted features:</strong> a.</p>" in html
    assert f"{LABELLED} labelled rows" in html

    with LogStore.of(project, Workspace.of(project)) as store:
        saved = store.passes()[-1]
    assert saved["rows"] == SENT and saved["drift"]["drifted"] == ["a"]
    assert saved["live"]["rows"] == LABELLED and saved["version"] == "1"


def test_the_report_goes_where_it_is_told(folder: Path, logged: Path):
    project = spec.load(logged)
    default = Workspace.of(project).reports / "monitoring.html"
    before = default.stat().st_mtime_ns if default.exists() else None
    wanted = folder / "out" / "deep" / "drift.html"
    done = shipyard("monitor", str(logged), "--report", str(wanted))
    assert done.exit_code == 0, done.output
    assert f"Report: {wanted}" in " ".join(done.stdout.split())
    assert "Drift by feature" in wanted.read_text()
    assert (default.stat().st_mtime_ns if default.exists() else None) == before
    assert not list(wanted.parent.glob(".*.tmp"))  # written in one piece


def test_a_champion_without_a_reference_is_named_as_the_problem(folder: Path, tmp_path: Path):
    """A version registered before Shipyard kept references: the command says so
    rather than that the log is empty."""
    champion = registry.load(Workspace.of(write(folder)), "loopy")
    project = write(tmp_path)
    ws = Workspace.of(project).create()
    with registry.open_run(ws, "loopy") as run:
        run.log_model(champion.pipeline, champion.card, champion.card.schema.model_frame(
            rows(10).drop(columns=["y"])), registry.requirements())
    registry.register(ws, "loopy", run)
    with LogStore.of(project, ws) as store:
        store.write_predictions([{"request_id": "r1", "ts": 1.0, "model_version": "1",
                                  "features": {"a": 0.5, "b": "x", "c": 2}, "prediction": 1.5,
                                  "score": None, "latency_ms": 1.0}])
    done = shipyard("monitor", str(tmp_path / "shipyard.yaml"))
    assert done.exit_code == 2, done.output
    stderr = " ".join(done.stderr.split())
    assert "Version 1 of 'loopy' has no monitoring reference" in stderr
    assert "No predictions" not in stderr and "Traceback" not in stderr
    assert not (ws.reports / "monitoring.html").exists()
