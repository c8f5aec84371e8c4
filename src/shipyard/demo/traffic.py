"""What the demo sends to its API: the engines still on wing, and the new days'
flights, over real HTTP requests."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pandas as pd

from shipyard import data
from shipyard.data.sources import read
from shipyard.spec import Project

BATCH = 500  # rows per request when replaying a day's flights
DATA_FILE = Path("data") / "fleet.duckdb"  # beside the project file


def engines_on_wing(project: Project, frame: pd.DataFrame) -> pd.DataFrame:
    """The latest row of every engine that is still installed: the ones to score."""
    # Read where the project's source is (a DuckDB file, PostgreSQL...).
    query = project.source.model_copy(update={"query": "SELECT engine_id FROM removals"})
    removed = set(read(query, project.root).column("engine_id").to_pylist())
    on_wing = frame[~frame[project.entity].isin(removed)]
    latest = on_wing.sort_values([project.entity, project.time]).groupby(project.entity).tail(1)
    return latest.reset_index(drop=True)


def sent_columns(card) -> list[str]:
    """What a client sends for each row: the model's inputs and the entity, once each."""
    return list(dict.fromkeys([*card.schema.names, *([card.entity] if card.entity else [])]))


def directory(project: Project) -> pd.DataFrame:
    """Every engine with its aircraft: engine_id, aircraft_id, tail_number, position."""
    query = project.source.model_copy(update={"query": (
        "SELECT e.engine_id, e.aircraft_id, a.tail_number, e.position FROM engines AS e "
        "JOIN aircraft AS a ON a.aircraft_id = e.aircraft_id ORDER BY e.engine_id")})
    return data.to_frame(read(query, project.root))


def rows_since(project: Project, since) -> pd.DataFrame:
    """The project query's rows (the same SQL, on the database as it is now) whose
    time is at or after ``since``, in time order."""
    frame = data.to_frame(data.extract(project))
    times = pd.to_datetime(frame[project.time])
    return frame[times >= pd.Timestamp(since)].sort_values(
        [project.time, project.entity]).reset_index(drop=True)


def predict(url: str, rows: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Every row's answer item from ``POST /predict``, in requests of ``BATCH`` rows."""
    items: list[dict] = []
    for start in range(0, len(rows), BATCH):
        chunk = rows.iloc[start:start + BATCH][columns]
        answer = post(f"{url}/predict", chunk)
        items.extend(answer["predictions"])
    return items


def post(url: str, rows: pd.DataFrame) -> dict:
    # 15 digits: the default 10 would round inputs, and the served answer would drift
    # from the pipeline's on the same row.
    body = rows.to_json(orient="records", double_precision=15, date_format="iso").encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
