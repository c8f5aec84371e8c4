"""A seeded simulator of an airline's fleet, the embedded demo's data.

It makes five tables: ``aircraft``, their ``engines``, ``flights``, one cruise
snapshot of each engine's sensors per flight (``engine_readings``) and engine
``removals``. Engines wear out on a hidden curve and fail; a few leave early
for a scheduled shop visit. Each removed engine is replaced by a new one at the
same position. The same arguments always give the same tables.

``simulate`` gives the first days (what the demo's first model learns from);
``simulate_new_days`` gives them and the days that follow, in which the fleet
changes (see ``fleet_change``); ``append_duckdb`` adds the new days to the file.
``fleet_sql`` writes and appends the same tables to PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shipyard.data import fleet_change as change
from shipyard.data import fleet_physics as physics
from shipyard.data import fleet_schedule as schedule
from shipyard.data import fleet_tables
from shipyard.data.fleet_tables import MAX_AIRCRAFT, MODELS

__all__ = ["KEYS", "MODELS", "TYPES", "append_duckdb", "check_tables", "simulate",
           "simulate_new_days", "write_duckdb"]

TYPES: dict[str, dict[str, str]] = {
    "aircraft": {"aircraft_id": "BIGINT", "tail_number": "VARCHAR", "model": "VARCHAR",
                 "home_base": "VARCHAR", "entered_service": "DATE"},
    "engines": {"engine_id": "BIGINT", "serial": "VARCHAR", "aircraft_id": "BIGINT",
                "position": "SMALLINT", "variant": "VARCHAR", "installed_on": "DATE",
                "cycles_at_install": "INTEGER"},
    "flights": {"flight_id": "BIGINT", "aircraft_id": "BIGINT", "departure": "TIMESTAMP",
                "flight_date": "DATE", "origin": "VARCHAR", "destination": "VARCHAR",
                "block_hours": "DOUBLE"},
    "engine_readings": {"flight_id": "BIGINT", "engine_id": "BIGINT",
                        **{c: "DOUBLE" for c in ["altitude_ft", "mach", "throttle_pct",
                                                 "ambient_temp_c", *physics.SENSORS]},
                        "cycles_since_new": "INTEGER"},
    "removals": {"engine_id": "BIGINT", "flight_id": "BIGINT", "removed_on": "DATE",
                 "cycles_since_new": "INTEGER", "reason": "VARCHAR"},
}


# The columns that identify a row of each table: appending never repeats one.
KEYS = {"aircraft": ["aircraft_id"], "engines": ["engine_id"], "flights": ["flight_id"],
        "engine_readings": ["flight_id", "engine_id"], "removals": ["engine_id"]}


def simulate(aircraft: int = 200, seed: int = 0, days: int = 60,
             start: date = date(2026, 1, 1)) -> dict[str, pd.DataFrame]:
    """Simulate ``aircraft`` aircraft flying for ``days`` days from ``start``.

    Returns the tables by name (see ``TYPES`` for their columns). The engines on
    wing at ``start`` are recorded as installed that day with the cycles they had
    already flown. The defaults give about 50,000 flights and 100,000 readings.
    """
    start = _check(aircraft, days, start)
    return _first_days(aircraft, seed, days, start, 0)[0]


def simulate_new_days(aircraft: int = 200, seed: int = 0, days: int = 60, new_days: int = 14,
                      start: date = date(2026, 1, 1), change_fleet: bool = True,
                      ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """``(history, new)``: ``history`` is ``simulate(aircraft, seed, days, start)``
    and ``new`` the rows the ``new_days`` days after it add to each table. The
    same engines fly on and every id continues; with ``change_fleet``, aircraft of
    a new type join on the first new day (``fleet_change``). Appending ``new`` to
    a file holding ``history`` gives the whole span."""
    start = _check(aircraft, days, start, new_days)
    history, state = _first_days(aircraft, seed, days, start, new_days)
    return history, change.new_days(state, new_days, change_fleet)


def write_duckdb(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Write the tables to a DuckDB file at ``path``, replacing any file there.

    The file appears complete or not at all: it is written beside ``path`` under
    a temporary name and then renamed over it.
    """
    check_tables(tables)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        con = duckdb.connect(str(tmp))
        try:
            for name, frame in tables.items():
                con.register("frame", frame)
                con.execute(f'CREATE TABLE "{name}" AS SELECT {_cast(name)} FROM frame')
                con.unregister("frame")
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def append_duckdb(tables: dict[str, pd.DataFrame], path: Path) -> dict[str, int]:
    """Add the rows of ``tables`` to the same tables of the fleet file at ``path``
    and return how many each got.

    All or nothing, in one transaction: a row that does not convert, or one whose
    key (``KEYS``) the table already has, adds no row to any table.
    """
    check_tables(tables)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no fleet file at {path}: write one with write_duckdb first")
    con = duckdb.connect(str(path))
    try:
        for name, frame in tables.items():
            con.register(f"new_{name}", frame)
        con.execute("BEGIN TRANSACTION")
        try:
            added = {name: _append(con, name, len(frame)) for name, frame in tables.items()}
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return added


