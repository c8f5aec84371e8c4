"""The live dashboard's routes: ``GET /dashboard`` (the page) and ``GET
/dashboard/data`` (what it draws, as JSON).

The page is a static shell with no data in it, so it is served to anyone; the
data is guarded like the other read routes (``/model``): open unless the
predict routes are keyed, else an API key or the admin key. The page asks for
the key when the data route refuses it and sends it as ``X-API-Key``.

The data is built from the prediction log (passes, decisions, traffic), the
server's state (the champion, the versions it served) and the registry's
version history, at most once every ``cache_s`` seconds however many browsers
poll, on a worker thread so the event loop never waits on the databases.
"""

from __future__ import annotations

import logging
import threading
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shipyard.monitor import dashboard
from shipyard.serve import responses
from shipyard.serve.app import _deny

log = logging.getLogger("shipyard.serve")
CACHE_S = 2.0  # several browsers poll every few seconds; the log is read once per this
REGISTRY_CACHE_S = 10.0  # the version history costs a registry query per version
WINDOW_S = 3600.0  # the traffic charts show this much of the recent past...
BUCKET_S = 60.0  # ...in buckets of this many seconds
NO_STORE = {"Cache-Control": "no-store"}


def routes(store, workspace=None, project_name: str | None = None, *,
           drift_share: float | None = None, window_s: float = WINDOW_S,
           bucket_s: float = BUCKET_S, cache_s: float = CACHE_S) -> list[Route]:
    """The dashboard's routes over ``store`` (a :class:`~shipyard.monitor.store.LogStore`).
    ``workspace`` (or None) gives the registry's version history; ``project_name``
    defaults to the served model's name; ``drift_share`` (the project's
    ``monitor.drift.share``) draws the dataset-drift line."""
    view = _Dashboard(store, workspace, project_name, drift_share, window_s, bucket_s, cache_s)
    return [Route("/dashboard", view.page, methods=["GET"]),
            Route("/dashboard/data", view.data, methods=["GET"])]


class _Dashboard:
    def __init__(self, store, workspace, project_name, drift_share, window_s, bucket_s,
                 cache_s):
        self.store, self.workspace, self.project_name = store, workspace, project_name
        self.drift_share, self.window_s, self.bucket_s = drift_share, window_s, bucket_s
        self.cache_s = cache_s
        self._lock = threading.Lock()  # one build at a time; the others wait and share it
        self._body: bytes | None = None
        self._built = (-float("inf"), None)  # (monotonic time, champion version)
        self._versions: list[dict] = []
        self._versions_at = -float("inf")

    async def page(self, request: Request) -> Response:
        name = self.project_name or request.app.state.shipyard.engine.card.name
        return HTMLResponse(dashboard.page(name), headers=NO_STORE)

    async def data(self, request: Request) -> Response:
        denied = _deny(request, admin=False)
        if denied is not None:
            return denied
        body = await run_in_threadpool(self._payload, request.app.state.shipyard)
        return Response(body, media_type=responses.JSON, headers=NO_STORE)

    def _payload(self, state) -> bytes:
        with self._lock:
            at, version = self._built
            if self._body is not None and time.monotonic() - at < self.cache_s \
                    and version == state.engine.card.version:
                return self._body
            self._body = responses.dumps(self._build(state))
            self._built = (time.monotonic(), state.engine.card.version)
            return self._body

    def _build(self, state) -> dict:
        card = state.engine.card
        name = self.project_name or card.name
        now = time.time()
        errors: list[str] = []
        if state.monitoring is not None and state.monitoring.last_error:
            errors.append(f"the latest monitoring pass failed: {state.monitoring.last_error}")
        passes = self._read(lambda: self.store.passes(), [], "monitoring passes", errors)
        decisions = self._read(lambda: self.store.decisions(), [], "retraining decisions",
                               errors)
        traffic = self._read(lambda: self.store.traffic(since=now - self.window_s,
                                                        bucket_s=self.bucket_s),
                             None, "traffic", errors)
        champion = {"name": card.name, "version": card.version, "run_id": card.run_id,
                    "task": card.task, "estimator": card.estimator,
                    "metrics": dict(card.metrics), **state.engine.describe()}
        return dashboard.data(name, passes, decisions, traffic, champion=champion,
                              served=list(state.history), versions=self._registry(name, errors),
                              bucket_s=self.bucket_s, drift_share=self.drift_share, now=now,
                              errors=errors)

    def _read(self, read, default, what: str, errors: list[str]):
        try:
            return read()
        except Exception as exc:  # a store that is down leaves the rest of the page working
            log.warning("dashboard: cannot read %s: %s", what, exc)
            errors.append(f"cannot read the {what}: {str(exc).splitlines()[0][:200]}")
            return default

    def _registry(self, name: str, errors: list[str]) -> list[dict]:
        if self.workspace is None:
            return []
        if time.monotonic() - self._versions_at >= REGISTRY_CACHE_S:
            from shipyard import registry

            found = self._read(lambda: registry.versions(self.workspace, name), None,
                               "registry's versions", errors)
            if found is not None:
                self._versions, self._versions_at = found, time.monotonic()
        return self._versions
