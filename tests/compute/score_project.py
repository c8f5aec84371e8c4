"""A registered champion to score with, and helpers to check scores against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from shipyard import registry
from shipyard.cli import app
from shipyard.lifecycle import run_project
from shipyard.workspace import Workspace
from tests.loop.project import append, rows, write


def champion(folder: Path):
    """Train the small loop project for real; its spec and the loaded champion."""
    append(folder, rows(300, 0))
    project = write(folder)
    assert run_project(project).version == "1"
    return project, registry.load(Workspace.of(project), project.name)


def fresh_rows(n: int, seed: int = 7) -> pd.DataFrame:
    """Rows the model has not seen, with the target dropped as a scoring table has it."""
    return rows(n, seed, start="2026-03-01", first_entity=5000).drop(columns=["y"])


def to_parquet(frame: pd.DataFrame, path: Path, row_group_size: int = 97) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   row_group_size=row_group_size)
    return path


def expected(model, frame: pd.DataFrame) -> np.ndarray:
    """What the pipeline itself says about ``frame``, row by row."""
    return model.pipeline.predict(model.card.schema.model_frame(frame))


def scored(folder: Path) -> pd.DataFrame:
    """Every part file of a scoring output, in input row order."""
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts, f"no part files in {folder}"
    return pd.concat([pq.read_table(p).to_pandas() for p in parts]).sort_values("_row") \
        .reset_index(drop=True)


def assert_each_row_once(out: pd.DataFrame, n: int) -> None:
    assert len(out) == n
    assert out["_row"].tolist() == list(range(n))


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
