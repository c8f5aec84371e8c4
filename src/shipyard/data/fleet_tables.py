"""The rows of the demo fleet's tables: aircraft, flights, engines with their
removals, and one sensor reading per engine per flight.

``fleet.simulate`` makes them for the first days; ``fleet_change`` makes the
days that follow from the state the first days left (the engines on wing, how
far each has flown), so the two parts join up.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from shipyard.data import fleet_physics as physics
from shipyard.data import fleet_schedule as schedule

# Model: (engine variant, share of the fleet, oldest airframe in years)
MODELS = {
    "A320neo": ("LEAP-1A", 0.35, 8),
    "A321neo": ("PW1100G", 0.2, 7),
    "737-800": ("CFM56-7B", 0.3, 18),
    "737 MAX 8": ("LEAP-1B", 0.15, 7),
}
SERIAL_PREFIX = {"LEAP-1A": "598-", "PW1100G": "P7", "CFM56-7B": "896-", "LEAP-1B": "602-",
                 "PW1500G": "P5"}
TAIL_LETTERS = "YABCDEFGHJKLMNPRTUVWXZ"
MAX_AIRCRAFT = 900 * len(TAIL_LETTERS)
# Share of engines that go to the shop before they fail (their life is censored).
SCHEDULED_RATE = 0.08
# Where in its life an engine on wing at the start of the simulation is.
ON_WING = (0.05, 0.95)


def aircraft(rng: np.random.Generator, n: int, start: date) -> pd.DataFrame:
    names = list(MODELS)
    model = rng.choice(len(names), size=n, p=[m[1] for m in MODELS.values()])
    oldest = np.array([MODELS[m][2] for m in names])[model]
    age_days = rng.integers(180, oldest * 365)
    # Tail numbers N100SY..N999SY; a fleet larger than 900 moves on to SA, SB...
    code = np.concatenate([b * 900 + rng.permutation(900) for b in range(-(-n // 900))])[:n]
    letters = np.array(list(TAIL_LETTERS))[code // 900]
    return pd.DataFrame({
        "aircraft_id": np.arange(1, n + 1, dtype=np.int64),
        "tail_number": pd.Series("N" + (100 + code % 900).astype(str)).str.cat(
            pd.Series("S" + letters)),
        "model": pd.Series(np.array(names)[model], dtype="str"),
        "entered_service": np.datetime64(start, "s") - age_days.astype("timedelta64[D]"),
    })


def flights(trips: dict[str, np.ndarray], start: date, first_id: int = 1) -> pd.DataFrame:
    """``trips`` from ``schedule.timetable``: departures in minutes after ``start``."""
    departure = np.datetime64(start, "m") + trips["departure"].astype("timedelta64[m]")
    return pd.DataFrame({
        "flight_id": np.arange(first_id, first_id + len(departure), dtype=np.int64),
        "aircraft_id": trips["aircraft"].astype(np.int64) + 1,
        "departure": departure.astype("datetime64[s]"),
        "flight_date": departure.astype("datetime64[D]").astype("datetime64[s]"),
        "origin": pd.Series(schedule.CODES[trips["origin"]], dtype="str"),
        "destination": pd.Series(schedule.CODES[trips["destination"]], dtype="str"),
        "block_hours": trips["block_hours"],
    })


def fit(rng: np.random.Generator, slots: np.ndarray, variants: np.ndarray, begin: np.ndarray,
        worn: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
    """Engines fitted to ``slots`` (aircraft index * 2 + position - 1) before their
    aircraft's flight number ``begin``: hidden traits, the cycles they had then
    (``installed``; new engines have none, ``worn`` gives the share of life a used
    one has behind it) and the cycles at which they will leave (``end``)."""
    k = slots.size
    traits = physics.lives(rng, variants)
    life = traits["life"]
    if worn is None:
        installed = np.zeros(k, dtype=np.int64)
    else:
        installed = np.maximum(np.floor(rng.uniform(*worn, k) * life), 1).astype(np.int64)
    early = rng.random(k) < SCHEDULED_RATE
    shop = installed + np.ceil(rng.uniform(0.4, 0.95, k) * (life - installed)).astype(np.int64)
    end = np.where(early, np.clip(shop, installed + 1, life - 1), life)
    return {"slot": slots, "begin": begin, "installed": installed, "end": end, "early": early,
            "engine_id": np.zeros(k, dtype=np.int64), **traits}  # numbered later


def wear_out(rng: np.random.Generator, first: dict[str, np.ndarray], variant: np.ndarray,
             count: np.ndarray) -> dict[str, np.ndarray]:
    """Follow the ``first`` engines of each slot through their aircraft's ``count``
    flights: whenever one fails or goes to the shop, a new one takes its place.
    Adds ``last`` (its last flight's number on its aircraft) and ``removed``."""
    parts, part = [], first
    while part["slot"].size:
        part["last"] = part["begin"] + (part["end"] - part["installed"]) - 1
        part["removed"] = part["last"] < count[part["slot"] // 2]
        parts.append(part)
        gone = part["removed"]
        part = fit(rng, part["slot"][gone], variant[part["slot"][gone] // 2],
                   part["last"][gone] + 1)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def engines(eng: dict[str, np.ndarray], variant: np.ndarray, trips: pd.DataFrame, start: date,
            serials, first_id: int = 1):
    """The engines table (engines without an ``engine_id`` yet get the next ones),
    the removals table, and the hidden state of every engine in ``eng`` (from
    ``wear_out``) with its place in its aircraft's flights (``rows``, ``flown``).

    ``variant`` is each aircraft's engine variant, ``trips`` the flights table,
    ``start`` the date engines without a fitting flight were fitted, ``serials``
    a function of a count giving that many unused serial numbers."""
    n = len(variant)
    plane_of_flight = trips["aircraft_id"].to_numpy() - 1
    count = np.bincount(plane_of_flight, minlength=n)
    plane = eng["slot"] // 2
    # Flight rows of each aircraft, in departure order, start at first[aircraft].
    by_plane = np.argsort(plane_of_flight, kind="stable")
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    # The flight after which each replacement was fitted (-1: on wing at the start).
    fitted_after = np.full(plane.size, -1)
    later = eng["begin"] > 0
    fitted_after[later] = by_plane[first[plane[later]] + eng["begin"][later] - 1]
    order = np.lexsort((eng["slot"], fitted_after))  # first engines, then by time
    eng = {key: value[order] for key, value in eng.items()}  # copies
    plane, fitted_after = plane[order], fitted_after[order]
    new = eng["engine_id"] == 0
    eng["engine_id"][new] = np.arange(first_id, first_id + new.sum(), dtype=np.int64)
    dates = trips["flight_date"].to_numpy()
    installed_on = np.full(len(order), np.datetime64(start, "s"))
    later = fitted_after >= 0
    installed_on[later] = dates[fitted_after[later]]
    prefix = np.array([SERIAL_PREFIX[v] for v in variant[plane[new]]], dtype=object)
    table = pd.DataFrame({
        "engine_id": eng["engine_id"][new],
        "serial": pd.Series(prefix, dtype="str").str.cat(
            pd.Series(serials(int(new.sum())).astype(str))),
        "aircraft_id": plane[new].astype(np.int64) + 1,
        "position": (eng["slot"][new] % 2 + 1).astype(np.int16),
        "variant": pd.Series(variant[plane[new]], dtype="str"),
        "installed_on": installed_on[new].astype("datetime64[s]"),
        "cycles_at_install": eng["installed"][new].astype(np.int32),
    })
    gone = np.flatnonzero(eng["removed"])
    last_row = by_plane[first[plane[gone]] + eng["last"][gone]]
    removals = pd.DataFrame({
        "engine_id": eng["engine_id"][gone],
        "flight_id": trips["flight_id"].to_numpy()[last_row],
        "removed_on": dates[last_row],
        "cycles_since_new": eng["end"][gone].astype(np.int32),
        "reason": pd.Series(np.where(eng["early"][gone], "scheduled", "failure"), dtype="str"),
    }).sort_values(["flight_id", "engine_id"], ignore_index=True)
    flown = np.maximum(np.minimum(eng["last"] + 1, count[plane]) - eng["begin"], 0)
    rows = first[plane] + eng["begin"]  # where each engine's flights start in by_plane
    return table, removals, {**eng, "flown": flown, "rows": rows, "by_plane": by_plane,
                             "variant": variant[plane]}


def readings(rng: np.random.Generator, trips: pd.DataFrame, eng: dict) -> pd.DataFrame:
    """One cruise snapshot per engine per flight, in flight order, position 1 first.
    An engine's ``installed`` counts the cycles it had before the first of ``trips``."""
    flown = eng["flown"]
    engine = np.repeat(np.arange(len(flown)), flown)
    nth = np.arange(engine.size) - np.repeat(np.cumsum(flown) - flown, flown)
    row = eng["by_plane"][eng["rows"][engine] + nth]
    worn = physics.wear(eng["installed"][engine] + nth + 1, eng["life"][engine],
                        eng["onset"][engine], eng["wear0"][engine])
    dates = trips["flight_date"].to_numpy()
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype("timedelta64[D]").astype(int) + 1
    cond = physics.conditions(rng, trips["block_hours"].to_numpy(), day_of_year)
    cond = {key: value[row] for key, value in cond.items()}
    shift = physics.shifts(eng["variant"])
    spikes = physics.turbulence(rng, len(trips))
    values = physics.sensors(rng, cond, worn, eng["offset"][engine], shift[engine], row, spikes)
    # The engine's own cycle counter, as its monitoring unit reports it with each reading.
    counter = (eng["installed"][engine] + nth + 1).astype(np.int32)
    frame = pd.DataFrame({"flight_id": trips["flight_id"].to_numpy()[row],
                          "engine_id": eng["engine_id"][engine], **cond, **values,
                          "cycles_since_new": counter})
    order = np.lexsort((eng["slot"][engine] % 2, row))
    return frame.take(order).reset_index(drop=True)
