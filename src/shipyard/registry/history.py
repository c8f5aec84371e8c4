"""Reading runs back: the list of a project's runs, one run's record, and the
lineage of a registered version (where its data, code, parameters and gates came
from, and who promoted it and why)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from shipyard.card import ModelCard
from shipyard.data import open_snapshot
from shipyard.errors import RegistryError, ShipyardError
from shipyard.registry import CHALLENGER, CHAMPION, PREVIOUS, _client, load_version, versions
from shipyard.workspace import Workspace

ALIASES = (CHAMPION, PREVIOUS, CHALLENGER)


def runs(workspace: Workspace, experiment: str, limit: int = 50,
         metric: str | None = None) -> list[dict]:
    """The experiment's runs of the life cycle (not their candidates' nested runs),
    newest first: run_id, name, started (epoch s), status, kind, model, metric (the
    holdout value of ``metric``), gates {passed, failed, overridden}, version (the
    registered one or None), snapshot, reproduces (the run a reproduction re-ran)
    and reproduced ("matched" or "differs", on a reproduction)."""
    if _empty(workspace):
        return []
    client = _client(workspace)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    rows = client.search_runs([found.experiment_id], filter_string="tags.`shipyard.kind` LIKE '%'",
                              order_by=["attributes.start_time DESC"], max_results=limit)
    return [_row(workspace, run, metric) for run in rows]


def _row(workspace: Workspace, run, metric: str | None) -> dict:
    tags, data = run.data.tags, run.data
    records = run_json(workspace, run.info.run_id, "gates.json") or []
    return {"run_id": run.info.run_id, "name": run.info.run_name,
            "started": run.info.start_time / 1000 if run.info.start_time else None,
            "status": run.info.status, "kind": tags.get("shipyard.kind", "run"),
            "model": data.params.get("model"),
            "metric": data.metrics.get(f"holdout_{metric}") if metric else None,
            "gates": gate_counts(records) if records else None,
            "version": _none(tags.get("shipyard.registered_version")),
            "snapshot": tags.get("shipyard.snapshot"),
            "reproduces": tags.get("shipyard.reproduces"),
            "reproduced": tags.get("shipyard.reproduced")}


def gate_counts(records: list[dict]) -> dict[str, int]:
    """How many checks passed, failed, and failed but were let through by an override."""
    overridden = sum(1 for r in records if not r.get("passed") and r.get("overridden"))
    passed = sum(1 for r in records if r.get("passed"))
    return {"passed": passed, "failed": len(records) - passed - overridden,
            "overridden": overridden}


def find_run(workspace: Workspace, run_id: str, experiment: str | None = None):
    """The MLflow run ``run_id`` (or a unique prefix of 8+ characters of one in
    ``experiment``); a RegistryError naming it when there is none."""
    from mlflow.exceptions import MlflowException

    if _empty(workspace):
        raise RegistryError(f"No run '{run_id}': nothing has run in {workspace.root} yet",
                            hint="`shipyard run` makes a run; `shipyard runs` lists them")
    client = _client(workspace)
    try:
        return client.get_run(run_id)
    except MlflowException:
        pass
    found = client.get_experiment_by_name(experiment) if experiment else None
    if found is not None and len(run_id) >= 8 and run_id.isalnum():
        like = client.search_runs([found.experiment_id],
                                  filter_string=f"attributes.run_id LIKE '{run_id}%'",
                                  max_results=2)
        if len(like) == 1:
            return like[0]
    raise RegistryError(f"No run '{run_id}' in {workspace.tracking_uri}",
                        hint="`shipyard runs` lists the project's runs and their ids")


def run_text(workspace: Workspace, run_id: str, path: str) -> str | None:
    """A text artifact of a run, or None when the run has no such file."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="shipyard-run-") as tmp:
        try:
            local = download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp,
                                       tracking_uri=workspace.tracking_uri)
            return Path(local).read_text(encoding="utf-8")
        except (MlflowException, OSError, UnicodeDecodeError):  # no such file
            return None


def run_json(workspace: Workspace, run_id: str, path: str):
    """A JSON artifact of a run, or None."""
    text = run_text(workspace, run_id, path)
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None


def run_model(workspace: Workspace, run) -> tuple[object, ModelCard]:
    """The model a run logged, with its card: through its registered version when it
    has one (whose files are checked against their recorded digests before they are
    unpickled), else the run's logged model as the store holds it."""
    version = _none(run.data.tags.get("shipyard.registered_version"))
    name = run.data.tags.get("shipyard.project")
    if version is not None and name:
        loaded = load_version(workspace, name, version)
        return loaded.pipeline, loaded.card
    import mlflow.sklearn
    from mlflow.models import Model

    uri = f"runs:/{run.info.run_id}/model"
    try:
        meta = Model.load(uri).metadata or {}
        pipeline = mlflow.sklearn.load_model(uri)
    except Exception as exc:  # any failure to load says the same
        raise RegistryError(f"Cannot load the model of run {run.info.run_id}",
                            details=[f"{type(exc).__name__}: {str(exc)[:300]}"]) from exc
    if "shipyard" not in meta:
        raise RegistryError(f"The model of run {run.info.run_id} has no Shipyard model card")
    return pipeline, ModelCard.from_dict(meta["shipyard"]).with_version("", run.info.run_id)


