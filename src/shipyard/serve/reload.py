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
        self._companion_failed: dict[str, str | None] = {}  # key -> its version that failed
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
            return self._follow_companions() or {"ok": True, "version": current,
                                                 "changed": False}
        if wanted == self._failed and not force:
            return {"ok": False, "version": current, "changed": False, **(self.last_error or {})}
        started = time.perf_counter()
        try:
            engine = engine_for(self.source.load(wanted), self.state.settings.fast_path,
                                self.state.companions)
        except Exception as exc:
            self._failed = wanted
            self.state.metrics.count("reload_failures")
            return self._failure(wanted, str(exc).splitlines()[0] if str(exc) else repr(exc))
        self.state.swap(engine)
        self._failed = None
        self.last_error = None
        return {"ok": True, "version": wanted, "previous": current, "changed": True,
                "seconds": round(time.perf_counter() - started, 3)}

    def _follow_companions(self) -> dict | None:
        """Serve each companion's new champion (serve.companions), if one moved; the
        served version stays. A companion that fails to load keeps its old version."""
        from shipyard.serve import companions

        state, changed, problems = self.state, [], []
        fresh = list(state.companions)
        for i, companion in enumerate(state.companions):
            key, wanted = companion.key, None
            try:
                wanted = companion.source.version() if companion.source else None
                if wanted is None or wanted in (companion.card.version,
                                                self._companion_failed.get(key)):
                    continue
                fresh[i] = companions.on_version(companion, wanted)
            except Exception as exc:
                self._companion_failed[key] = wanted
                problems.append(f"companion {key} version {wanted}: "
                                f"{str(exc).splitlines()[0] if str(exc) else repr(exc)}")
                continue
            self._companion_failed.pop(key, None)
            changed.append(f"{key} {companion.card.version} -> {wanted}")
        if problems:
            log.error("companion reload: %s; it keeps serving as it was", "; ".join(problems))
        if not changed:
            return None
        try:
            engine = engine_for(state.engine.model, state.settings.fast_path, tuple(fresh))
        except Exception as exc:
            log.error("companion reload: %s; serving the companions as they were", exc)
            return None
        state.companions = tuple(fresh)
        state.swap(engine)
        log.info("companions now served: %s", ", ".join(changed))
        return {"ok": True, "version": engine.card.version, "changed": False,
                "companions": changed}

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
