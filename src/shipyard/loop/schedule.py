"""`shipyard loop`: a retraining cycle on a schedule, until stopped.

APScheduler (3.x) fires a cycle every ``retrain.every`` (the first one at
once) or on the ``retrain.cron`` crontab schedule (local time). One worker
thread and ``max_instances=1`` mean two cycles never overlap: a cycle still
running when the next is due makes the scheduler skip that firing (missed
firings are coalesced into one). A cycle that raises is logged with its
traceback and the loop goes on.

SIGINT or SIGTERM stops the schedule and waits for a running cycle to finish,
so a promotion is never cut in half; a second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from shipyard.errors import SpecError
from shipyard.spec import Project
from shipyard.spec.monitoring import Retrain, seconds

log = logging.getLogger("shipyard.loop")


def trigger(policy: Retrain):
    """The APScheduler trigger of ``retrain.every`` or ``retrain.cron``."""
    if policy.cron is not None:
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(policy.cron)
    if policy.every is not None:
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(seconds=seconds(policy.every))
    raise SpecError("`shipyard loop` needs a schedule: neither retrain.every nor retrain.cron "
                    "is set", hint="add e.g. `every: 6h` or `cron: \"0 3 * * *\"` under retrain "
                                   "in the project file, or run `shipyard retrain` yourself")


def run(project: Project, cycle: Callable[[], object] | None = None, *,
        say: Callable[[str], None] = log.info, stop: threading.Event | None = None) -> int:
    """Run ``cycle()`` (default: :func:`shipyard.loop.retrain` of the project, its
    outcome said) on the project's schedule until ``stop`` is set (or, in the main
    thread, a SIGINT/SIGTERM arrives); returns how many cycles ran."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    when = trigger(project.retrain)
    if cycle is None:
        from shipyard.loop.cycle import retrain

        def cycle() -> None:
            say(retrain(project).summary())
    stop = stop or threading.Event()
    counted = _Counter(cycle, say)
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
    first = datetime.now().astimezone() if project.retrain.every is not None else None
    job = scheduler.add_job(counted, when, id="retrain", name=f"retrain {project.name}",
                            **({"next_run_time": first} if first else {}))
    restore = _on_signals(stop, say)
    try:
        scheduler.start()
        say(f"Retraining {project.name} "
            + (f"every {project.retrain.every}" if project.retrain.every
               else f"on '{project.retrain.cron}'")
            + f"; next cycle at {_next(job)}. Ctrl-C or SIGTERM stops.")
        stop.wait()
        if counted.running:
            say("Stopping after the running cycle (signal again to stop at once).")
        scheduler.shutdown(wait=True)
    finally:
        restore()
    say(f"Stopped after {counted.done} cycle(s).")
    return counted.done


class _Counter:
    """The job: one cycle, its failure logged rather than raised."""

    def __init__(self, cycle: Callable[[], object], say: Callable[[str], None]):
        self.cycle, self.say = cycle, say
        self.done = 0
        self.running = False

    def __call__(self) -> None:
        self.running = True
        try:
            self.cycle()
        except Exception as exc:  # one bad cycle must not end the loop
            log.exception("retraining cycle failed")
            self.say(f"A retraining cycle failed: {type(exc).__name__}: {exc}; the loop goes on")
        finally:
            self.running = False
            self.done += 1


def _on_signals(stop: threading.Event, say: Callable[[str], None]) -> Callable[[], None]:
    """Make SIGINT/SIGTERM set ``stop`` (a second one exits at once); returns what
    restores the previous handlers. Only the main thread may install handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame) -> None:
        if stop.is_set():
            say("Stopped at once.")
            os._exit(128 + signum)  # the cycle's thread would otherwise keep the process
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _next(job) -> str:
    when = job.next_run_time
    return "now" if when is None else when.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