def is_version(text: str) -> bool:
    """Whether ``text`` names a registered version (a number or an alias) rather than
    a run (32 hexadecimal digits, or a prefix of 8 or more)."""
    return text in ALIASES or (text.isdigit() and len(text) < 8)


def model_version(workspace: Workspace, name: str, version: str):
    """MLflow's record of version ``version`` of ``name``, or of the one an alias
    (``champion``, ``previous``, ``challenger``) names."""
    from mlflow.exceptions import MlflowException

    if _empty(workspace):
        raise RegistryError(f"No version {version} of '{name}': nothing has run in "
                            f"{workspace.root} yet", hint="`shipyard run` registers versions")
    client = _client(workspace)
    try:
        return client.get_model_version_by_alias(name, version) if version in ALIASES else \
            client.get_model_version(name, str(version))
    except MlflowException as exc:
        what = f"'{name}' has no {version}" if version in ALIASES else \
            f"No version {version} of '{name}'"
        raise RegistryError(f"{what} in {workspace.tracking_uri}",
                            hint="`shipyard runs` lists the runs and the versions they "
                                 "registered") from exc


def lineage(workspace: Workspace, name: str, version: str) -> dict:
    """Where version ``version`` of ``name`` (or the one an alias such as ``champion``
    names) came from: run, data, code, parameters, gates and the overrides that let
    failed ones through, promotion history, parent champion (a challenger's) and
    reproductions."""
    mv = model_version(workspace, name, version)  # first: asking makes no store
    client = _client(workspace)
    version = str(mv.version)
    run = client.get_run(mv.run_id)
    tags, params = run.data.tags, run.data.params
    history = next((v for v in versions(workspace, name) if v["version"] == str(version)), {})
    model = run_json(workspace, run.info.run_id, "model.json") or {
        "name": params.get("model"), "params": {k.removeprefix("model."): v
                                                for k, v in params.items()
                                                if k.startswith("model.")}}
    return {
        "name": name, "version": str(version), "aliases": history.get("aliases", []),
        "run": {"run_id": run.info.run_id, "kind": tags.get("shipyard.kind", "run"),
                "started": run.info.start_time / 1000 if run.info.start_time else None,
                "metrics": {k.removeprefix("holdout_"): v for k, v in run.data.metrics.items()
                            if k.startswith("holdout_")}},
        "data": _data(workspace, tags, params),
        "code": {"project_digest": tags.get("shipyard.project_digest"),
                 "project_file": tags.get("shipyard.project_file"),
                 "git_commit": tags.get("shipyard.git.commit"),
                 "git_dirty": _flag(tags.get("shipyard.git.dirty")),
                 "git_root": tags.get("shipyard.git.root"),
                 "platform": tags.get("shipyard.platform"),
                 "versions": {k.removeprefix("shipyard.versions."): v
                              for k, v in sorted(tags.items())
                              if k.startswith("shipyard.versions.")}},
        "parameters": {"model": model.get("name"), "params": model.get("params", {}),
                       "seed": tags.get("shipyard.seed"), "task": params.get("task"),
                       "target": params.get("target")},
        "gates": run_json(workspace, run.info.run_id, "gates.json") or [],
        "overrides": _overrides(mv.tags.get("shipyard.overrides")),
        "promotion": {k: history.get(k) for k in ("created", "promotion", "replaced",
                                                   "rollback", "restored_at",
                                                   "champion_since")},
        "parent": None if not (history.get("parent") or tags.get("shipyard.parent")) else {
            "version": history.get("parent") or tags.get("shipyard.parent"),
            "run_id": tags.get("shipyard.parent_run") or None},
        "reproductions": _reproductions(client, run),
    }


def _data(workspace: Workspace, tags: dict, params: dict) -> dict:
    digest = tags.get("shipyard.snapshot")
    out = {"snapshot": digest, "remote": tags.get("shipyard.snapshot.remote"),
           "test_snapshot": tags.get("shipyard.snapshot.test"),
           "rows_train": _int(params.get("rows.train")),
           "rows_holdout": _int(params.get("rows.holdout")),
           "rows": None, "source": None, "local": False}
    if digest:
        try:
            snap = open_snapshot(workspace.snapshots, digest)
        except ShipyardError:  # not in this workspace (made on another machine)
            return out
        out |= {"rows": snap.rows, "source": snap.manifest.get("source"),
                "created": snap.manifest.get("created"), "local": True}
    return out


def _reproductions(client, run) -> list[dict]:
    found = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`shipyard.reproduces` = '{run.info.run_id}'",
        order_by=["attributes.start_time DESC"], max_results=20)
    return [{"run_id": r.info.run_id, "result": r.data.tags.get("shipyard.reproduced"),
             "started": r.info.start_time / 1000 if r.info.start_time else None}
            for r in found]


def _empty(workspace: Workspace) -> bool:
    """The workspace's own store does not exist yet (reading must not create it)."""
    return workspace.embedded_tracking and not (workspace.root / "mlflow.db").exists()


def _overrides(text: str | None) -> list[dict]:
    """The overrides that let failed checks through, as the version records them."""
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def _none(value: str | None) -> str | None:
    return None if value in (None, "", "none") else value


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
