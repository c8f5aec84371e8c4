"""``shipyard demo --database postgresql+psycopg://...``: the whole demo on a real
PostgreSQL (the session's throwaway cluster), run as a user runs it. The fleet is
loaded there, the same project file SQL reads it, the prediction log and the
ground truth live there, and the loop closes as on DuckDB."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from shipyard import registry, spec
from shipyard.data import fleet
from shipyard.demo.new_days import FIRST_DAYS, NEW_DAYS
from shipyard.serve.background import free_port
from shipyard.workspace import Workspace
from tests.pg import PASSWORD, USER

AIRCRAFT, SEED = 60, 3  # the smallest fleet test_demo.py runs the gates on


def shipyard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=500)


@pytest.fixture(scope="module")
def demo(postgres, tmp_path_factory):
    url = postgres.url(postgres.create_database())
    cwd = tmp_path_factory.mktemp("demo-pg")
    done = shipyard("demo", "--dir", "fleet", "--database", url, "--aircraft", str(AIRCRAFT),
                    "--seed", str(SEED), "--port", str(free_port()), "--no-keep-serving",
                    cwd=cwd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    engine = sa.create_engine(url)
    yield url, cwd / "fleet", done.stdout, engine
    engine.dispose()


def _count(engine, query: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(query)).scalar_one()


def test_the_fleet_and_its_new_days_are_in_postgresql(demo):
    url, folder, _, engine = demo
    history, new = fleet.simulate_new_days(AIRCRAFT, SEED, days=FIRST_DAYS, new_days=NEW_DAYS)
    for name in fleet.TYPES:
        assert _count(engine, f'SELECT count(*) FROM "{name}"') == \
            len(history[name]) + len(new[name]), name
    assert not (folder / "data").exists()  # no DuckDB file on the side
    # The project file is the DuckDB one with its URLs changed: the same SQL.
    project = spec.load(folder / "shipyard.yaml")
    template = yaml.safe_load((resources.files("shipyard.data") / "fleet.yaml").read_text())
    assert project.source.url == url and project.monitor.store == url
    assert project.source.query == template["source"]["query"]


def test_a_champion_was_registered_and_a_challenger_promoted(demo):
    _, folder, printed, _ = demo
    workspace = Workspace.of(spec.load(folder / "shipyard.yaml"))
    versions = {v["version"]: v for v in registry.versions(workspace, "fleet-rul")}
    assert set(versions) == {"1", "2"} and versions["1"]["gates"] == "passed"
    assert registry.champion_version(workspace, "fleet-rul") == "2"
    assert "version 1 -> version 2" in printed and "Retraining: promoted" in printed
    reports = sorted(p.name for p in workspace.reports.glob("*.html"))
    # first run, the detector's run, challenger, monitor
    assert "monitoring.html" in reports and len(reports) >= 4
    detector = spec.load(folder / "anomaly.yaml")
    assert detector.source.url == spec.load(folder / "shipyard.yaml").source.url  # extends
    assert registry.champion_version(workspace, "fleet-anomaly") == "1"
    assert "Detector      fleet-anomaly version 1" in printed
    assert all((workspace.reports / r).stat().st_size > 20_000 for r in reports)


def test_the_promoted_challenger_is_reproduced_from_its_snapshot_not_the_database(demo):
    url, folder, _, engine = demo
    with engine.begin() as conn:  # the live tables move on after the cycle
        conn.execute(sa.text('CREATE TABLE "flights_kept" AS SELECT * FROM "flights"'))
        conn.execute(sa.text('DELETE FROM "flights"'))
    try:
        done = shipyard("reproduce", "champion", "shipyard.yaml", cwd=folder)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text('INSERT INTO "flights" SELECT * FROM "flights_kept"'))
            conn.execute(sa.text('DROP TABLE "flights_kept"'))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Reproduced: every metric and output matches exactly" in done.stdout
    workspace = Workspace.of(spec.load(folder / "shipyard.yaml"))
    assert registry.champion_version(workspace, "fleet-rul") == "2"


def test_predictions_and_ground_truth_were_logged_in_postgresql(demo):
    _, folder, printed, engine = demo
    history, new = fleet.simulate_new_days(AIRCRAFT, SEED, days=FIRST_DAYS, new_days=NEW_DAYS)

    def on_wing(tables) -> int:
        flown = set(tables["engine_readings"]["engine_id"])
        return len(flown - set(tables["removals"]["engine_id"]))

    whole = {name: pd.concat([history[name], new[name]]) for name in history}
    # every engine on wing, before and after the new days, and every new flight
    sent = on_wing(history) + len(new["engine_readings"]) + on_wing(whole)
    assert _count(engine, "SELECT count(*) FROM predictions") == sent
    labelled = _count(engine, "SELECT count(*) FROM feedback WHERE source = 'outcomes'")
    assert labelled > 0 and f"{labelled:,} predictions got their ground truth" in printed
    assert _count(engine, "SELECT count(*) FROM decisions") == 1
    assert _count(engine, "SELECT count(*) FROM passes") >= 1
    assert not (Workspace.of(spec.load(folder / "shipyard.yaml")).root / "predictions.db"
                ).exists()


@pytest.mark.parametrize(("database", "message"), [
    (f"postgresql+psycopg://{USER}:wrong-pw@127.0.0.1:{{port}}/{USER}",
     "check the user name and password"),
    (f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:1/{USER}", "Cannot connect"),
    ("sqlite:///fleet.db", "--database must be a PostgreSQL URL, got 'sqlite:///fleet.db'"),
])
def test_a_bad_database_url_stops_the_demo_before_anything_is_written(postgres, tmp_path,
                                                                     database, message):
    done = shipyard("demo", "--dir", "fleet", "--database",
                    database.replace("{port}", str(postgres.port)), "--aircraft", "3",
                    "--no-keep-serving", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "wrong-pw" not in done.stderr
    assert list(tmp_path.iterdir()) == []
