"""A whole `shipyard run` on a project whose source is the session's real
PostgreSQL: a JOIN of two tables gives the rows, a model is registered; and a
run whose extraction keeps losing its connection stores no snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard import registry, spec
from shipyard.data import database
from shipyard.errors import SourceError
from shipyard.lifecycle import run_project
from shipyard.workspace import Workspace
from tests.helpers import frame
from tests.pg import PASSWORD, USER

PROJECT = """\
name: pg
source:
  url: {url}
  query: >-
    SELECT r.eid, r.t, r.a, d.b, r.c, r.y FROM readings r JOIN details d ON d.id = r.id
    ORDER BY r.eid, r.t
target: y
task: regression
entity: eid
time: t
split: {{holdout: 0.25, folds: 3}}
models: [{{name: linear}}]
gates:
  quality:
    - {{metric: r2, min: 0.5}}
"""


def load(postgres, rows) -> str:
    """A new database holding ``rows`` as two tables that share an ``id``."""
    name = postgres.create_database()
    rows = rows.reset_index(names="id")
    engine = postgres.engine(name)
    try:
        rows[["id", "eid", "t", "a", "c", "y"]].to_sql("readings", engine, index=False)
        rows[["id", "b"]].to_sql("details", engine, index=False)
    finally:
        engine.dispose()
    return name


def write(folder: Path, url: str) -> spec.Project:
    (folder / "shipyard.yaml").write_text(PROJECT.format(url=url))
    return spec.load(folder / "shipyard.yaml")


def test_a_run_reads_a_join_from_postgresql_and_registers_a_model(postgres, tmp_path):
    rows = frame()
    project = write(tmp_path, postgres.url(load(postgres, rows)))
    outcome = run_project(project)
    assert outcome.passed and outcome.version == "1"
    assert outcome.evaluation.metrics["r2"] > 0.8
    loaded = registry.load(outcome.workspace, "pg")
    assert loaded.card.version == "1" and loaded.card.schema.names == ["a", "b", "c"]
    manifest = json.loads((outcome.snapshot.path / "manifest.json").read_text())
    assert manifest["rows"] == len(rows)
    types = {c["name"]: c["type"] for c in manifest["columns"]}
    assert types["t"].startswith("timestamp") and types["a"] == "double"
    assert manifest["source"]["url"].startswith(f"postgresql+psycopg://{USER}:***@127.0.0.1:")
    assert PASSWORD not in json.dumps(manifest)


def test_a_run_whose_connection_keeps_dropping_stores_no_snapshot(postgres, tmp_path):
    name = postgres.create_database()
    for statement in (  # two chunks of rows: the first one is read, then the drop
        f"""CREATE TABLE readings AS SELECT g AS id, g / 10 AS eid,
            timestamp '2026-01-01' + g * interval '1 hour' AS t, random() AS a, g % 5 AS c,
            random() AS y FROM generate_series(1, {database._BATCH + 5000}) g""",
        "CREATE TABLE details AS SELECT id, 'x' AS b FROM readings",
    ):
        postgres.sql(statement, database=name, user=USER)
    url = postgres.url(name, application_name="doomed-run")
    project = write(tmp_path, url)
    kills = []

    def progress(step: str, done: float, total) -> None:
        if step == "Extracting rows" and total is None:  # between two chunks
            kills.append(postgres.terminate("doomed-run"))

    with pytest.raises(SourceError, match="kept dropping during the extraction"):
        run_project(project, progress)
    assert kills == [1] * (1 + len(database.RETRY_DELAYS_S))
    snapshots = Workspace.of(project).snapshots
    assert not snapshots.exists() or not any(snapshots.iterdir())
