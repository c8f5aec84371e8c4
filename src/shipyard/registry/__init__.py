"""The registry: MLflow runs, registered model versions and their aliases.

Each project is one MLflow experiment and one registered model, both named
after the project. A run logs its parameters, metrics, the data snapshot as a
dataset input, the report and the model with its :class:`ModelCard`. A model
that passed its gates becomes a new version with the alias ``champion``; the
version it replaces keeps the alias ``previous``. The store is the workspace's
SQLite file unless the project file names a tracking server.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from shipyard.card import LoadedModel, ModelCard
from shipyard.errors import RegistryError
from shipyard.registry import store
from shipyard.registry.runs import Run, open_run
from shipyard.workspace import Workspace

__all__ = ["CHAMPION", "PREVIOUS", "Run", "champion_version", "load", "open_run", "register"]

CHAMPION, PREVIOUS = "champion", "previous"


def _client(workspace: Workspace):
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if workspace.embedded_tracking:
        store.ensure(workspace.root / "mlflow.db")
    return mlflow.MlflowClient(tracking_uri=workspace.tracking_uri,
                               registry_uri=workspace.tracking_uri)


def register(workspace: Workspace, name: str, run: Run) -> str:
    """Make the run's logged model a new version of ``name`` and the champion.

    Returns the new version number."""
    client = _client(workspace)
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"Shipyard project {name}")
    current = champion_version(workspace, name)
    created = client.create_model_version(name, source=run.model_uri, run_id=run.id,
                                          model_id=run.model_id, tags={"shipyard.run": run.id})
    client.set_registered_model_alias(name, CHAMPION, created.version)
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current)
    return str(created.version)


def champion_version(workspace: Workspace, name: str) -> str | None:
    """The version that holds the champion alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client(workspace).get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def load(workspace: Workspace, name: str, alias: str = CHAMPION) -> LoadedModel:
    """The pipeline and card of the version that holds ``alias``."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    client = _client(workspace)
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise RegistryError(f"No '{alias}' model for project '{name}' in {workspace.tracking_uri}",
                            hint="run `shipyard run` first: a model that passes its gates "
                                 "becomes the champion") from exc
    uri = f"models:/{name}/{mv.version}"
    try:
        mlflow.set_tracking_uri(workspace.tracking_uri)
        meta = Model.load(uri).metadata or {}
        pipeline = mlflow.sklearn.load_model(uri)
    except Exception as exc:  # a missing or unreadable artifact: say which version
        raise RegistryError(f"Cannot load version {mv.version} of '{name}'",
                            details=[str(exc)[:500]]) from exc
    if "shipyard" not in meta:
        raise RegistryError(f"Version {mv.version} of '{name}' has no Shipyard model card",
                            hint="register models with `shipyard run`")
    card = ModelCard.from_dict(meta["shipyard"]).with_version(mv.version, mv.run_id)
    return LoadedModel(pipeline=pipeline, card=card)


def requirements() -> list[str]:
    """Pinned packages a logged model needs, so MLflow need not guess (guessing
    spawns a subprocess and takes seconds)."""
    pins = []
    for package in ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "cloudpickle"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins
