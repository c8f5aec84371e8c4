"""Scale figures for issue 7: the same tuning on 1 and 2 Dask workers, and batch
scoring of millions of demo-schema rows in-process and on Dask.

    .venv/bin/python bench/scale.py            # 40 trials; 10 million rows
    .venv/bin/python bench/scale.py --rows 1000000

Each half runs in its own process (bench/scale_tuning.py, bench/scale_scoring.py)
so that one's memory does not count in the other's peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def half(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(HERE / script), "--json", *args],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{script} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    tuning = half("scale_tuning.py", "--trials", str(args.trials))
    one, two = tuning["runs"]["1"], tuning["runs"]["2"]
    print(f"Tuning: {tuning['trials']} trials (batch {tuning['batch']}), LightGBM, "
          f"{tuning['rows']:,} rows, 3 folds")
    print(f"  {'workers':<10}{'seconds':>10}{'best rmse':>12}")
    print(f"  {'1':<10}{one['seconds']:>10.1f}{one['score']:>12.4f}")
    print(f"  {'2':<10}{two['seconds']:>10.1f}{two['score']:>12.4f}")
    print(f"  speed-up {tuning['speedup']:.2f}x (target > 1.6); identical results: "
          f"{tuning['identical']}")
    scoring = half("scale_scoring.py", "--rows", str(args.rows))
    print(f"\nBatch scoring: {scoring['rows']:,} rows of the demo schema "
          f"({scoring['file_mb']} MB of Parquet), partitions of {scoring['partition_rows']:,}")
    print(f"  {'mode':<18}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}")
    for mode, label in (("in-process", "in-process"), ("dask", "Dask, 2 workers")):
        r = scoring[mode]
        print(f"  {label:<18}{r['seconds']:>10.1f}{r['rows_per_s']:>12,}{r['peak_mb']:>10,}")
    print(f"  peak under {scoring['target_mb']:,} MB in both modes: {scoring['under_target']}")


if __name__ == "__main__":
    main()
