"""A real MLflow tracking server for the tests: ``mlflow server`` on loopback, as an
operator would start it, with a SQLite backend and artifacts served through the
server (``mlflow-artifacts:/``), so a client never touches the server's folders.

Kept small for a 2-core machine: one uvicorn worker and no job runner (with the
defaults it starts 15 processes and needs about 3 GB). It answers ``/health``
after 10-13 s here, most of it MLflow's schema migrations on the new database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.pg import free_port

MLFLOW = Path(sys.executable).with_name("mlflow")
START_TIMEOUT = 90.0  # seconds; a loaded 2-core machine can take several times the usual 12


class Unavailable(RuntimeError):
    """The server would not start."""


class Server:
    """``start()`` an MLflow server on a free loopback port; ``stop()`` it. Its
    database, artifacts and log live in one temporary folder, deleted at the end."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="shipyard-mlflow-"))
        self.artifacts = self.root / "artifacts"
        self.log = self.root / "server.log"
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.started_in: float | None = None  # seconds until /health answered

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> Server:
        try:
            # A free port can be taken between finding it and binding it: try another.
            for attempt in range(3):
                if self._launch(timeout):
                    return self
                if attempt == 2:
                    raise Unavailable(f"mlflow server exited "
                                      f"({self.process.returncode}): {self.tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, timeout: float) -> bool:
        """True once /health answers; False when the process exited (port taken?)."""
        self.port = free_port()
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        started = time.monotonic()
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                 "--serve-artifacts", "--artifacts-destination", str(self.artifacts)],
                cwd=self.root, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                return False
            if self.healthy():
                self.started_in = time.monotonic() - started
                return True
            time.sleep(0.25)
        raise Unavailable(f"mlflow server on {self.url} did not answer /health within "
                          f"{timeout:.0f} s: {self.tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                return answer.status == 200 and answer.read().strip() == b"OK"
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # The whole session: the server's uvicorn worker goes with it.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
