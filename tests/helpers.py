"""Small project files and data frames shared by the unit tests."""

import numpy as np
import pandas as pd

from shipyard import spec


def project(task: str = "regression", extra: str = "", models: str = "[{name: linear}]",
            target: str = "y", url: str = "duckdb:///x.duckdb", name: str = "t"):
    text = (f"name: {name}\nsource: {{url: '{url}', query: SELECT 1}}\ntarget: {target}\n"
            f"task: {task}\nmodels: {models}\n{extra}")
    return spec.parse(text)


def frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Rows of 60 entities with a number, a text and a date column; y is learnable."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "eid": np.repeat(np.arange(n // 10), 10),
        "t": pd.date_range("2026-01-01", periods=n, freq="h"),
        "a": rng.normal(size=n),
        "b": rng.choice(["x", "y", "z"], n),
        "c": rng.integers(0, 5, n),
    })
    df["y"] = 3 * df["a"] + 2 * (df["b"] == "x") + rng.normal(scale=0.3, size=n)
    df["label"] = np.where(df["y"] > 0.5, "Yes", "No")
    df["kind"] = np.select([df["y"] < -1, df["y"] < 1.5], ["low", "mid"], "high")
    df.loc[::40, "a"] = np.nan
    df.loc[::35, "b"] = None
    return df
