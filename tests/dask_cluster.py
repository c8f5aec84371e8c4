"""A real Dask cluster for the tests: ``dask scheduler`` and ``dask worker`` started
as their own processes on loopback, as an operator would start them, so a test can
kill a worker for real. Each worker is one process with one thread, without a
nanny (a nanny would restart a killed worker at once)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.pg import free_port

DASK = Path(sys.executable).with_name("dask")


class Unavailable(RuntimeError):
    """The cluster would not start."""


class Cluster:
    """``start()`` a scheduler and ``n`` workers; ``stop()`` them all."""

    def __init__(self, workers: int = 2) -> None:
        self.n = workers
        self.root = Path(tempfile.mkdtemp(prefix="shipyard-dask-"))
        self.port = 0
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> Cluster:
        try:
            self.port = free_port()
            self.scheduler = self._spawn("scheduler", "scheduler", "--host", "127.0.0.1",
                                         "--port", str(self.port), "--no-dashboard")
            for _ in range(self.n):
                self.add_worker()
            self.wait_for(self.n)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> subprocess.Popen:
        i = len(self.workers)
        worker = self._spawn(f"worker-{i}", "worker", self.address, "--host", "127.0.0.1",
                             "--nthreads", "1", "--no-nanny", "--no-dashboard",
                             "--name", f"w{i}", "--death-timeout", "60")
        self.workers.append(worker)
        return worker

    def kill_worker(self, i: int = 0) -> None:
        """SIGKILL: the worker dies without a word to the scheduler, as a lost machine."""
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait(timeout=10)

    def alive(self) -> int:
        """Workers the scheduler knows of now."""
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return len(client.scheduler_info()["workers"])

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scheduler and self.scheduler.poll() is not None:
                raise Unavailable(f"dask scheduler exited: {self._log('scheduler')}")
            try:
                if self.alive() >= n:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise Unavailable(f"{n} Dask workers did not join within {timeout:g} s: "
                          f"{self._log('scheduler')}")

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            if process is not None:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.root / f"{name}.log", "wb") as log:  # the child keeps its own copy
            return subprocess.Popen([str(DASK), *args], cwd=self.root, stdout=log,
                                    stderr=subprocess.STDOUT, env=env)

    def _log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
