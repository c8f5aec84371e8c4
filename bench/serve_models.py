"""The models bench/serve.py measures, each built the way a user builds it: its
project file, then `shipyard run`.

- ``demo``: the airline demo's RUL regressor (LightGBM on the windows that
  ``prepare.series`` builds from raw readings), from the demo's own project file and fleet simulator
  (`shipyard.demo.init_project`, 200 aircraft, seed 0);
- ``adult``: examples/adult/shipyard.yaml on UCI Adult (a tuned LightGBM
  classifier, one-hot and target encoding);
- ``fd001``: examples/cmapss/fd001.yaml on NASA C-MAPSS FD001 (1,500 trees over
  per-engine window features).

The real datasets are read from ``SHIPYARD_DATA`` (default ../shared/data).
Request rows come from the run's own evaluation rows (the test snapshot when the
project has one); the expected answers from the registered pipeline itself.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATA = Path(os.environ.get("SHIPYARD_DATA", ROOT.parent / "shared" / "data")).resolve()
os.environ["SHIPYARD_DATA"] = str(DATA)  # the example project files read it, here too


class BenchError(Exception):
    """The benchmark could not run as intended (exit status 2)."""


@dataclass
class Registered:
    key: str
    title: str
    project: Path  # its shipyard.yaml
    tracking_uri: str
    name: str
    version: str
    task: str
    positive: object  # binary: the class whose probability is compared
    seconds: float  # training wall time; 0 when an earlier run's model was reused
    one: dict  # a complete row, as JSON
    rows: list[dict]  # 100 rows, some with gaps, as JSON
    # The registered pipeline's answers for [one, *rows]: values (regression) or the
    # positive class's probability, and the labels it predicts (classification).
    reference: np.ndarray
    labels: list[str]
    agreement: str  # how closely the ONNX form agreed at registration (its run's tag)
    fast_path: str  # the registration's verdict: "onnx" or "python: <why>"
    estimator: str


def _demo(folder: Path) -> Path:
    from shipyard.demo import init_project

    return init_project(folder, aircraft=200, seed=0, force=True)


def _example(relative: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "shipyard.yaml"
        shutil.copyfile(ROOT / "examples" / relative, target)
        return target

    return write


def _landings(folder: Path) -> Path:
    """examples/cmapss/fd001.yaml with the windows of the landings scenario, 10/30/50
    cycles (the example's whole-life window would make the server keep every
    reading), served from the history the server keeps."""
    target = _example("cmapss/fd001.yaml")(folder)
    text = target.read_text()
    for old, new in (("windows: [10, 30, 50, 10000]", "windows: [10, 30, 50]"),
                     ("name: cmapss-fd001", "name: cmapss-fd001-landings"),
                     ("- {metric: rmse, max: 12.0}", "- {metric: rmse, max: 20.0}")):
        if old not in text:
            raise BenchError(f"examples/cmapss/fd001.yaml no longer has {old!r}")
        text = text.replace(old, new)
    target.write_text(text + "\nserve:\n  history: {retention: 200}\n")
    return target


MODELS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "demo": ("the demo's RUL champion", _demo),
    "adult": ("the Adult example", _example("adult/shipyard.yaml")),
    "fd001": ("the C-MAPSS FD001 example", _example("cmapss/fd001.yaml")),
}
# Models served from the history the server keeps (bench/serve_history.py).
STATEFUL: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "landings": ("C-MAPSS FD001, windows 10/30/50, one raw reading per landing", _landings),
}


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PATH"] = f"{BIN}{os.pathsep}{out.get('PATH', '')}"  # mlflow runs `uvicorn` by name
    out["PYTHONUNBUFFERED"] = "1"
    out["SHIPYARD_DATA"] = str(DATA)
    out.pop("MLFLOW_MODELS_WORKERS", None)  # MLflow's default worker count, whatever is set
    return out


def build(key: str, workdir: Path, say: Callable[[str], None]) -> Registered:
    """Write ``key``'s project into ``workdir/key`` and run `shipyard run` on it, unless
    that folder already holds a champion (a kept --workdir); then read it back."""
    from shipyard import registry, spec
    from shipyard.workspace import Workspace

    title, write = {**MODELS, **STATEFUL}[key]
    folder = workdir / key
    marker = folder / ".bench-trained"
    if marker.exists():
        project_file = Path(marker.read_text())
        say(f"[{key}] reusing the champion trained earlier in {folder}")
        seconds = 0.0
    else:
        project_file = write(folder)
        say(f"[{key}] training {title} with `shipyard run {project_file}` ...")
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "shipyard"), "run", str(project_file)],
                              cwd=project_file.parent, stdout=sys.stderr, stderr=sys.stderr,
                              env=env())
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise BenchError(f"[{key}] `shipyard run` failed with exit status "
                             f"{done.returncode}")
        marker.write_text(str(project_file))
    project = spec.load(project_file)
    ws = Workspace.of(project)
    try:
        model = registry.load(ws, project.name)
    except Exception as exc:
        raise BenchError(f"[{key}] no champion was registered: {exc}") from exc
    card = model.card
    tags = _run_tags(ws.tracking_uri, card.run_id)
    frame = _evaluation_rows(ws, tags, key)
    one, rows, chosen = _requests(frame, card)
    reference, labels = _answers(model, chosen)
    return Registered(key, title, project_file, ws.tracking_uri, project.name,
                      str(card.version), card.task, card.positive_class, seconds, one, rows,
                      reference, labels, tags.get("shipyard.fast_agreement", "-"),
                      tags.get("shipyard.fast_path", "?"), card.estimator)


def _run_tags(tracking_uri: str, run_id: str | None) -> dict[str, str]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return dict(client.get_run(run_id).data.tags) if run_id else {}


def _evaluation_rows(ws, tags: dict[str, str], key: str) -> pd.DataFrame:
    from shipyard.data.snapshot import open_snapshot

    digest = tags.get("shipyard.snapshot.test") or tags.get("shipyard.snapshot")
    if not digest:
        raise BenchError(f"[{key}] the champion's run recorded no snapshot")
    return open_snapshot(ws.snapshots, digest).frame()


def _requests(frame: pd.DataFrame, card) -> tuple[dict, list[dict], pd.DataFrame]:
    """One complete row and 100 rows (gaps included when the data has them), chosen
    with a fixed seed; the 1-row body first in the returned frame."""
    names = list(card.schema.names)
    if card.entity and card.entity not in names and card.entity in frame:
        names.append(card.entity)
    frame = frame[names].reset_index(drop=True)
    complete = frame.dropna()
    if complete.empty:
        raise BenchError("no complete row to send")
    one = complete.sample(1, random_state=0)
    gaps = frame[frame.isna().any(axis=1)]
    gaps = gaps.sample(min(2, len(gaps)), random_state=1)
    rest = frame.drop(index=gaps.index).sample(100 - len(gaps), random_state=1)
    hundred = pd.concat([gaps, rest]).sample(frac=1, random_state=1)
    chosen = pd.concat([one, hundred], ignore_index=True)
    records = [_record(r, card) for r in chosen.to_dict("records")]
    return records[0], records[1:], chosen


def _record(row: dict, card) -> dict:
    kinds = {c.name: c.kind for c in card.schema.columns}
    out = {}
    for name, value in row.items():
        kind = kinds.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)) or \
                value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
            # "" is Shipyard's marker for missing text, and what MLflow's copy of the
            # same pipeline needs too: its text imputer looks for "", not for null.
            out[name] = "" if kind == "string" else None
        elif kind == "datetime":
            out[name] = pd.Timestamp(value).isoformat()
        elif isinstance(value, np.generic):
            out[name] = value.item()
        else:
            out[name] = value
    return out


def _answers(model, chosen: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    card = model.card
    frame = card.schema.model_frame(chosen)
    if card.task == "regression":
        return np.asarray(model.pipeline.predict(frame), dtype=np.float64), []
    proba = np.asarray(model.pipeline.predict_proba(frame), dtype=np.float64)
    positive = card.positive_class if card.positive_class is not None else card.classes[-1]
    labels = [str(x) for x in model.pipeline.predict(frame)]
    return proba[:, list(card.classes).index(positive)], labels
