"""A small fitted pipeline and an empty workspace with the real MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import registry
from shipyard.card import ModelCard
from shipyard.prepare import dataset, steps
from shipyard.train import make_pipeline
from shipyard.workspace import Workspace
from tests.helpers import frame, project


@pytest.fixture(scope="session")
def fitted():
    """A linear pipeline on the helpers' frame; nothing here changes it."""
    p = project()
    ds = dataset(frame().drop(columns=["label", "kind"]), p)
    pipe = make_pipeline(steps(ds, p), "linear", "regression", {}, 0)
    pipe.fit(ds.X, ds.y)
    card = ModelCard(name="t", task="regression", target="y", schema=ds.schema,
                     estimator="linear", metrics={"rmse": 0.3})
    return pipe, card, ds


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / ".shipyard"
    return Workspace(root, f"sqlite:///{root / 'mlflow.db'}").create()


@pytest.fixture
def log(ws, fitted):
    """Log the fitted pipeline in a new run, with an ONNX form or a reason for none."""

    def log(onnx: bytes | None = None, reason: str | None = None) -> registry.Run:
        pipe, card, ds = fitted
        with registry.open_run(ws, "t") as run:
            run.log_metrics({"rmse": 0.3})
            run.log_model(pipe, card, ds.X.head(3), registry.requirements())
            if onnx is not None or reason is not None:
                run.log_fast(onnx, reason or "")
        return run

    return log
