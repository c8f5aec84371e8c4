"""How the demo's engines wear out and what their sensors read at cruise.

Loosely after NASA's C-MAPSS: a hidden wear state grows from a small initial
value to 1 (failure) on an accelerating curve, and each sensor is a sum of the
operating regime's effect, a per-engine manufacturing offset, a wear effect and
noise. The wear stays hidden; only the sensors reach the tables.
"""

from __future__ import annotations

import numpy as np

# Cruise regimes, two flight levels per route length: (altitude ft, Mach,
# throttle %). Short legs cruise low; long legs start heavy with fuel and need
# more thrust. The regime changes every sensor, so single readings are noisy.
REGIMES = np.array([
    [30000, 0.74, 90.0], [32000, 0.75, 86.0],  # short: under 1.6 block hours
    [34000, 0.77, 84.0], [36000, 0.78, 82.0],  # medium: up to 3 block hours
    [37000, 0.78, 88.0], [39000, 0.79, 86.0],  # long
])
LONGER_THAN = [1.6, 3.0]

# By engine variant: mean life in cycles and base shifts of EGT (C) and fuel flow
# (kg/h). Invented figures, not any manufacturer's data.
VARIANTS = {
    "LEAP-1A": (250, 0.0, 0.0),
    "PW1100G": (215, 12.0, 30.0),
    "CFM56-7B": (290, 35.0, 140.0),
    "LEAP-1B": (250, 5.0, 20.0),
    # The smaller geared turbofan of the A220s that join the fleet in the new days
    # (see fleet_change): a cooler, thriftier engine with a shorter life on wing.
    "PW1500G": (200, -45.0, -280.0),
}

SENSORS = ["egt_c", "vibration_ips", "hpc_pressure_psi", "fan_speed_pct", "core_speed_pct",
           "fuel_flow_kgh", "oil_temp_c"]
# Base shifts of the other sensors, by variant; a variant not listed has none.
OTHER_SHIFTS = {
    "PW1500G": {"vibration_ips": 0.15, "hpc_pressure_psi": -18.0, "fan_speed_pct": 3.0,
                "core_speed_pct": -2.0, "oil_temp_c": 6.0},
}
# Per sensor: base; per unit of (throttle %, altitude kft, Mach 0.01, ambient C)
# deviation from the reference cruise; wear effect at failure; noise sd; engine offset sd.
_BASE = np.array([640.0, 0.5, 190.0, 86.0, 95.0, 1250.0, 88.0])
_REGIME = np.array([
    [4.0, -1.5, 1.5, 1.1],
    [0.01, 0.0, 0.005, 0.0],
    [3.0, -4.0, 1.0, -0.3],
    [0.9, 0.3, 0.6, 0.08],
    [0.45, 0.15, 0.2, 0.06],
    [30.0, -25.0, 12.0, 1.5],
    [0.6, 0.0, 0.0, 0.25],
])
_REFERENCE = np.array([85.0, 35.0, 78.0, -50.0])
_WEAR = np.array([60.0, 0.0, -14.0, 0.4, 1.6, 75.0, 5.0])
_NOISE = np.array([9.0, 0.12, 3.0, 0.35, 0.4, 25.0, 1.5])
_OFFSET = np.array([6.0, 0.05, 2.0, 0.3, 0.25, 15.0, 2.0])
_DECIMALS = [1, 3, 2, 2, 2, 1, 1]
# Vibration grows with the cube of wear: quiet for most of life, loud near the end.
_LATE_VIBRATION = 0.9
DROPOUTS = ("vibration_ips", "hpc_pressure_psi", "oil_temp_c")
DROPOUT_RATE = 0.005
TURBULENCE_RATE = 0.03
# The share of wear that accrues steadily; the rest comes on exponentially near the end.
_STEADY = 0.15


