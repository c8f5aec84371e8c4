"""A project whose tracking.uri is a real `mlflow server`: runs, models and the
registry live on the server, artifacts go up and come down through it, and
`shipyard serve`, promote, rollback, runs and lineage work through it. A server
that is not there is a clear error, at once, and nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from shipyard import registry, spec
from shipyard.cli import app
from shipyard.errors import RegistryError
from shipyard.lifecycle import run_project
from shipyard.serve.background import free_port
from shipyard.workspace import Workspace
from tests.loop.project import append, rows, write
from tests.serve.load import get_json, stop, wait_until

ROW = {"a": 0.5, "b": "x", "c": 2, "eid": 7}  # the entity is required


def shipyard(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "220"})
    return done.exit_code, done.stdout, done.stderr


def remote_project(folder: Path, uri: str, name: str) -> spec.Project:
    """The loop tests' project (rows in DuckDB, a linear model, an r2 gate), named
    ``name`` on the shared server and tracking to ``uri``."""
    write(folder, extra=f"tracking: {{uri: '{uri}'}}\n")
    path = folder / "shipyard.yaml"
    path.write_text(path.read_text().replace("name: loopy", f"name: {name}"))
    return spec.load(path)


def replace_rows(folder: Path, changed: bool) -> None:
    """New data in which the target follows another rule: a model of it predicts
    otherwise, so the tests can tell which version answers."""
    with duckdb.connect(str(folder / "data.duckdb")) as con:
        con.execute("DROP TABLE IF EXISTS rows")
    append(folder, rows(300, 1 if changed else 0, changed=changed))


def local_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def champion_on(server, name: str) -> str:
    """Asked of the server by a client of its own, not through Shipyard."""
    return str(MlflowClient(tracking_uri=server.url).get_model_version_by_alias(
        name, "champion").version)


def test_runs_the_registry_and_serving_live_on_the_server(mlflow_server, tmp_path: Path):
    project = remote_project(tmp_path, mlflow_server.url, "remote-cycle")
    replace_rows(tmp_path, changed=False)
    code, out, err = shipyard("run", project.file)
    assert code == 0, err
    assert "Registered remote-cycle version 1 as champion" in out
    assert "View run" not in out  # MLflow's links would land in the middle of the output
    assert champion_on(mlflow_server, "remote-cycle") == "1"

    # Everything went to the server: no local store, and the client wrote the model
    # through the server's artifact proxy, not into its folder.
    ws = Workspace.of(project)
    assert ws.remote_tracking and not ws.embedded_tracking
    assert not (ws.root / "mlflow.db").exists() and not list(tmp_path.rglob("mlruns"))
    assert not (ws.root / "artifacts").exists()
    client = MlflowClient(tracking_uri=mlflow_server.url)
    mv = client.get_model_version("remote-cycle", "1")
    assert client.get_run(mv.run_id).info.artifact_uri.startswith("mlflow-artifacts:/")
    assert list(mlflow_server.artifacts.rglob("model.pkl"))
    assert mv.tags["shipyard.fast_path"] == "onnx"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "serve", "shipyard.yaml", "--port", str(port)],
            cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: get_json(f"{url}/ready")[0] == 200, 90, "the server to be ready")
        assert get_json(f"{url}/model")[1]["version"] == "1"
        first = _predict(url)

        replace_rows(tmp_path, changed=True)
        code, out, err = shipyard("run", project.file)
        assert code == 0 and "version 2 as champion" in out, err
        assert champion_on(mlflow_server, "remote-cycle") == "2"
        _wait_for_version(url, "2")
        second = _predict(url)
        assert second != first

        code, out, err = shipyard("rollback", "--reason", "alerts went up", project.file)
        assert code == 0 and "back from version 2 to version 1" in out, err
        assert champion_on(mlflow_server, "remote-cycle") == "1"
        _wait_for_version(url, "1")
        assert _predict(url) == first

        code, out, err = shipyard("promote", "2", "--reason", "alerts were noise", project.file)
        assert code == 0 and "Version 2 of remote-cycle is the champion" in out, err
        assert champion_on(mlflow_server, "remote-cycle") == "2"
        _wait_for_version(url, "2")
        assert _predict(url) == second
    finally:
        stop(proc, log)

    code, out, err = shipyard("runs", project.file)
    assert code == 0, err
    listed = [line.split("│") for line in out.splitlines() if line.count("│") >= 8]
    assert [cells[-3].strip() for cells in listed] == ["2", "1"], out  # newest first
    code, out, err = shipyard("lineage", "champion", project.file, "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["version"] == "2" and found["aliases"] == ["champion"]
    assert found["promotion"]["promotion"]["reason"] == "alerts were noise"
    assert found["data"]["local"] and found["data"]["rows"] == 300
    assert [g["passed"] for g in found["gates"]] and all(g["passed"] for g in found["gates"])
    code, out, _ = shipyard("ui", project.file)
    assert code == 0 and mlflow_server.url in out


def test_downloaded_artifacts_are_checked_against_their_digests(mlflow_server, tmp_path: Path):
    project = remote_project(tmp_path, mlflow_server.url, "remote-integrity")
    replace_rows(tmp_path, changed=False)
    assert run_project(project).version == "1"
    assert run_project(project).version == "2"
    ws = Workspace.of(project)
    assert registry.load_version(ws, "remote-integrity", 1).card.version == "1"
    with pytest.raises(RegistryError, match="is stored at mlflow-artifacts:"):
        registry.artifact_paths(ws, "remote-integrity", 1)

    # Someone changes version 1's pickle where the server keeps it.
    source = MlflowClient(tracking_uri=mlflow_server.url).get_model_version(
        "remote-integrity", "1").source
    model_id = source.rsplit("/", 1)[-1]
    (stored,) = [p for p in mlflow_server.artifacts.rglob("model.pkl") if model_id in str(p)]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    with pytest.raises(RegistryError, match=r"Version 1 of 'remote-integrity': artifact "
                                            r"model.pkl does not match its recorded SHA-256"):
        registry.load_version(ws, "remote-integrity", 1)
    assert registry.load(ws, "remote-integrity").card.version == "2"


def test_a_server_that_is_not_there_is_a_clear_error_and_writes_nothing(tmp_path: Path):
    port = free_port()  # nothing listens on it
    uri = f"http://127.0.0.1:{port}"
    project = remote_project(tmp_path, uri, "remote-nowhere")
    replace_rows(tmp_path, changed=False)
    before = local_files(tmp_path)
    for args in (("run",), ("serve",), ("promote", "1", "--reason", "x"), ("runs",),
                 ("lineage", "champion")):
        started = time.monotonic()
        code, _, err = shipyard(*args, project.file)
        assert code == 2, (args, err)
        assert f"Cannot reach the MLflow tracking server at {uri}" in err, (args, err)
        assert "Connection refused" in err and "Traceback" not in err, (args, err)
        # MLflow alone retries for minutes (about 4 on this machine)
        assert time.monotonic() - started < 60, args
    assert local_files(tmp_path) == before


def test_a_url_that_is_not_an_mlflow_server_is_a_clear_error(mlflow_server, tmp_path: Path):
    uri = f"{mlflow_server.url}/not-mlflow"
    project = remote_project(tmp_path, uri, "remote-elsewhere")
    with pytest.raises(RegistryError, match=r"does not answer as an MLflow tracking server "
                                            r"\(HTTP 404"):
        registry.champion_version(Workspace.of(project), project.name)


def _wait_for_version(url: str, version: str) -> None:
    wait_until(lambda: get_json(f"{url}/model")[1]["version"] == version, 30,
               f"the server to serve version {version}")


def _predict(url: str) -> list[float]:
    request = urllib.request.Request(f"{url}/predict", data=json.dumps(ROW).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
        items = json.loads(answer.read())["predictions"]
    return [item["prediction"] if isinstance(item, dict) else item for item in items]


def test_a_retraining_challenger_is_reproduced_through_the_server(mlflow_server,
                                                                   tmp_path: Path):
    """The cycle's rows come from its snapshot and the parent's artifact from the
    server, checked against the digest the challenger recorded."""
    project = remote_project(tmp_path, mlflow_server.url, "remote-replay")
    replace_rows(tmp_path, changed=False)
    code, _, err = shipyard("run", project.file)
    assert code == 0, err
    replace_rows(tmp_path, changed=True)
    code, out, err = shipyard("retrain", "--force", project.file)
    assert code == 0 and champion_on(mlflow_server, "remote-replay") == "2", out + err
    replace_rows(tmp_path, changed=False)  # the live rows are no longer the cycle's
    code, out, err = shipyard("reproduce", "champion", project.file)
    assert code == 0, out + err
    assert "Reproduced: every metric and output matches exactly" in out
    assert champion_on(mlflow_server, "remote-replay") == "2"
