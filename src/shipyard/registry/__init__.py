"""The registry: MLflow runs, registered model versions and their aliases.

Each project is one MLflow experiment and one registered model, both named
after the project. A run logs its parameters, metrics, the data snapshot as a
dataset input, the report and the model with its :class:`ModelCard`, and, when
it could be compiled, the model's ONNX form (``fast/model.onnx`` beside it). A
model that passed its gates becomes a new version with the alias ``champion``;
the version it replaces keeps the alias ``previous``. A retraining cycle's
model becomes a version with the alias ``challenger`` instead, and is promoted
separately; :func:`rollback` moves ``champion`` back (see ``promotion``). The
store is the workspace's SQLite file unless the project file names a tracking
server (see ``server``); with a server, artifacts go up and come down through it.

A version records the SHA-256 of each of its files when it is registered; a
load copies the files, checks every digest, and only then unpickles the copy.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from shipyard.card import LoadedModel, ModelCard
from shipyard.errors import RegistryError
from shipyard.registry import integrity, promotion, server, store
from shipyard.registry.promotion import CHALLENGER, CHAMPION, PREVIOUS
from shipyard.registry.runs import FAST_FILE, FAST_TAG, NO_FAST, REFERENCE_DIR, Run, open_run
from shipyard.registry.server import reach
from shipyard.workspace import Workspace

log = logging.getLogger("shipyard.registry")

__all__ = ["CHALLENGER", "CHAMPION", "PREVIOUS", "Run", "artifact_paths", "champion_since",
           "champion_version", "load", "load_version", "open_run", "promote", "reach",
           "register", "rollback", "run_json", "tag_run", "versions", "who"]


def _client(workspace: Workspace):
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if workspace.embedded_tracking:
        store.ensure(workspace.root / "mlflow.db")
    server.reach(workspace)  # a tracking server that is not there: a clear error, at once
    return mlflow.MlflowClient(tracking_uri=workspace.tracking_uri,
                               registry_uri=workspace.tracking_uri)


def register(workspace: Workspace, name: str, run: Run, *, promote: bool = True,
             reason: str = "passed its gates in `shipyard run`", by: str | None = None,
             tags: dict[str, str] | None = None) -> str:
    """Make the run's logged model a new version of ``name``: the champion (the
    champion it replaces becomes ``previous``) or, with ``promote=False``, the
    ``challenger``, leaving the champion as it is.

    The version is created with the SHA-256 of each of its files (tag
    ``shipyard.sha256``), whether it has an ONNX form (tag ``shipyard.fast_path``)
    and the given ``tags`` (its gates' verdict and overrides). Returns the new
    version number."""
    client = _client(workspace)
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"Shipyard project {name}")
    current = champion_version(workspace, name)
    # The digests are taken from the store itself, right after the model was written.
    location = client.get_logged_model(run.model_id).artifact_location
    with _local_copy(workspace, location, f"The model of run {run.id}") as local:
        digests = integrity.digests(local)
    if run.fast_sha256 is not None and digests.get(FAST_FILE) != run.fast_sha256:
        raise RegistryError(f"The model of run {run.id}: {FAST_FILE} in the artifact store is "
                            "not the ONNX model that was written; not registering it")
    tags = {**(tags or {}), "shipyard.run": run.id, integrity.TAG: integrity.encode(digests),
            FAST_TAG: run.fast_path}
    if not promote and current is not None:
        tags[promotion.PARENT] = current
    created = client.create_model_version(name, source=run.model_uri, run_id=run.id,
                                          model_id=run.model_id, tags=tags)
    version = str(created.version)
    if promote:
        promotion.promote(client, name, version, reason, by or who())
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
    return version


def promote(workspace: Workspace, name: str, version: str | int, reason: str,
            by: str | None = None) -> str | None:
    """Make ``version`` the champion; the champion it replaces becomes ``previous``.
    Who, why and when are recorded on both versions' tags. Returns the replaced
    version (None if there was no champion). On any failure the aliases stay as
    they were (RegistryError)."""
    return promotion.promote(_registered(workspace, name), name, str(version), reason,
                             by or who())


def rollback(workspace: Workspace, name: str, reason: str,
             by: str | None = None) -> tuple[str, str]:
    """Move ``champion`` back to ``previous``; ``previous`` moves on to the version
    that one had replaced, or is dropped. Returns (rolled back version, new
    champion). A RegistryError, changing nothing, when there is nothing to roll
    back to."""
    return promotion.rollback(_registered(workspace, name), name, reason, by or who())


def versions(workspace: Workspace, name: str) -> list[dict]:
    """Every version of ``name``, newest first: version, run_id, created (epoch s),
    aliases, holdout metrics (from its run), parent (a challenger's champion),
    promotion {at, by, reason, replaced}, replaced {by, at}, rollback {at, by,
    reason, to}, restored_at, champion_since, gates (the verdict at registration) and
    overrides [{check, reason, by, at}]. Empty when nothing is registered."""
    return promotion.versions(_client(workspace), name)


def champion_since(workspace: Workspace, name: str) -> float | None:
    """When the current champion became champion (promoted, restored by a rollback,
    or registered), in epoch seconds; None without a champion."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(workspace).get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return promotion.since(mv.tags, mv.creation_timestamp)


def run_json(workspace: Workspace, run_id: str, path: str):
    """A JSON artifact of a run (e.g. the chosen model's parameters), or None when
    the run has no such file."""
    import mlflow.artifacts

    try:
        return mlflow.artifacts.load_dict(
            f"{_client(workspace).get_run(run_id).info.artifact_uri}/{path}")
    except Exception:  # an older run without the file, or an unreadable store
        log.info("run %s has no readable %s", run_id, path, exc_info=True)
        return None


def tag_run(workspace: Workspace, run_id: str, tags: dict[str, str]) -> None:
    """Add tags to a finished run (e.g. a challenger's, once its fate is decided)."""
    client = _client(workspace)
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value)[:5000])