def _append(con: duckdb.DuckDBPyConnection, name: str, rows: int) -> int:
    con.execute(f'INSERT INTO "{name}" SELECT {_cast(name)} FROM "new_{name}"')
    keys = ", ".join(f'"{k}"' for k in KEYS[name])
    repeated = con.execute(f'SELECT {keys} FROM "{name}" GROUP BY ALL HAVING count(*) > 1 '
                           "LIMIT 3").fetchall()
    if repeated:
        shown = "; ".join(", ".join(str(v) for v in row) for row in repeated)
        raise ValueError(f"table {name} already has rows with these {keys}: {shown}; "
                         "nothing was appended")
    return rows


def check_tables(tables: dict[str, pd.DataFrame]) -> None:
    """Refuse tables this module does not make, and tables that lack a column."""
    unknown = set(tables) - set(TYPES)
    if unknown:
        raise ValueError(f"unknown fleet tables: {', '.join(sorted(unknown))}; "
                         f"expected some of {', '.join(TYPES)}")
    for name, frame in tables.items():
        missing = [c for c in TYPES[name] if c not in frame.columns]
        if missing:
            raise ValueError(f"table {name} lacks columns: {', '.join(missing)}")


def _cast(name: str) -> str:
    return ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in TYPES[name].items())


def _first_days(aircraft: int, seed: int, days: int, start: date,
                more: int) -> tuple[dict[str, pd.DataFrame], change.State]:
    """The tables of the first ``days`` days, and the state the days after them
    start from (the timetable is drawn ``more`` days further, which leaves the
    first days as they are: it draws the same numbers for each day)."""
    fleet_rng, sched_rng, engine_rng, sensor_rng = np.random.default_rng(seed).spawn(4)
    planes = fleet_tables.aircraft(fleet_rng, aircraft, start)
    home = schedule.home_bases(sched_rng, aircraft)
    planes.insert(3, "home_base", pd.Series(schedule.CODES[home], dtype="str"))
    trips = schedule.timetable(sched_rng, home, days + more)
    cut = int(np.searchsorted(trips["departure"], days * 1440))
    flights = fleet_tables.flights({key: value[:cut] for key, value in trips.items()}, start)
    variant = np.array([MODELS[m][0] for m in planes["model"]], dtype=object)
    slots = np.arange(2 * aircraft)
    first = fleet_tables.fit(engine_rng, slots, variant[slots // 2],
                             np.zeros(slots.size, np.int64), worn=fleet_tables.ON_WING)
    count = np.bincount(flights["aircraft_id"].to_numpy() - 1, minlength=aircraft)
    eng = fleet_tables.wear_out(engine_rng, first, variant, count)
    engines, removals, hidden = fleet_tables.engines(
        eng, variant, flights, start,
        lambda k: engine_rng.choice(900_000, size=k, replace=False) + 100_000)
    readings = fleet_tables.readings(sensor_rng, flights, hidden)
    made = {"aircraft": planes, "engines": engines, "flights": flights,
            "engine_readings": readings, "removals": removals}
    rest = {key: value[cut:] for key, value in trips.items()}
    rest["departure"] = rest["departure"] - days * 1440
    state = change.State(seed=seed, start=start + timedelta(days=days), aircraft=planes,
                         variant=variant, trips=rest, engines=hidden, last_flight=len(flights),
                         serials=engines["serial"].str[-6:].astype(np.int64).to_numpy())
    return made, state


def _check(aircraft: int, days: int, start: date, new_days: int = 1) -> date:
    for name, value, high in (("aircraft", aircraft, MAX_AIRCRAFT), ("days", days, 36_500),
                              ("new_days", new_days, 36_500)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if not 1 <= value <= high:
            raise ValueError(f"{name} must be between 1 and {high}, got {value}")
    if not isinstance(start, date):
        raise ValueError(f"start must be a datetime.date, got {start!r}")
    return start.date() if isinstance(start, datetime) else start


