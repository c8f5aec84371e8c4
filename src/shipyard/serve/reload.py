"""Follow the registry's champion alias without a restart.

A thread asks the registry every ``interval`` seconds which version holds the
alias. When it moves (a promotion, or a rollback), the new version is loaded,
its artifacts verified, its engine checked on a probe row, and only then
swapped in; requests in flight finish on the version they started with. A
version that fails to load is reported (``/health``, ``/model``, metrics, log)
and not retried until the alias moves again; the old version keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from shipyard.card import LoadedModel
from shipyard.serve.engine import engine_for

log = logging.getLogger("shipyard.serve")


class RegistrySource:
    """A project's registered model in its registry."""

    def __init__(self, workspace, name: str):
        self.workspace, self.name = workspace, name

    def version(self) -> str | None:
        from shipyard import registry

        return registry.champion_version(self.workspace, self.name)

    def load(self, version: str) -> LoadedModel:
        from shipyard import registry

        return registry.load_version(self.workspace, self.name, version)


class Watcher:
    """Polls ``source`` and swaps ``state``'s engine when the champion changes."""

    def __init__(self, source, state, interval: float):
        self.source, self.state, self.interval = source, state, interval
        self.last_error: dict | None = None
        self.last_check: str | None = None
        self._failed: str | None = None  # the version that failed; skipped until the alias moves
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shipyard-reload",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def check(self, force: bool = False) -> dict:
        """Look at the alias now; load and swap if it moved. Returns what happened."""
        with self._lock:  # the admin route and the thread may both ask
            return self._check(force)

    def _check(self, force: bool) -> dict:
        self.last_check = _now()
        current = self.state.engine.card.version
        try:
            wanted = self.source.version()
        except Exception as exc:  # the registry is down: keep serving, say so
            return self._failure(None, f"cannot reach the registry: {exc}")
        if wanted is None:
            return self._failure(None, "the registry has no champion")
        if wanted == current:
            self._failed = None
            self.last_error = None
            return {"ok": True, "version": current, "changed": False}
        if wanted == self._failed and not force:
            return {"ok": False, "version": current, "changed": False, **(self.last_error or {})}
        started = time.perf_counter()
        try:
            engine = engine_for(self.source.load(wanted), self.state.settings.fast_path)
        except Exception as exc:
            self._failed = wanted
            self.state.metrics.count("reload_failures")
            return self._failure(wanted, str(exc).splitlines()[0] if str(exc) else repr(exc))
        self.state.swap(engine)
        self._failed = None
        self.last_error = None
        return {"ok": True, "version": wanted, "previous": current, "changed": True,
                "seconds": round(time.perf_counter() - started, 3)}

    def _failure(self, version: str | None, message: str) -> dict:
        log.error("champion reload: %s%s; still serving version %s",
                  f"version {version}: " if version else "", message,
                  self.state.engine.card.version)
        self.last_error = {"error": message, "version": version, "at": _now()}
        return {"ok": False, "version": self.state.engine.card.version, "changed": False,
                **self.last_error}

    def describe(self) -> dict:
        return {"interval_s": self.interval, "last_check": self.last_check,
                "last_error": self.last_error}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