def lives(rng: np.random.Generator, variants: np.ndarray) -> dict[str, np.ndarray]:
    """Hidden traits of new engines: cycles to failure, how late the wear comes
    on (cycles), initial wear, and sensor offsets."""
    n = len(variants)
    mean = np.array([VARIANTS[v][0] for v in variants], dtype=float)
    # mu = -sigma^2 / 2 keeps the variant's mean life the mean.
    life = np.clip(np.round(mean * rng.lognormal(-0.045, 0.3, size=n)), 120, 450)
    return {
        "life": life.astype(np.int64),
        "onset": rng.uniform(35.0, 60.0, size=n),
        "wear0": rng.uniform(0.0, 0.08, size=n),
        "offset": rng.normal(0.0, 1.0, size=(n, len(SENSORS))) * _OFFSET,
    }


def wear(cycle: np.ndarray, life: np.ndarray, onset: np.ndarray, wear0: np.ndarray) -> np.ndarray:
    """Wear after ``cycle`` cycles since new: ``wear0`` when new, 1 at ``life``."""
    shape = _STEADY * cycle / life + (1 - _STEADY) * np.exp(-(life - cycle) / onset)
    return wear0 + (1 - wear0) * shape


def shifts(variants: np.ndarray) -> np.ndarray:
    """Each variant's base shift of every sensor, one row per item of ``variants``."""
    table = {}
    for name in set(variants):
        shift = np.zeros(len(SENSORS))
        shift[0], shift[5] = VARIANTS[name][1:]
        for sensor, value in OTHER_SHIFTS.get(name, {}).items():
            shift[SENSORS.index(sensor)] = value
        table[name] = shift
    return np.array([table[v] for v in variants]).reshape(-1, len(SENSORS))


def conditions(rng: np.random.Generator, block_hours: np.ndarray,
               day_of_year: np.ndarray) -> dict[str, np.ndarray]:
    """Cruise conditions of each flight, shared by its engines."""
    n = len(block_hours)
    regime = np.digitize(block_hours, LONGER_THAN) * 2 + rng.integers(0, 2, size=n)
    altitude, mach, throttle = REGIMES[regime].T
    altitude = np.round(altitude + rng.normal(0, 40, size=n))
    isa = np.maximum(15.0 - 1.98 * altitude / 1000, -56.5)
    season = 4.0 * np.sin(2 * np.pi * (day_of_year - 110) / 365)
    return {
        "altitude_ft": altitude,
        "mach": np.round(mach + rng.normal(0, 0.004, size=n), 3),
        "throttle_pct": np.round(throttle + rng.normal(0, 1.5, size=n), 1),
        "ambient_temp_c": np.round(isa + season + rng.normal(0, 4.0, size=n), 1),
    }


def sensors(rng: np.random.Generator, cond: dict[str, np.ndarray], worn: np.ndarray,
            offset: np.ndarray, variant_shift: np.ndarray, flight: np.ndarray,
            turbulent: np.ndarray) -> dict[str, np.ndarray]:
    """Sensor readings, one row per engine per flight.

    ``cond`` holds per-reading conditions, ``worn`` the hidden wear, ``offset``
    each reading's engine offsets, ``variant_shift`` base shifts (``shifts``),
    ``flight`` a flight index per reading and ``turbulent`` a per-flight spike
    size (0 on calm flights).
    """
    n = len(worn)
    dev = np.column_stack([cond["throttle_pct"], cond["altitude_ft"] / 1000,
                           cond["mach"] * 100, cond["ambient_temp_c"]]) - _REFERENCE
    values = _BASE + dev @ _REGIME.T + offset + np.outer(worn, _WEAR)
    values += rng.normal(0.0, 1.0, size=values.shape) * _NOISE
    values += variant_shift
    vib = values[:, 1] + _LATE_VIBRATION * worn**3
    # Turbulence shakes the airframe, so both engines of a flight spike together.
    vib += turbulent[flight] * rng.uniform(0.85, 1.15, size=n)
    values[:, 1] = np.maximum(vib, 0.02)
    out = {}
    for i, name in enumerate(SENSORS):
        column = np.round(values[:, i], _DECIMALS[i])
        if name in DROPOUTS:
            column[rng.random(n) < DROPOUT_RATE] = np.nan
        out[name] = column
    return out


def turbulence(rng: np.random.Generator, flights: int) -> np.ndarray:
    """Vibration spike (ips) per flight: zero on most, large on a few."""
    hit = rng.random(flights) < TURBULENCE_RATE
    return np.where(hit, rng.uniform(0.8, 2.5, size=flights), 0.0)
