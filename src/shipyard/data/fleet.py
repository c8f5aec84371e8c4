"""A seeded simulator of an airline's fleet, the embedded demo's data.

It makes five tables: ``aircraft``, their ``engines``, ``flights``, one cruise
snapshot of each engine's sensors per flight (``engine_readings``) and engine
``removals``. Engines wear out on a hidden curve and fail; a few leave early
for a scheduled shop visit. Each removed engine is replaced by a new one at the
same position. The same arguments always give the same tables.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shipyard.data import fleet_physics as physics
from shipyard.data import fleet_schedule as schedule

__all__ = ["TYPES", "simulate", "write_duckdb"]

# Model: (engine variant, share of the fleet, oldest airframe in years)
MODELS = {
    "A320neo": ("LEAP-1A", 0.35, 8),
    "A321neo": ("PW1100G", 0.2, 7),
    "737-800": ("CFM56-7B", 0.3, 18),
    "737 MAX 8": ("LEAP-1B", 0.15, 7),
}
SERIAL_PREFIX = {"LEAP-1A": "598-", "PW1100G": "P7", "CFM56-7B": "896-", "LEAP-1B": "602-"}
_TAIL_LETTERS = "YABCDEFGHJKLMNPRTUVWXZ"
MAX_AIRCRAFT = 900 * len(_TAIL_LETTERS)
# Share of engines that go to the shop before they fail (their life is censored).
SCHEDULED_RATE = 0.08

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
                                                 "ambient_temp_c", *physics.SENSORS]}},
    "removals": {"engine_id": "BIGINT", "flight_id": "BIGINT", "removed_on": "DATE",
                 "cycles_since_new": "INTEGER", "reason": "VARCHAR"},
}


def simulate(aircraft: int = 200, seed: int = 0, days: int = 60,
             start: date = date(2026, 1, 1)) -> dict[str, pd.DataFrame]:
    """Simulate ``aircraft`` aircraft flying for ``days`` days from ``start``.

    Returns the tables by name (see ``TYPES`` for their columns). The engines on
    wing at ``start`` are recorded as installed that day with the cycles they had
    already flown. The defaults give about 50,000 flights and 100,000 readings.
    """
    start = _check(aircraft, days, start)
    fleet_rng, sched_rng, engine_rng, sensor_rng = np.random.default_rng(seed).spawn(4)
    planes = _aircraft(fleet_rng, aircraft, start)
    home = schedule.home_bases(sched_rng, aircraft)
    planes.insert(3, "home_base", pd.Series(schedule.CODES[home], dtype="str"))
    trips = schedule.timetable(sched_rng, home, days)
    flights = _flights(trips, start)
    engines, removals, hidden = _engines(engine_rng, planes, flights, start)
    readings = _readings(sensor_rng, flights, hidden)
    return {"aircraft": planes, "engines": engines, "flights": flights,
            "engine_readings": readings, "removals": removals}


def write_duckdb(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Write the tables to a DuckDB file at ``path``, replacing any file there.

    The file appears complete or not at all: it is written beside ``path`` under
    a temporary name and then renamed over it.
    """
    unknown = set(tables) - set(TYPES)
    if unknown:
        raise ValueError(f"unknown fleet tables: {', '.join(sorted(unknown))}; "
                         f"expected some of {', '.join(TYPES)}")
    for name, frame in tables.items():
        missing = [c for c in TYPES[name] if c not in frame.columns]
        if missing:
            raise ValueError(f"table {name} lacks columns: {', '.join(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        con = duckdb.connect(str(tmp))
        try:
            for name, frame in tables.items():
                columns = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in TYPES[name].items())
                con.register("frame", frame)
                con.execute(f'CREATE TABLE "{name}" AS SELECT {columns} FROM frame')
                con.unregister("frame")
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _check(aircraft: int, days: int, start: date) -> date:
    for name, value, high in (("aircraft", aircraft, MAX_AIRCRAFT), ("days", days, 36_500)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if not 1 <= value <= high:
            raise ValueError(f"{name} must be between 1 and {high}, got {value}")
    if not isinstance(start, date):
        raise ValueError(f"start must be a datetime.date, got {start!r}")
    return start.date() if isinstance(start, datetime) else start


def _aircraft(rng: np.random.Generator, n: int, start: date) -> pd.DataFrame:
    names = list(MODELS)
    model = rng.choice(len(names), size=n, p=[m[1] for m in MODELS.values()])
    oldest = np.array([MODELS[m][2] for m in names])[model]
    age_days = rng.integers(180, oldest * 365)
    # Tail numbers N100SY..N999SY; a fleet larger than 900 moves on to SA, SB...
    code = np.concatenate([b * 900 + rng.permutation(900) for b in range(-(-n // 900))])[:n]
    letters = np.array(list(_TAIL_LETTERS))[code // 900]
    return pd.DataFrame({
        "aircraft_id": np.arange(1, n + 1, dtype=np.int64),
        "tail_number": pd.Series("N" + (100 + code % 900).astype(str)).str.cat(
            pd.Series("S" + letters)),
        "model": pd.Series(np.array(names)[model], dtype="str"),
        "entered_service": np.datetime64(start, "s") - age_days.astype("timedelta64[D]"),
    })


def _flights(trips: dict[str, np.ndarray], start: date) -> pd.DataFrame:
    departure = np.datetime64(start, "m") + trips["departure"].astype("timedelta64[m]")
    return pd.DataFrame({
        "flight_id": np.arange(1, len(departure) + 1, dtype=np.int64),
        "aircraft_id": trips["aircraft"].astype(np.int64) + 1,
        "departure": departure.astype("datetime64[s]"),
        "flight_date": departure.astype("datetime64[D]").astype("datetime64[s]"),
        "origin": pd.Series(schedule.CODES[trips["origin"]], dtype="str"),
        "destination": pd.Series(schedule.CODES[trips["destination"]], dtype="str"),
        "block_hours": trips["block_hours"],
    })


def _engines(rng: np.random.Generator, planes: pd.DataFrame, flights: pd.DataFrame,
             start: date):
    """The engines table, the removals table, and each engine's hidden traits and
    place in its aircraft's flights (``begin``: its first flight's index there,
    ``flown``: how many it flew)."""
    n = len(planes)
    variant = np.array([MODELS[m][0] for m in planes["model"]])
    plane_of_flight = flights["aircraft_id"].to_numpy() - 1
    count = np.bincount(plane_of_flight, minlength=n)
    active = np.arange(2 * n)  # slots: aircraft * 2 + position - 1
    begin = np.zeros(2 * n, dtype=np.int64)
    parts = []
    while active.size:
        k = active.size
        traits = physics.lives(rng, variant[active // 2])
        life = traits["life"]
        if parts:
            installed = np.zeros(k, dtype=np.int64)
        else:  # on wing at the start, somewhere in its life
            installed = np.maximum(np.floor(rng.uniform(0.05, 0.95, k) * life), 1).astype(np.int64)
        early = rng.random(k) < SCHEDULED_RATE
        shop = installed + np.ceil(rng.uniform(0.4, 0.95, k) * (life - installed)).astype(np.int64)
        end = np.where(early, np.clip(shop, installed + 1, life - 1), life)
        last = begin + (end - installed) - 1
        removed = last < count[active // 2]
        parts.append({"slot": active, "begin": begin, "last": last, "installed": installed,
                      "end": end, "early": early, "removed": removed, **traits})
        active, begin = active[removed], last[removed] + 1
    eng = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    plane = eng["slot"] // 2
    # Flight rows of each aircraft, in departure order, start at first[aircraft].
    by_plane = np.argsort(plane_of_flight, kind="stable")
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    # The flight after which each replacement was fitted (-1: on wing at the start).
    fitted_after = np.full(plane.size, -1)
    later = eng["begin"] > 0
    fitted_after[later] = by_plane[first[plane[later]] + eng["begin"][later] - 1]
    order = np.lexsort((eng["slot"], fitted_after))  # initial engines first, then by time
    eng = {key: value[order] for key, value in eng.items()}
    plane, fitted_after = plane[order], fitted_after[order]
    engine_id = np.arange(1, len(order) + 1, dtype=np.int64)
    dates = flights["flight_date"].to_numpy()
    installed_on = np.full(len(order), np.datetime64(start, "s"))
    later = fitted_after >= 0
    installed_on[later] = dates[fitted_after[later]]
    serials = rng.choice(900_000, size=len(order), replace=False) + 100_000
    prefix = np.array([SERIAL_PREFIX[v] for v in variant[plane]])
    engines = pd.DataFrame({
        "engine_id": engine_id,
        "serial": pd.Series(prefix, dtype="str").str.cat(pd.Series(serials.astype(str))),
        "aircraft_id": plane.astype(np.int64) + 1,
        "position": (eng["slot"] % 2 + 1).astype(np.int16),
        "variant": pd.Series(variant[plane], dtype="str"),
        "installed_on": installed_on.astype("datetime64[s]"),
        "cycles_at_install": eng["installed"].astype(np.int32),
    })
    gone = np.flatnonzero(eng["removed"])
    last_row = by_plane[first[plane[gone]] + eng["last"][gone]]
    removals = pd.DataFrame({
        "engine_id": engine_id[gone],
        "flight_id": last_row.astype(np.int64) + 1,
        "removed_on": dates[last_row],
        "cycles_since_new": eng["end"][gone].astype(np.int32),
        "reason": pd.Series(np.where(eng["early"][gone], "scheduled", "failure"), dtype="str"),
    }).sort_values(["flight_id", "engine_id"], ignore_index=True)
    flown = np.maximum(np.minimum(eng["last"] + 1, count[plane]) - eng["begin"], 0)
    rows = first[plane] + eng["begin"]  # where each engine's flights start in by_plane
    return engines, removals, {**eng, "flown": flown, "rows": rows, "by_plane": by_plane,
                               "variant": variant[plane]}


def _readings(rng: np.random.Generator, flights: pd.DataFrame, eng: dict) -> pd.DataFrame:
    """One cruise snapshot per engine per flight, in flight order, position 1 first."""
    flown = eng["flown"]
    engine = np.repeat(np.arange(len(flown)), flown)
    nth = np.arange(engine.size) - np.repeat(np.cumsum(flown) - flown, flown)
    row = eng["by_plane"][eng["rows"][engine] + nth]
    worn = physics.wear(eng["installed"][engine] + nth + 1, eng["life"][engine],
                        eng["onset"][engine], eng["wear0"][engine])
    dates = flights["flight_date"].to_numpy()
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype("timedelta64[D]").astype(int) + 1
    cond = physics.conditions(rng, flights["block_hours"].to_numpy(), day_of_year)
    cond = {key: value[row] for key, value in cond.items()}
    shift = np.array([physics.VARIANTS[v][1:] for v in eng["variant"]]).reshape(-1, 2)
    spikes = physics.turbulence(rng, len(flights))
    values = physics.sensors(rng, cond, worn, eng["offset"][engine], shift[engine], row, spikes)
    frame = pd.DataFrame({"flight_id": row.astype(np.int64) + 1,
                          "engine_id": engine.astype(np.int64) + 1, **cond, **values})
    order = np.lexsort((eng["slot"][engine] % 2, row))
    return frame.take(order).reset_index(drop=True)
