"""The snapshot's MLflow dataset record: the schema MLflow would infer from every
value, inferred from a sample that keeps each column's type and its gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.types.utils import _infer_schema

from shipyard.registry.dataset import HEAD_ROWS, SnapshotDataset, sample_for_schema


def _frame(n: int = 3 * HEAD_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "engine": np.arange(n, dtype=np.int64),
        "egt": rng.normal(700, 20, n),
        "kind": pd.Series(rng.choice(["a", "b"], n), dtype=object),
        "when": pd.date_range("2026-01-01", periods=n, freq="h"),
        "ok": rng.random(n) > 0.5,
        "late_gap": rng.normal(size=n),
        "text_gap": pd.Series(rng.choice(["x", "y"], n), dtype=object),
    })
    # gaps only after the first rows, where a head-only sample would miss them
    frame.loc[n - 5, "late_gap"] = np.nan
    frame.loc[n - 3, "text_gap"] = None
    return frame


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")
def test_the_schema_is_the_one_mlflow_infers_from_every_value(tmp_path):
    frame = _frame()
    sample = sample_for_schema(frame)
    assert len(sample) == HEAD_ROWS + 2
    dataset = SnapshotDataset(frame, source=LocalArtifactDatasetSource(str(tmp_path)),
                              targets="egt", name="snapshot", digest="d" * 32)
    assert dataset.schema == _infer_schema(frame)
    required = {c.name: c.required for c in dataset.schema.inputs}
    assert required["late_gap"] is False and required["text_gap"] is False
    assert required["egt"] is True
    assert dataset.profile == {"num_rows": len(frame), "num_elements": int(frame.size)}


def test_a_small_frame_is_read_whole():
    frame = _frame(50)
    assert sample_for_schema(frame).equals(frame)
