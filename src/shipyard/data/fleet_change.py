"""The days after the first deployment, and how the fleet changes in them.

The fleet flies on from where the first days left it: the same aircraft on the
same timetable, the engines on wing keep wearing until they fail or go to the
shop, replacements are fitted, and every id continues from the last one used.

The change: on the first new day the airline absorbs a regional carrier, whose
Airbus A220-300s join the fleet at its hubs. Their Pratt & Whitney PW1500G
engines are of a type the fleet never had: they run cooler and burn less fuel,
with other fan and core speeds, compressor pressure and oil temperature, so a
model trained on the first days reads a worn PW1500G as a healthy engine. The
carrier had put off shop visits, so many of its engines are late in life and
fail within days, which brings labelled rows of the new type soon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from shipyard.data import fleet_schedule as schedule
from shipyard.data import fleet_tables as tables

ACQUIRED_MODEL, ACQUIRED_VARIANT = "A220-300", "PW1500G"
ACQUIRED_SHARE = 0.2  # aircraft that join, as a share of the fleet they join
ACQUIRED_WORN = (0.45, 0.98)  # share of its life each acquired engine has flown
_OLDEST_A220 = 9  # years
_DAY = 1440  # minutes


@dataclass(frozen=True)
class State:
    """What the first days leave behind for the days after them."""

    seed: int
    start: date  # the first new day
    aircraft: pd.DataFrame  # every aircraft so far
    variant: np.ndarray  # each aircraft's engine variant
    trips: dict[str, np.ndarray]  # the fleet's timetable from the first new day on
    engines: dict[str, np.ndarray]  # every engine so far, as fleet_tables.engines gives it
    last_flight: int  # the highest flight_id so far
    serials: np.ndarray  # serial numbers in use


def new_days(state: State, days: int, change: bool = True) -> dict[str, pd.DataFrame]:
    """The rows ``days`` days after ``state`` adds to each table: the aircraft and
    engines that join, the flights, readings and removals. With ``change``, the
    acquired A220s join on the first of them."""
    # A stream of its own, so the first days come out the same whatever follows them.
    fleet_rng, sched_rng, engine_rng, sensor_rng = (
        np.random.default_rng(state.seed).spawn(5)[4].spawn(4))
    n = len(state.aircraft)
    joining, home = _acquired(fleet_rng, sched_rng, n, state.start) if change else (None, None)
    m = 0 if joining is None else len(joining)
    trips = {key: value[state.trips["departure"] < days * _DAY]
             for key, value in state.trips.items()}
    variant = state.variant
    if joining is not None:
        theirs = schedule.timetable(sched_rng, home, days)
        theirs["aircraft"] = theirs["aircraft"] + n
        trips = {key: np.concatenate([trips[key], theirs[key]]) for key in trips}
        order = np.lexsort((trips["aircraft"], trips["departure"]))
        trips = {key: value[order] for key, value in trips.items()}
        variant = np.concatenate([variant, np.full(m, ACQUIRED_VARIANT, dtype=object)])
    flights = tables.flights(trips, state.start, first_id=state.last_flight + 1)
    count = np.bincount(flights["aircraft_id"].to_numpy() - 1, minlength=n + m)

    first = _on_wing(state.engines)
    if m:
        slots = np.arange(2 * n, 2 * (n + m))
        used = tables.fit(engine_rng, slots, variant[slots // 2], np.zeros(2 * m, np.int64),
                          worn=ACQUIRED_WORN)
        first = {key: np.concatenate([first[key], used[key]]) for key in first}
    eng = tables.wear_out(engine_rng, first, variant, count)
    free = np.ones(900_000, dtype=bool)
    free[state.serials - 100_000] = False
    free = np.flatnonzero(free) + 100_000
    engines, removals, hidden = tables.engines(
        eng, variant, flights, state.start,
        lambda k: engine_rng.choice(free, size=k, replace=False),
        first_id=int(state.engines["engine_id"].max()) + 1)
    readings = tables.readings(sensor_rng, flights, hidden)
    planes = joining if joining is not None else state.aircraft.iloc[:0]
    return {"aircraft": planes, "engines": engines, "flights": flights,
            "engine_readings": readings, "removals": removals}


def _on_wing(eng: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The engine on wing in each slot at the end of the first days, as it is then:
    the cycles it has flown count as the ones it had when the new days begin."""
    keep = ~eng["removed"]
    state = {key: eng[key][keep] for key in ("slot", "end", "early", "engine_id", "life",
                                              "onset", "wear0", "offset")}
    order = np.argsort(state["slot"])
    state = {key: value[order] for key, value in state.items()}
    state["installed"] = (eng["installed"] + eng["flown"])[keep][order]
    state["begin"] = np.zeros(order.size, dtype=np.int64)
    return state


def _acquired(fleet_rng: np.random.Generator, sched_rng: np.random.Generator, n: int,
              start: date) -> tuple[pd.DataFrame, np.ndarray]:
    """The aircraft that join on ``start`` (their ids follow the fleet's ``n``) and
    the airport index of each one's home base."""
    m = max(1, round(ACQUIRED_SHARE * n))
    home = schedule.home_bases(sched_rng, m)
    age_days = fleet_rng.integers(180, _OLDEST_A220 * 365, size=m)
    # The carrier's registrations, N100PY..N999PY then PA, PB...: never the fleet's S?.
    code = fleet_rng.permutation(-(-m // 900) * 900)[:m]
    letters = np.array(list(tables.TAIL_LETTERS))[code // 900]
    planes = pd.DataFrame({
        "aircraft_id": np.arange(n + 1, n + m + 1, dtype=np.int64),
        "tail_number": pd.Series("N" + (100 + code % 900).astype(str)).str.cat(
            pd.Series("P" + letters)),
        "model": pd.Series([ACQUIRED_MODEL] * m, dtype="str"),
        "home_base": pd.Series(schedule.CODES[home], dtype="str"),
        "entered_service": (np.datetime64(start, "s")
                            - age_days.astype("timedelta64[D]")).astype("datetime64[s]"),
    })
    return planes, home
