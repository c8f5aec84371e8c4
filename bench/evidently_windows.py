"""Run inside a throwaway environment with Evidently (0.7 does not import with
pandas 3): Evidently's DataDriftPreset on each window of rows ``bench/drift.py``
judged, with its default settings (it picks its tests or distances by the size of
the reference, and calls the data set drifted when half the columns drift).

    python bench/evidently_windows.py FOLDER

FOLDER holds reference.parquet, current.parquet (the test rows) and windows.json
({case: [[row, ...], ...]}); it gets evidently.json ({case: [drifted, ...]}).
Only pandas, pyarrow and evidently are imported here, not Shipyard.
"""

import json
import sys
import warnings
from pathlib import Path

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def main(folder: Path) -> None:
    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    cases = json.loads((folder / "windows.json").read_text())
    out = {}
    for case, windows in cases.items():
        drifted = []
        for rows in windows:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                snapshot = Report([DataDriftPreset()]).run(
                    current_data=current.iloc[rows].reset_index(drop=True),
                    reference_data=reference)
            count = next(m for m in snapshot.dict()["metrics"]
                         if m["metric_name"].startswith("DriftedColumnsCount"))
            drifted.append(bool(count["value"]["share"] >= 0.5))
        out[case] = drifted
        print(f"evidently: {case}: {sum(drifted)} of {len(drifted)} windows drifted",
              flush=True)
    (folder / "evidently.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
