"""Batch scoring throughput and peak memory: `shipyard score`'s engine on a table of
the demo's schema, in one process and on a local Dask cluster of 2 workers.

Synthesises ``--rows`` rows with the columns the demo's RUL model takes (the
query in src/shipyard/data/fleet.yaml: engine and flight ids, date, aircraft model,
engine variant and position, flight conditions, sensor readings and their
10-flight averages) in chunks into one Parquet file, never all in memory. Fits
the pipeline Shipyard builds for such a project (median imputation, scaling,
one-hot encoding, a 100-tree LightGBM) on a 50,000-row sample, then scores the
file twice, each in a fresh process so that one's memory does not count for the
other:

* in-process: the partitions one after another; peak = the process's peak RSS;
* Dask: ``compute: {backend: local, workers: 2}`` (one thread per worker); peak =
  the RSS of the client, scheduler, nannies and workers summed, sampled every
  0.1 s. The workers import the libraries first (timed apart, as ``warm_up_s``):
  a cluster that has scored once has them, and on 2 cores their import is seconds.

    .venv/bin/python bench/scale_scoring.py [--rows 10000000] [--partition-rows 200000]

The target is a peak under 2 GB for 10,000,000 rows in both modes. ``run(rows=...)``
returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TARGET_MB = 2048
CHUNK = 500_000  # rows synthesised and written at a time
PROJECT = """\
name: fleet-bench
source: {url: 'duckdb:///unused.duckdb', query: SELECT 1}
target: rul
task: regression
features: {exclude: [flight_id, engine_id, flight_date]}
models: [{name: lightgbm, params: {n_estimators: 100, n_jobs: 1}}]
"""
SENSORS = {  # column: (mean, spread) of the demo's readings
    "altitude_ft": (35_000, 2_000), "mach": (0.78, 0.02), "throttle_pct": (85, 5),
    "ambient_temp_c": (-50, 8), "egt_c": (650, 25), "vibration_ips": (0.6, 0.2),
    "hpc_pressure_psi": (350, 15), "fan_speed_pct": (92, 2), "core_speed_pct": (96, 1.5),
    "fuel_flow_kgh": (2_400, 150), "oil_temp_c": (95, 6),
}
AVERAGED = ["egt_c", "fuel_flow_kgh", "hpc_pressure_psi", "core_speed_pct", "throttle_pct"]


def fleet_rows(n: int, seed: int, first: int = 0) -> pd.DataFrame:
    """``n`` rows of the demo's scoring table; wear raises temperatures and vibration,
    and the remaining useful life falls with it."""
    rng = np.random.default_rng(seed)
    wear = rng.random(n)
    data = {
        "engine_id": rng.integers(0, 2_000, n), "flight_id": np.arange(first, first + n),
        "flight_date": (np.datetime64("2026-01-01") + rng.integers(0, 365, n)
                        ).astype("datetime64[us]"),
        "aircraft_model": rng.choice(["A320", "A321", "B737", "B738"], n),
        "engine_variant": rng.choice(["CFM56-5B", "CFM56-7B", "LEAP-1A"], n),
        "engine_position": rng.choice(["left", "right"], n),
        "cycles_since_new": rng.integers(0, 30_000, n),
    }
    for name, (mean, spread) in SENSORS.items():
        data[name] = rng.normal(mean, spread, n) + (3 * spread * wear
                                                    if name in ("egt_c", "vibration_ips")
                                                    else 0)
    for name in AVERAGED:
        data[f"{name}_avg10"] = data[name] + rng.normal(0, SENSORS[name][1] / 3, n)
    data["vibration_ips_median10"] = data["vibration_ips"] * rng.normal(1, 0.05, n)
    data["egt_c"][rng.random(n) < 0.01] = np.nan  # a sensor that sometimes drops out
    data["rul"] = np.clip(125 * (1 - wear) + rng.normal(0, 8, n), 0, 125)
    return pd.DataFrame(data)


def write_table(path: Path, rows: int) -> None:
    writer = None
    for i, start in enumerate(range(0, rows, CHUNK)):
        table = pa.Table.from_pandas(fleet_rows(min(CHUNK, rows - start), seed=100 + i,
                                                first=start).drop(columns="rul"),
                                     preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=100_000)
    writer.close()


def fitted_model():
    from shipyard import spec
    from shipyard.card import LoadedModel, ModelCard
    from shipyard.prepare import dataset, steps
    from shipyard.train.cv import make_pipeline

    project = spec.parse(PROJECT)
    ds = dataset(fleet_rows(50_000, seed=0), project)
    pipeline = make_pipeline(steps(ds, project), "lightgbm", "regression",
                             {"n_estimators": 100, "n_jobs": 1}, project.seed)
    pipeline.fit(ds.X, ds.y)
    card = ModelCard(name="fleet-bench", task="regression", target="rul", schema=ds.schema)
    return LoadedModel(pipeline=pipeline, card=card)


class Peak:
    """The largest RSS summed over this process and its children, sampled."""

    def __init__(self, every: float = 0.1):
        import psutil

        self.me, self.every, self.mb = psutil.Process(), every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for process in [self.me, *self.me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except Exception:  # a process that ended between listing and reading
                    continue
            self.mb = max(self.mb, total / 2**20)
            self._stop.wait(self.every)


def measure(mode: str, table: Path, model_file: Path, partition_rows: int) -> dict:
    """One scoring run in this (fresh) process: rows/s and peak memory."""
    from shipyard import compute, spec
    from shipyard.compute.batch import score
    from shipyard.compute.writers import ParquetOutput

    model = pickle.loads(model_file.read_bytes())
    where = None if mode == "in-process" else spec.Compute(backend="local", workers=2)
    with tempfile.TemporaryDirectory(prefix="shipyard-scores-") as out, Peak() as peak, \
            compute.connect(where) as client:
        started = time.perf_counter()
        if client is not None:  # once per worker process, as in this process: imports
            client.run(_warm)
        warm = time.perf_counter() - started
        started = time.perf_counter()
        result = score(model, [table], ParquetOutput(f"{out}/scores"), client=client,
                       keys=["engine_id", "flight_id"], partition_rows=partition_rows)
        seconds = time.perf_counter() - started
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "rows": result.rows, "partitions": result.partitions,
            "seconds": round(seconds, 2), "warm_up_s": round(warm, 2),
            "rows_per_s": round(result.rows / seconds),
            "peak_mb": round(max(peak.mb, self_mb if mode == "in-process" else 0)),
            "client_peak_mb": round(self_mb)}


def _warm() -> None:
    """Import what scoring needs (about 5 s per process on 2 busy cores)."""
    import lightgbm  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    import shipyard.compute.batch  # noqa: F401
    import shipyard.prepare  # noqa: F401


def run(rows: int = 10_000_000, partition_rows: int = 200_000) -> dict:
    """Both measurements on ``rows`` synthetic rows; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_table(folder / "fleet.parquet", rows)
        made = time.perf_counter() - started
        (folder / "model.pkl").write_bytes(pickle.dumps(fitted_model()))
        results = {"rows": rows, "partition_rows": partition_rows, "target_mb": TARGET_MB,
                   "synthesis_s": round(made, 1),
                   "file_mb": round((folder / "fleet.parquet").stat().st_size / 2**20)}
        for mode in ("in-process", "dask"):
            done = subprocess.run([sys.executable, __file__, "--measure", mode,
                                   str(folder / "fleet.parquet"), str(folder / "model.pkl"),
                                   "--partition-rows", str(partition_rows)],
                                  capture_output=True, text=True, check=False)
            if done.returncode:
                raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    results["under_target"] = all(results[m]["peak_mb"] < TARGET_MB
                                  for m in ("in-process", "dask"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partition-rows", type=int, default=200_000)
    parser.add_argument("--measure", nargs=3, metavar=("MODE", "TABLE", "MODEL"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="one line of JSON (bench/scale.py)")
    args = parser.parse_args()
    if args.measure:
        mode, table, model = args.measure
        print(json.dumps(measure(mode, Path(table), Path(model), args.partition_rows)))
        return
    results = run(args.rows, args.partition_rows)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{results['rows']:,} rows of the demo schema ({results['file_mb']} MB of Parquet, "
          f"synthesised in {results['synthesis_s']} s), partitions of "
          f"{results['partition_rows']:,} rows")
    print(f"{'mode':<12}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}")
    for mode in ("in-process", "dask"):
        r = results[mode]
        print(f"{mode:<12}{r['seconds']:>10.1f}{r['rows_per_s']:>12,}{r['peak_mb']:>10,}")
    print(f"peak under {TARGET_MB} MB in both modes: {results['under_target']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
