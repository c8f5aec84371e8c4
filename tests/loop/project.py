"""A small project whose data changes: rows in a DuckDB file, a champion trained
on the first rows, and later rows in which the target follows another rule."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shipyard import spec
from tests.helpers import frame

PROJECT = """\
name: loopy
source:
  url: duckdb:///data.duckdb
  query: SELECT * FROM rows
target: y
task: regression
entity: eid
time: t
split: {{holdout: 0.25, folds: 3}}
models:
  - name: linear
    search: {{alpha: {{low: 0.01, high: 100.0, log: true}}}}
tuning: {{trials: 3}}
evaluate: {{learning_curves: false}}
serve: {{reload_interval: 0.3}}
gates:
  quality:
    - {{metric: r2, min: {r2_min}}}
retrain:
{window}  recent: {{span: 3d, share: 0.5}}
  trials: 2
{extra}
"""


def rows(n: int = 300, seed: int = 0, *, start: str = "2026-01-01", first_entity: int = 0,
         changed: bool = False) -> pd.DataFrame:
    """Rows of n/10 entities, hourly from ``start``. ``changed``: the target turns
    on feature a the other way (a fleet that changed), so a model of the old rows
    is wrong on them."""
    out = frame(n, seed).drop(columns=["label", "kind"])
    out["eid"] += first_entity
    out["t"] = pd.date_range(start, periods=n, freq="h")
    if changed:
        rng = np.random.default_rng(seed + 100)
        out["y"] = -3 * out["a"].fillna(0) + 2 * (out["b"] == "x") + rng.normal(0, 0.3, n)
    return out


def append(folder: Path, data: pd.DataFrame) -> None:
    with duckdb.connect(str(folder / "data.duckdb")) as con:
        con.register("incoming", data)
        exists = con.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_name = 'rows'").fetchone()[0]
        con.execute("INSERT INTO rows SELECT * FROM incoming" if exists else
                    "CREATE TABLE rows AS SELECT * FROM incoming")


def write(folder: Path, *, r2_min: float = 0.5, extra: str = "", query: str | None = None,
          window: str | None = "10d") -> spec.Project:
    """(Re)write the project file; the data stays."""
    text = PROJECT.format(r2_min=r2_min, extra=extra,
                          window=f"  window: {window}\n" if window else "")
    if query is not None:
        text = text.replace("SELECT * FROM rows", query)
    (folder / "shipyard.yaml").write_text(text)
    return spec.load(folder / "shipyard.yaml")


def changed_fleet(folder: Path) -> None:
    """The later rows: new entities, two weeks on, the target following the new rule."""
    append(folder, rows(300, 1, start="2026-01-14", first_entity=1000, changed=True))
