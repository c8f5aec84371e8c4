"""Prometheus's own tools, for real: ``promtool check metrics`` on an exposition,
and a throwaway Prometheus server that scrapes a live Shipyard server."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.pg import free_port


def promtool_check(text: str) -> subprocess.CompletedProcess:
    """``promtool check metrics`` on ``text``; it prints every lint problem."""
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60, check=False)


class Prometheus:
    """A Prometheus on loopback scraping ``target`` (a base URL) every second."""

    def __init__(self, folder: Path, target: str):
        self.folder, self.port = folder, free_port()
        where = urlsplit(target)
        (folder / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: shipyard\n    static_configs:\n"
            f"      - targets: ['{where.hostname}:{where.port}']\n")
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10,
                                trust_env=False)

    def __enter__(self) -> Prometheus:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: `make test` installs Debian's prometheus package"
        self.log = (self.folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={self.folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.until(lambda: self._ready(), "Prometheus to start")
        return self

    def __exit__(self, *exc) -> None:
        self.api.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError((self.folder / "prometheus.log").read_text()[-2000:])
        try:
            return self.api.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def query(self, expression: str) -> list[dict]:
        """The instant vector ``expression`` evaluates to now."""
        said = self.api.get("/api/v1/query", params={"query": expression}).json()
        assert said["status"] == "success", said
        return said["data"]["result"]

    def until(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}")
