"""Real load for the tests: wrk (the Debian package) against a real server, and
the processes behind a port, read from /proc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk_post.lua")


@dataclass(frozen=True)
class Load:
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


class Wrk:
    """``wrk`` POSTing ``body`` to ``url`` in the background; ``result()`` waits for it.

    ``delay_ms`` is each connection's pause between requests, which bounds the rate
    at about ``connections / (delay + latency)``."""

    def __init__(self, url: str, body, *, seconds: float, connections: int = 4,
                 delay_ms: float = 0.0):
        wrk = shutil.which("wrk")
        assert wrk, "wrk is not installed: `make test` installs it (apt-get install wrk)"
        self._dir = tempfile.TemporaryDirectory(prefix="shipyard-wrk-")
        body_file = Path(self._dir.name) / "body.json"
        body_file.write_text(json.dumps(body))
        env = {**os.environ, "WRK_BODY": str(body_file), "WRK_DELAY_MS": str(delay_ms)}
        self._proc = subprocess.Popen(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
             "-s", str(SCRIPT), url], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.seconds = seconds

    def result(self) -> Load:
        out, _ = self._proc.communicate(timeout=self.seconds + 60)
        self._dir.cleanup()
        found = re.search(r"^RESULT (\{.*\})$", out, re.M)
        assert self._proc.returncode == 0 and found, f"wrk failed:\n{out}"
        r = json.loads(found.group(1))
        return Load(r["requests"], r["status"], r["connect"] + r["read"] + r["write"]
                    + r["timeout"], r["duration_us"] / 1e6)


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def workers(pid: int) -> list[int]:
    """The worker processes a multiprocessing parent ``pid`` spawned (not its
    resource tracker)."""
    found = []
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            found.append(child)
    return sorted(found)


def tree(pid: int) -> list[int]:
    out = [pid]
    for child in children(pid):
        out.extend(tree(child))
    return out


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of ``pids`` together (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


def get_json(url: str, timeout: float = 5) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_until(condition, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (OSError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def stop(proc: subprocess.Popen, log: Path) -> None:
    """Stop a `shipyard serve` started in its own session (supervisor and workers),
    killing it if it does not stop in time, and print the end of its log."""
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    print(log.read_text()[-3000:])