def _registered(workspace: Workspace, name: str):
    from mlflow.exceptions import MlflowException

    client = _client(workspace)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        raise RegistryError(f"No registered model '{name}' in {workspace.tracking_uri}",
                            hint="run `shipyard run` first") from exc
    return client


def who() -> str:
    """The user name recorded with promotions, rollbacks and overrides."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def champion_version(workspace: Workspace, name: str) -> str | None:
    """The version that holds the champion alias, or None. One registry lookup
    (about 5 ms on the SQLite store; a client costs microseconds): cheap to poll."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client(workspace).get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def load(workspace: Workspace, name: str, alias: str = CHAMPION) -> LoadedModel:
    """The version that holds ``alias``, checked and loaded as by :func:`load_version`."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(workspace).get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise RegistryError(f"No '{alias}' model for project '{name}' in {workspace.tracking_uri}",
                            hint="run `shipyard run` first: a model that passes its gates "
                                 "becomes the champion") from exc
    return _load(workspace, name, mv)


def load_version(workspace: Workspace, name: str, version: str | int) -> LoadedModel:
    """Version ``version`` of ``name``: its pipeline, card and ONNX form (or the note
    saying why it has none).

    The files are copied out of the artifact store and each is checked against
    the SHA-256 recorded at registration before anything is unpickled; a
    mismatch, a missing file or a version without recorded digests is a
    RegistryError naming the version and the file."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(workspace).get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"No version {version} of '{name}' in {workspace.tracking_uri}"
                            ) from exc
    return _load(workspace, name, mv)


def version_digest(workspace: Workspace, name: str, version: str | int) -> str:
    """One SHA-256 over the digests recorded for the files of version ``version``:
    it names that artifact exactly, and :func:`load_version` checks the files."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(workspace).get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"No version {version} of '{name}' in {workspace.tracking_uri}"
                            ) from exc
    recorded = integrity.recorded(mv.tags, f"Version {version} of '{name}'")
    return hashlib.sha256(integrity.encode(recorded).encode()).hexdigest()


def artifact_paths(workspace: Workspace, name: str, version: str | int) -> list[Path]:
    """The files of a version where the artifact store keeps them, when that is a
    local folder (as in the workspace's own store)."""
    uri = _client(workspace).get_model_version_download_uri(name, str(version))
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise RegistryError(f"Version {version} of '{name}' is stored at {uri}, "
                            "not in a local folder")
    folder = Path(url2pathname(parsed.path))
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _load(workspace: Workspace, name: str, mv) -> LoadedModel:
    import mlflow.sklearn
    from mlflow.models import Model

    what = f"Version {mv.version} of '{name}'"
    expected = integrity.recorded(mv.tags, what)
    uri = _client(workspace).get_model_version_download_uri(name, mv.version)
    with _local_copy(workspace, uri, what) as local:
        integrity.verify(local, expected, what)  # before anything is unpickled
        try:
            meta = Model.load(str(local)).metadata or {}  # MLmodel is YAML, read safely
            pipeline = mlflow.sklearn.load_model(str(local))
        except Exception as exc:  # verified files that still do not load: say which version
            raise RegistryError(f"Cannot load version {mv.version} of '{name}'",
                                details=[str(exc)[:500]]) from exc
        onnx = (local / FAST_FILE).read_bytes() if FAST_FILE in expected else None
        prefix = f"{REFERENCE_DIR}/"
        reference = {name.removeprefix(prefix): (local / name).read_bytes()
                     for name in expected if name.startswith(prefix)} or None
    if "shipyard" not in meta:
        raise RegistryError(f"Version {mv.version} of '{name}' has no Shipyard model card",
                            hint="register models with `shipyard run`")
    card = ModelCard.from_dict(meta["shipyard"]).with_version(mv.version, mv.run_id)
    note = "" if onnx is not None else mv.tags.get(FAST_TAG, NO_FAST).removeprefix("python: ")
    return LoadedModel(pipeline=pipeline, card=card, onnx=onnx, fast_note=note,
                       reference=reference)


@contextmanager
def _local_copy(workspace: Workspace, uri: str, what: str) -> Iterator[Path]:
    """A temporary local copy of the artifacts at ``uri``."""
    from mlflow.artifacts import download_artifacts

    # MLflow draws a progress bar for each download, in the middle of the CLI's output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
        try:
            local = download_artifacts(artifact_uri=uri, dst_path=tmp,
                                       tracking_uri=workspace.tracking_uri)
        except Exception as exc:  # an unreachable or unreadable store
            raise RegistryError(f"{what}: cannot copy its artifacts from {uri}",
                                details=[str(exc)[:500]]) from exc
        yield Path(local)


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
