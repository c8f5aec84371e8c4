"""The label-free RUL error estimate (direct loss estimation) against the real
error, on the demo's shifted days.

    .venv/bin/python bench/estimate_rul.py [--aircraft 200] [--seed 0] [--horizon 250]

The demo's project (``shipyard.demo.init_project``, its SQL, its series windows) is
run as ``shipyard run`` runs it: the champion and its monitoring reference. Then
the simulator flies the same fleet on, with the A220s and their new engine type
joining on the first new day, for ``--horizon`` days: long enough that most
engines flying in the first two weeks are removed, so their true remaining life
on each of those days is known (engines removed on schedule, or still flying at
the horizon, have none and are left out). The two weeks are cut into windows of
two days; for each, the estimate Shipyard's monitoring pass gives from the logged
inputs and predictions (no labels) is compared with the RMSE the truth gives on
the same rows, next to the naive estimate (the champion's holdout RMSE).

Target: the estimate within 15% of the actual RMSE on every window. Exit status 1
when it is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from shipyard import data, registry, spec
from shipyard.data import fleet
from shipyard.demo import init_project
from shipyard.demo.new_days import FIRST_DAYS, NEW_DAYS
from shipyard.lifecycle import run_project
from shipyard.monitor import loss
from shipyard.monitor.reference import Reference
from shipyard.workspace import Workspace

TARGET = 0.15
WINDOW_DAYS = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aircraft", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--horizon", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = init_project(Path(tmp) / "fleet", aircraft=args.aircraft, seed=args.seed)
        project = spec.load(path)
        outcome = run_project(project)
        model = registry.load(Workspace.of(project), project.name)
        card = model.card
        _, new = fleet.simulate_new_days(args.aircraft, args.seed, days=FIRST_DAYS,
                                         new_days=args.horizon)
        fleet.append_duckdb(new, path.parent / "data" / "fleet.duckdb")
        rows = data.to_frame(data.extract(project)).sort_values(["engine_id", "departure"])
        rows["predicted"] = model.pipeline.predict(card.schema.model_frame(rows))
        first_new = pd.Timestamp(new["flights"]["departure"].min()).normalize()
        days = (pd.to_datetime(rows["departure"]) - first_new).dt.days
        shifted = rows[(days >= 0) & (days < NEW_DAYS)].copy()
        shifted["window"] = days[shifted.index] // WINDOW_DAYS
        ref = Reference.from_files(model.reference)
        fitted = loss.LossEstimator.fit(loss.inputs_of(ref.holdout, card.schema, card.entity),
                                        ref.predictions, ref.labels)
        holdout = outcome.evaluation.metrics["rmse"]
        print(f"champion: {card.estimator}, holdout RMSE {holdout:.2f}; "
              f"{args.aircraft} aircraft, seed {args.seed}, truth over {args.horizon} days")
        print(f"{'window':>8} {'rows':>7} {'labelled':>9} {'actual':>8} {'estimated':>10} "
              f"{'error':>7} {'naive error':>12}")
        worst = 0.0
        for window, part in shifted.groupby("window"):
            known = part[part["rul"].notna()]
            actual = float(np.sqrt(np.mean((known["rul"] - known["predicted"]) ** 2)))
            frame = card.schema.model_frame(known)
            estimated = fitted.estimate(loss.inputs_of(frame, card.schema, card.entity),
                                        known["predicted"].to_numpy())["rmse"]
            error = abs(estimated - actual) / actual
            worst = max(worst, error)
            print(f"{f'day {window * WINDOW_DAYS}':>8} {len(part):>7,} {len(known):>9,} "
                  f"{actual:>8.2f} {estimated:>10.2f} {error:>7.1%} "
                  f"{abs(holdout - actual) / actual:>12.1%}")
        met = worst <= TARGET
        print(f"worst window: estimate {worst:.1%} off the actual RMSE "
              f"(target <= {TARGET:.0%}): {'met' if met else 'MISSED'}")
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
