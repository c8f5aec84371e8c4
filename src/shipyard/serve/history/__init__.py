"""Entity state for serving: each entity's recent readings, kept by the server, so
that a client sends only the new reading of a model with series features."""

from __future__ import annotations

import logging
from dataclasses import replace

from shipyard.serve.history.scorer import DEFAULT_RETENTION, Stateful, entity_key, series_step
from shipyard.serve.history.store import HistoryConflict, HistoryStore, HistoryUnavailable

log = logging.getLogger("shipyard.serve")

__all__ = ["Service", "DEFAULT_RETENTION", "HistoryConflict", "HistoryStore", "HistoryUnavailable",
           "Stateful", "entity_key", "series_step", "stateful", "url_of"]


def stateful(engine, store: HistoryStore | None, retention: int | None = None):
    """``engine`` scoring readings from ``store`` when its model has a series step
    (else ``engine`` as it is)."""
    if store is None or series_step(engine.model.pipeline) is None:
        return engine
    history = Stateful(engine.model, store, retention, fast=engine.fast)
    if engine.companions:
        from shipyard.serve.companions import check

        check(engine.companions, engine.card, history)
        history.companions = engine.companions
    return replace(engine, score=history.score, history=history)


def url_of(project, workspace) -> str:
    """``serve.history.store``, relative SQLite paths anchored at the project file's
    folder; by default ``history.db`` in the workspace."""
    import sqlalchemy as sa

    url = project.serve.history.store
    if url is None:
        return f"sqlite:///{workspace.root / 'history.db'}"
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return parsed.set(database=str(project.resolve(parsed.database))).render_as_string(
            hide_password=False)
    return url


class Service:
    """What a server does with entity state: wrap each version's engine, and warm
    the store for it (``warm``: a function of the Stateful, or None)."""

    def __init__(self, store: HistoryStore, retention: int | None = None, warm=None):
        self.store, self.retention, self.warm = store, retention, warm
        self.last_warm: dict | None = None

    def wrap(self, engine):
        wrapped = stateful(engine, self.store, self.retention)
        if wrapped.history is not None and self.warm is not None:
            try:
                self.last_warm = {"ok": True, "added": self.warm(wrapped.history)}
            except Exception as exc:  # a warm start that fails must not stop serving
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.last_warm = {"ok": False, "error": f"warm start failed: {first}"}
                log.warning("history store: %s", self.last_warm["error"])
        return wrapped

    def close(self) -> None:
        self.store.close()
