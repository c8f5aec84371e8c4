"""One MLflow run: what a ``shipyard run`` records while it works."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from shipyard.card import ModelCard
from shipyard.registry import server, store
from shipyard.workspace import Workspace

# The ONNX form of the pipeline, inside the logged model's directory so that a
# registered version's files (and their digests) include it.
FAST_DIR, FAST_FILE = "fast", "fast/model.onnx"
# "onnx", or "python: <why there is no ONNX form>"; on the run and on the version.
FAST_TAG = "shipyard.fast_path"
# What the model was trained and validated on, for monitoring: files in this folder.
REFERENCE_DIR = "reference"
NO_FAST = "python: no fast form was compiled at registration"


class Run:
    """The active MLflow run; created by :func:`open_run`."""

    def __init__(self, run_id: str):
        self.id = run_id
        self.model_uri: str | None = None
        self.model_id: str | None = None
        self.fast_path = NO_FAST  # the value of the FAST_TAG tag
        self.fast_sha256: str | None = None  # of the ONNX bytes, as written

    def log_params(self, params: dict) -> None:
        import mlflow

        mlflow.log_params({k: _short(v) for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float]) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})

    def set_tags(self, tags: dict[str, str]) -> None:
        import mlflow

        mlflow.set_tags({k: _short(v, 5000) for k, v in tags.items()})

    def log_child(self, name: str, params: dict, metrics: dict[str, float],
                  series: dict[str, list[float]] | None = None) -> str:
        """A nested run (one per candidate): its settings, scores and, as steps,
        series such as tuning history or a validation curve. Returns its id."""
        import math

        import mlflow
        from mlflow.entities import Metric

        parent = mlflow.active_run()
        with mlflow.start_run(run_name=name, nested=True,
                              experiment_id=parent.info.experiment_id) as child:
            mlflow.log_params({k: _short(v) for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if not math.isnan(v)})
            now = int(time.time() * 1000)
            points = [Metric(key, float(v), now, step) for key, values in (series or {}).items()
                      for step, v in enumerate(values) if not math.isnan(v)]
            if points:
                mlflow.MlflowClient().log_batch(child.info.run_id, metrics=points)
        return child.info.run_id

    def log_json(self, name: str, data) -> None:
        import mlflow

        mlflow.log_dict(data, name)

    def log_file(self, path: Path) -> None:
        import mlflow

        mlflow.log_artifact(str(path))

    def log_dataset(self, frame: pd.DataFrame, source: Path, digest: str,
                    target: str | None) -> None:
        """Record the snapshot as the run's training data (MLflow digests are at most
        36 characters, so it gets the first 32 of the hash; the tag has all of it)."""
        import mlflow
        from mlflow.data.sources import LocalArtifactDatasetSource

        from shipyard.registry.dataset import SnapshotDataset

        # A source object, not a path string: MLflow finds two ways to read a path and warns.
        with warnings.catch_warnings():
            # A hint about integer columns in *model* inputs; this is a dataset record.
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            dataset = SnapshotDataset(
                frame, source=LocalArtifactDatasetSource(str(source)), targets=target,
                name=f"snapshot-{digest[:12]}", digest=digest[:32])
            mlflow.log_input(dataset, context="training")  # the schema is inferred here

    def log_model(self, pipeline, card: ModelCard, rows: pd.DataFrame,
                  requirements: list[str]) -> str:
        """Log the fitted pipeline with its card; the first rows of ``rows`` (as
        extracted) are its input example, their types its signature's."""
        from mlflow.models import Model

        from shipyard.registry import flavor

        example = flavor.example(card.schema, rows)
        signature = flavor.signature(card.schema, _sample_output(card))
        # Pickle formats warn on every save; the warning is for untrusted artifacts,
        # and these are written and read by the same project.
        level = logging.getLogger("mlflow.sklearn").level
        logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                # MLflow compares the example's columns with a range, which pandas 3 deprecates.
                warnings.filterwarnings("ignore", message="Operation with range is deprecated")
                info = Model.log(
                    artifact_path=None, name="model", flavor=flavor.FLAVOR, sk_model=pipeline,
                    signature=signature, input_example=example, pip_requirements=requirements,
                    metadata={"shipyard": card.to_dict()}, serialization_format="cloudpickle")
        finally:
            logging.getLogger("mlflow.sklearn").setLevel(level)
        self.model_uri, self.model_id = info.model_uri, info.model_id
        return info.model_uri

    def log_fast(self, onnx: bytes | None, reason: str = "") -> None:
        """Store the logged model's ONNX form as ``fast/model.onnx`` in its directory,
        or, when ``onnx`` is None, the ``reason`` there is none; either way tag the run."""
        import mlflow

        if self.model_id is None:
            raise RuntimeError("log_fast needs a logged model: call log_model first")
        if onnx is None:
            self.fast_path = f"python: {reason or 'no reason given'}"
        else:
            with tempfile.TemporaryDirectory(prefix="shipyard-fast-") as tmp:
                path = Path(tmp) / Path(FAST_FILE).name
                path.write_bytes(onnx)
                mlflow.MlflowClient().log_model_artifact(self.model_id, str(path), FAST_DIR)
            self.fast_path, self.fast_sha256 = "onnx", hashlib.sha256(onnx).hexdigest()
        mlflow.set_tags({FAST_TAG: _short(self.fast_path, 5000)})


    def log_reference(self, files: dict[str, bytes]) -> None:
        """Store the monitoring reference's files in ``reference/`` in the logged
        model's directory, so a registered version's digests cover them."""
        import mlflow

        if self.model_id is None:
            raise RuntimeError("log_reference needs a logged model: call log_model first")
        with tempfile.TemporaryDirectory(prefix="shipyard-reference-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            mlflow.MlflowClient().log_model_artifacts(self.model_id, tmp, REFERENCE_DIR)


@contextmanager
def open_run(workspace: Workspace, experiment: str, run_name: str | None = None) -> Iterator[Run]:
    """Start a run in ``experiment``; it ends FAILED if the block raises."""
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if workspace.embedded_tracking:
        store.ensure(workspace.root / "mlflow.db")
    server.reach(workspace)
    mlflow.set_tracking_uri(workspace.tracking_uri)
    mlflow.set_registry_uri(workspace.tracking_uri)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        location = workspace.artifacts.as_uri() if workspace.embedded_tracking else None
        experiment_id = client.create_experiment(experiment, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active:
        mlflow.set_tags({"shipyard.python": platform.python_version()})
        yield Run(active.info.run_id)


def _sample_output(card: ModelCard):
    """One answer of the kind ``POST /invocations`` gives, for the signature."""
    if card.task == "regression":
        return 0.0
    if card.task == "anomaly":
        return True
    label = card.classes[0]
    return label.item() if hasattr(label, "item") else label


def _short(value, limit: int = 500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
