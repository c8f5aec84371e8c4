"""Where and when the demo fleet flies: a hub-and-spoke timetable.

Each aircraft starts the day wherever it ended the last one and flies legs out of
its home base and back until its daily leg budget or the evening curfew runs out.
"""

from __future__ import annotations

import numpy as np

# IATA code: (latitude, longitude)
AIRPORTS = {
    "ATL": (33.64, -84.43), "BOS": (42.36, -71.01), "DEN": (39.86, -104.67),
    "DFW": (32.90, -97.04), "ORD": (41.98, -87.90), "SEA": (47.45, -122.31),
    "LAX": (33.94, -118.41), "SFO": (37.62, -122.38), "PHX": (33.43, -112.01),
    "LAS": (36.08, -115.15), "MSP": (44.88, -93.22), "DTW": (42.21, -83.35),
    "JFK": (40.64, -73.78), "MIA": (25.79, -80.29), "MCO": (28.43, -81.31),
    "IAH": (29.98, -95.34), "CLT": (35.21, -80.94), "SLC": (40.79, -111.98),
    "PDX": (45.59, -122.60), "SAN": (32.73, -117.19), "AUS": (30.19, -97.67),
    "BNA": (36.12, -86.68), "RDU": (35.88, -78.79), "STL": (38.75, -90.37),
    "MCI": (39.30, -94.71), "BWI": (39.18, -76.67), "TPA": (27.98, -82.53),
    "BOI": (43.56, -116.22),
}
CODES = np.array(list(AIRPORTS))
HUBS = {"DEN": 0.25, "ORD": 0.2, "ATL": 0.2, "DFW": 0.15, "SEA": 0.1, "BOS": 0.1}

FIRST_DEPARTURE = 6 * 60  # minutes after midnight
LAST_DEPARTURE = 21 * 60 + 30
MAX_LEGS = 6


def _distance_km() -> np.ndarray:
    lat, lon = np.radians(np.array(list(AIRPORTS.values()))).T
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def home_bases(rng: np.random.Generator, aircraft: int) -> np.ndarray:
    """An airport index per aircraft, drawn from the hubs."""
    hubs = [list(AIRPORTS).index(h) for h in HUBS]
    return rng.choice(hubs, size=aircraft, p=list(HUBS.values()))


def timetable(rng: np.random.Generator, home: np.ndarray, days: int) -> dict[str, np.ndarray]:
    """Every flight of every aircraft, in order of departure (minutes after the
    first midnight), with origin and destination airport indexes and block hours."""
    n = len(home)
    km = _distance_km()
    legs_per_day = rng.integers(4, MAX_LEGS + 1, size=n)
    where = home.copy()
    parts: list[tuple[np.ndarray, ...]] = []
    for day in range(days):
        # About one day in thirty an aircraft stays on the ground (checks, spares).
        flying = rng.random(n) >= 0.03
        clock = day * 1440 + FIRST_DEPARTURE + 5 * rng.integers(0, 19, size=n)
        for leg in range(MAX_LEGS):
            fly = flying & (leg < legs_per_day) & (clock <= day * 1440 + LAST_DEPARTURE)
            spoke = rng.integers(0, len(CODES) - 1, size=n)
            spoke = spoke + (spoke >= home)  # any airport but home
            dest = np.where(where == home, spoke, home)
            block = 0.45 + km[where, dest] / 800.0 + rng.normal(0, 0.08, size=n)
            block = np.round(np.maximum(block, 0.6), 2)
            idx = np.flatnonzero(fly)
            parts.append((idx, clock[idx], where[idx], dest[idx], block[idx]))
            turnaround = 5 * rng.integers(7, 16, size=n)
            clock = clock + np.round(block * 12).astype(np.int64) * 5 + turnaround
            where = np.where(fly, dest, where)
    aircraft, departure, origin, dest, block = (np.concatenate(c) for c in zip(*parts, strict=True))
    order = np.lexsort((aircraft, departure))
    return {"aircraft": aircraft[order], "departure": departure[order],
            "origin": origin[order], "destination": dest[order], "block_hours": block[order]}
