"""The same registered version behind ``shipyard serve`` and behind MLflow's own
``mlflow models serve``, both started for real: MLflow's client gets the same
answers from both, in every request format MLflow's server takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

from shipyard import spec
from shipyard.lifecycle import run_project
from tests.helpers import frame
from tests.pg import free_port

PROJECT = """\
name: parity
source:
  files: {rows: rows.csv}
  query: SELECT * FROM rows
target: label
task: binary
positive_class: "Yes"
split: {holdout: 0.25, folds: 3}
prepare: {dates: [dayofweek, month]}
models:
  - name: lightgbm
    params: {n_estimators: 40}
"""


def _rows() -> pd.DataFrame:
    """A number with gaps, a text with gaps, an integer and a date, and the label."""
    rows = frame().drop(columns=["eid", "y", "kind"])
    days = pd.date_range("2026-01-01", periods=40, freq="D")  # repeated: not an id
    rows["t"] = np.random.default_rng(5).choice(days, len(rows))
    return rows


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[tuple[ScoringServerClient, ScoringServerClient]]:
    folder = tmp_path_factory.mktemp("parity")
    _rows().to_csv(folder / "rows.csv", index=False)
    (folder / "shipyard.yaml").write_text(PROJECT)
    outcome = run_project(spec.load(folder / "shipyard.yaml"))
    assert outcome.version == "1"
    bin_dir = Path(sys.executable).parent  # MLflow's server runs the `uvicorn` found on PATH
    env = {**os.environ, "NO_COLOR": "1", "MLFLOW_TRACKING_URI": outcome.workspace.tracking_uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    ours, theirs = free_port(), free_port()
    started = [
        subprocess.Popen([sys.executable, "-m", "shipyard", "serve", str(folder / "shipyard.yaml"),
                          "--port", str(ours)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT),
        subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m",
                          "models:/parity/1", "--env-manager", "local", "-h", "127.0.0.1",
                          "-p", str(theirs)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT),
    ]
    try:
        clients = ScoringServerClient("127.0.0.1", ours), ScoringServerClient("127.0.0.1", theirs)
        for client, process in zip(clients, started, strict=True):
            _wait(client, process)
        yield clients
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=30)
            process.stdout.close()


def _wait(client: ScoringServerClient, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[:3]} exited: {process.stdout.read().decode()}")
        try:
            client.wait_server_ready(timeout=1)
            return
        except Exception:  # not up yet: MLflow's client raises its own RuntimeError
            time.sleep(0.2)
    raise AssertionError(f"{process.args[:3]} did not answer /ping")


def test_mlflows_client_gets_the_same_answers_from_both_servers(servers):
    ours, theirs = servers
    rows = _rows().drop(columns=["label"]).head(60)
    assert rows["a"].isna().any() and rows["b"].isna().any()  # NaN and None on the wire
    assert rows["c"].dtype == "int64" and rows["t"].dtype.kind == "M"
    answers = [client.invoke(rows).get_predictions().to_numpy().ravel().tolist()
               for client in servers]
    assert answers[0] == answers[1]
    assert set(answers[0]) == {"Yes", "No"}
    served = httpx.get(f"{ours.url_prefix}/model", timeout=10).json()
    assert {"name": "t", "kind": "datetime"} in served["inputs"]  # a date is an input
    with_params = ours.invoke(rows, params={"unused": 1}).get_predictions()
    assert with_params.to_numpy().ravel().tolist() == answers[1]


@pytest.mark.parametrize("shape", ["dataframe_split", "dataframe_records", "instances",
                                   "inputs", "csv", "format=pandas-split"])
def test_every_request_format_gets_the_same_answer(servers, shape):
    rows = _rows().drop(columns=["label"]).head(30)
    rows["t"] = rows["t"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
               for r in rows.to_dict("records")]
    columns = {name: [r[name] for r in records] for name in rows.columns}
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": list(rows.columns),
                                                "data": [list(r.values()) for r in records]}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": columns},
    }
    # MLflow 1's content-type parameter, which MLflow 2 and later refuse
    bodies["format=pandas-split"] = bodies["dataframe_split"]
    answers = []
    for client in servers:
        url = f"{client.url_prefix}/invocations"
        # MLflow's server cannot read a date column from CSV (pandas' read_csv refuses
        # the datetime dtype it asks for), so it gets the same rows as JSON.
        if shape == "csv" and client is servers[0]:
            said = httpx.post(url, content=rows.to_csv(index=False),
                              headers={"Content-Type": "text/csv"}, timeout=30)
        else:
            media = "application/json" + ("; format=pandas-split" if "=" in shape else "")
            said = httpx.post(url, content=json.dumps(bodies.get(shape,
                                                                 bodies["dataframe_split"])),
                              headers={"Content-Type": media}, timeout=30)
        if "=" in shape:  # neither server takes it any more: both say why
            assert said.status_code == 415 and "MLflow" in said.text, said.text
            continue
        assert said.status_code == 200, said.text
        answers.append(said.json()["predictions"])
    if "=" not in shape:
        assert answers[0] == answers[1] and len(answers[0]) == 30
