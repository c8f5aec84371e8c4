"""`shipyard loop`: cycles on a schedule, never two at once, past a failing one,
until a signal stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shipyard.errors import SpecError
from shipyard.lifecycle import run_project
from shipyard.loop import schedule
from shipyard.monitor.store import LogStore
from shipyard.workspace import Workspace
from tests.helpers import project

from .project import append, rows, write


def test_cycles_never_overlap_and_a_failing_one_does_not_end_the_loop():
    state = {"running": 0, "most": 0, "calls": 0}
    lock = threading.Lock()
    said: list[str] = []

    def cycle() -> None:
        with lock:
            state["calls"] += 1
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            first = state["calls"] == 1
        try:
            if first:
                raise RuntimeError("the source is down")
            time.sleep(1.5)  # longer than the interval: the next firing is due meanwhile
        finally:
            with lock:
                state["running"] -= 1

    stop = threading.Event()
    threading.Timer(4.5, stop.set).start()
    done = schedule.run(project(extra="retrain: {every: 1s}"), cycle, say=said.append,
                        stop=stop)
    assert state["most"] == 1  # never two cycles at once
    assert state["calls"] >= 3 and done == state["calls"]
    assert state["running"] == 0  # the cycle running at the stop was let finish
    assert any("A retraining cycle failed: RuntimeError: the source is down" in s for s in said)
    assert said[-1] == f"Stopped after {done} cycle(s)."


def test_a_schedule_is_required_and_cron_is_understood():
    with pytest.raises(SpecError, match="needs a schedule"):
        schedule.trigger(project().retrain)
    cron = schedule.trigger(project(extra="retrain: {cron: '0 3 * * *'}").retrain)
    assert "hour='3'" in str(cron) and "minute='0'" in str(cron)


def test_shipyard_loop_runs_cycles_until_sigterm(tmp_path: Path):
    append(tmp_path, rows())
    loaded = write(tmp_path, extra="  every: 1s\n  on_drift: false")
    assert run_project(loaded).version == "1"
    log = tmp_path / "loop.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shipyard", "loop", "shipyard.yaml"],
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _decisions(loaded) < 2:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        assert _decisions(loaded) >= 2, log.read_text()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert "Retraining loopy every 1s" in text and "Retraining cycle: " in text
    assert "Stopped after" in text and "Traceback" not in text


def _decisions(project) -> int:
    with LogStore.of(project, Workspace.of(project)) as store:
        return len(store.decisions())
