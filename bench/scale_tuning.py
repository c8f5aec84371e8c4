"""Tuning wall time for the same 40 trials on a local Dask cluster of 1 worker and
of 2 workers (one thread each), and whether both found the same thing.

    .venv/bin/python bench/scale_tuning.py [--trials 40] [--batch 10] [--rows 20000]

A LightGBM regression on a synthetic frame shaped like the demo's training rows
(numeric sensor-like columns, one categorical, a noisy nonlinear target); 3 folds,
so a trial takes about a second on one core. ``tuning.batch`` is 10: four batches of
ten trials, so each worker gets five trials per batch and the wait for the slowest
trial of a batch is short next to the batch. The results must be identical: the
study proposes and learns the trials in the same order whatever the workers.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

MODELS = ("[{name: lightgbm, params: {n_estimators: 100}, search: {num_leaves: {low: 8, "
          "high: 64, log: true}, learning_rate: {low: 0.02, high: 0.2, log: true}, "
          "min_child_samples: {low: 5, high: 100, log: true}, colsample_bytree: {low: 0.5, "
          "high: 1.0}}}]")


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 16))
    df = pd.DataFrame(X, columns=[f"s{i}" for i in range(16)])
    df["fleet"] = rng.choice(["a", "b", "c", "d"], rows)
    df["rul"] = (50 + 20 * np.tanh(X[:, 0]) + 10 * X[:, 1] * X[:, 2] + 5 * np.sin(3 * X[:, 3])
                 + 8 * (df["fleet"] == "a") + rng.normal(scale=4, size=rows))
    return df


def run(trials: int = 40, batch: int = 10, rows: int = 8_000, workers=(1, 2)) -> dict:
    """Wall time of the tuning on a LocalCluster of each number of ``workers``."""
    from shipyard import compute, spec
    from shipyard.prepare import dataset, steps
    from shipyard.train import train

    project = spec.parse(
        "name: bench\nsource: {url: 'duckdb:///x.duckdb', query: SELECT 1}\ntarget: rul\n"
        f"task: regression\nmodels: {MODELS}\nsplit: {{folds: 3}}\n"
        f"tuning: {{trials: {trials}, batch: {batch}, early_stopping: null}}\n"
        "evaluate: {learning_curves: false}\n")
    ds = dataset(frame(rows), project)
    out = {"trials": trials, "batch": batch, "rows": rows, "runs": {}}
    for n in workers:
        with compute.connect(spec.Compute(backend="local", workers=n)) as client:
            started = time.perf_counter()
            result = train(ds, steps(ds, project), project, client=client)
            seconds = time.perf_counter() - started
        out["runs"][n] = {"seconds": seconds, "params": result.best.params,
                          "history": result.best.history, "score": result.best.mean("rmse")}
    first, *others = out["runs"].values()
    out["identical"] = all(o["params"] == first["params"] and
                           np.array_equal(o["history"], first["history"], equal_nan=True)
                           for o in others)
    if len(out["runs"]) == 2:
        one, two = (r["seconds"] for r in out["runs"].values())
        out["speedup"] = one / two
    return out


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--trials", type=int, default=40)
    args.add_argument("--batch", type=int, default=10)
    args.add_argument("--rows", type=int, default=8_000)
    args.add_argument("--json", action="store_true", help="one line of JSON (bench/scale.py)")
    a = args.parse_args()
    got = run(a.trials, a.batch, a.rows)
    if a.json:
        print(json.dumps(got, default=str))
        return
    print(f"tuning {got['trials']} trials (batch {got['batch']}), {got['rows']} rows, 3 folds")
    for n, r in got["runs"].items():
        print(f"  {n} worker{'s' if n > 1 else ' '}: {r['seconds']:7.1f} s   best rmse "
              f"{r['score']:.4f}")
    if "speedup" in got:
        print(f"  speed-up: {got['speedup']:.2f}x")
    print(f"  identical best params and per-trial scores: {got['identical']}")


if __name__ == "__main__":
    main()
