"""The HTTP app: a raw ASGI hot path for predictions, Starlette for the rest.

``POST /predict`` and ``POST /invocations`` run on a hand-written ASGI handler
(:mod:`shipyard.serve.hot`): Starlette's request objects and routing cost more
than the model does on the fast path. Every other route is a Starlette app.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.card import LoadedModel
from shipyard.serve import feedback, history_routes, openapi, responses
from shipyard.serve.batching import Batcher
from shipyard.serve.engine import Engine, engine_for
from shipyard.serve.hot import HotPath
from shipyard.serve.metrics import CONTENT_TYPE, Metrics
from shipyard.serve.predict import plain
from shipyard.spec import Serve

log = logging.getLogger("shipyard.serve")


@dataclass
class State:
    """What the routes share. ``engine`` is replaced as a whole when the champion
    changes; a request reads it once, so it finishes on the version it began with."""

    engine: Engine
    settings: Serve
    batcher: Batcher
    metrics: Metrics
    keys: Any = None  # shipyard.serve.auth.Keys; None: everything open, admin routes off
    alerts: Any = None  # shipyard.serve.alerts.AlertSink
    log: Any = None  # shipyard.serve.log.PredictionLog; None: predictions are not logged
    monitoring: Any = None  # shipyard.serve.monitoring.Monitoring: passes and their gauges
    watcher: Any = None  # shipyard.serve.reload.Watcher
    entities: Any = None  # shipyard.serve.history.Service: readings scored from history
    companions: tuple = ()  # shipyard.serve.companions.Companion, kept across new versions
    history: list[dict] = field(default_factory=list)  # versions served, newest last

    @property
    def model(self) -> LoadedModel:
        return self.engine.model

    def swap(self, engine: Engine) -> None:
        if self.entities is not None and not engine.stateful:
            engine = self.entities.wrap(engine)  # and warm its history first
        old = self.engine
        self.engine = engine
        self.metrics.set_version(engine.card.version)
        self.history.append(_served(engine))
        if self.alerts is not None:  # alerts name the version that raised them
            self.alerts.card = engine.card
        log.info("now serving version %s (was %s) on the %s path",
                 engine.card.version, old.card.version, engine.path)
        del old
        if gc.get_freeze_count():  # a worker that froze its heap (see settle_memory)
            # Frozen objects are never collected: unfreeze so the old version can go,
            # once (one full collection per new version), then freeze the new one.
            gc.unfreeze()
            settle_memory()


def settle_memory() -> None:
    """Collect once, then move everything alive (the libraries, the model) out of the
    garbage collector's sight, as a serving process should after start-up.

    A full collection walks every tracked object; with MLflow, scikit-learn and a
    model loaded that took ~250 ms, holding the GIL: every request in flight
    stalled (the serving benchmark's p99 at 16 connections went from ~5 ms to
    ~300 ms, a stall every few seconds as the prediction log's rows came and went).
    Frozen, the old objects cost a collection nothing."""
    gc.collect()
    gc.freeze()


def create_app(model: LoadedModel, *, settings: Serve | None = None,
               max_rows: int | None = None, max_body_bytes: int | None = None,
               source=None, keys=None, alerts=None, log=None, entities=None,
               companions: tuple = (), extra_routes: list | None = None):
    """The ASGI app that serves ``model`` with ``settings`` (the project file's
    ``serve`` section). ``source`` (see :mod:`shipyard.serve.reload`) lets the
    app follow the registry's champion alias; ``keys`` guards routes; ``alerts``
    receives every prediction; ``log`` (a :class:`~shipyard.serve.log.PredictionLog`)
    records them, gives them ids and takes their true labels at ``POST /feedback``;
    ``entities`` (a :class:`~shipyard.serve.history.Service`) keeps each entity's
    readings, so a model with series features answers one new reading at a time.
    ``companions`` (see :mod:`shipyard.serve.companions`) answer every row too.
    The app closes ``log`` and ``entities`` when it stops."""
    settings = settings or Serve()
    updates = {k: v for k, v in (("max_rows", max_rows), ("max_body_bytes", max_body_bytes))
               if v is not None}
    if any(v < 1 for v in updates.values()):
        raise ValueError(f"max_rows and max_body_bytes must be >= 1, got {updates}")
    settings = settings.model_copy(update=updates)
    metrics = Metrics()
    engine = engine_for(model, settings.fast_path, companions)
    if entities is not None:
        engine = entities.wrap(engine)
    batcher = Batcher(settings.batching, on_batch=metrics.batch)
    state = State(engine, settings, batcher, metrics, keys=keys, alerts=alerts, log=log,
                  entities=entities, companions=companions)
    metrics.set_version(engine.card.version)
    metrics.log = log
    state.history.append(_served(engine))
    if source is not None and settings.reload_interval > 0:
        from shipyard.serve.reload import Watcher

        state.watcher = Watcher(source, state, settings.reload_interval)
    rest = Starlette(
        routes=[
            Route("/predict", _hot_only, methods=["POST"]),
            Route("/invocations", _hot_only, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ping", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/model", model_endpoint, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
            Route("/admin/reload", reload_endpoint, methods=["POST"]),
            *([Route("/feedback", feedback.endpoint, methods=["POST"])] if log else []),
            *([Route("/history", history_routes.backfill, methods=["POST"]),
               Route("/history/{entity}", history_routes.readings, methods=["GET"])]
              if entities is not None else []),
            *(extra_routes or []),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=_lifespan,
    )
    rest.state.shipyard = state
    return HotPath(state, rest)


def _served(engine: Engine) -> dict:
    return {"version": engine.card.version, "run_id": engine.card.run_id, "path": engine.path,
            **({"note": engine.note} if engine.note else {})}


class _lifespan:
    """Start the champion watcher with the server; stop it, the alert sender and
    the scoring thread when the server stops."""

    def __init__(self, app: Starlette):
        self.state: State = app.state.shipyard

    async def __aenter__(self) -> None:
        if self.state.watcher is not None:
            self.state.watcher.start()
        if self.state.monitoring is not None:
            self.state.monitoring.start()

    async def __aexit__(self, *exc) -> None:
        shutdown(self.state)


def shutdown(state: State) -> None:
    if state.watcher is not None:
        state.watcher.stop()
    if state.monitoring is not None:
        state.monitoring.stop()
    if state.alerts is not None:
        state.alerts.close(timeout=5)
    state.batcher.close()
    if state.log is not None:  # after the batcher: every answered request is queued by now
        state.log.close(timeout=5)
    if state.entities is not None:
        state.entities.close()


def _state(request: Request) -> State:
    return request.app.state.shipyard


async def _hot_only(request: Request) -> Response:  # pragma: no cover - HotPath answers these
    raise HTTPException(500, "the prediction routes are served by the hot path")


async def health(request: Request) -> Response:
    """Liveness: the process answers (always 200). Says which model it serves and
    whether reloading, the prediction log, monitoring and the history store are
    healthy; ``degraded`` when the latest monitoring pass failed or the history
    store is failing."""
    state = _state(request)
    body = {"status": "ok", "model": responses.model_info(state.engine.card)}
    if state.watcher is not None and state.watcher.last_error:
        body["reload"] = state.watcher.last_error
    if state.log is not None:
        status = state.log.status()
        body["prediction_log"] = {key: status[key] for key in ("ok", "error", "dropped")}
    if state.monitoring is not None:
        error = state.monitoring.last_error
        body["monitoring"] = {"ok": error is None, "error": error}
        if error:
            body["status"] = "degraded"
    if state.entities is not None and state.entities.last_warm is not None \
            and not state.entities.last_warm["ok"]:
        body["history"] = {"ok": False, "error": state.entities.last_warm["error"]}
        body["status"] = "degraded"
    return responses.json_response(body)


async def ping(request: Request) -> Response:
    """MLflow's liveness check (``ScoringServerClient.wait_server_ready`` asks it)."""
    return Response("\n", media_type="text/plain")


async def version(request: Request) -> Response:
    """The MLflow version whose scoring protocol the server speaks."""
    from importlib.metadata import version as installed

    return Response(installed("mlflow"), media_type="text/plain")


async def ready(request: Request) -> Response:
    """Readiness: a verified model is loaded and the queue has room."""
    state = _state(request)
    if state.batcher.queued_rows >= state.settings.batching.queue_rows:
        return responses.error_response(503, "not ready: the scoring queue is full",
                                        headers={"Retry-After": "1"})
    return responses.json_response({"status": "ready",
                                    "model": responses.model_info(state.engine.card)})


async def model_endpoint(request: Request) -> Response:
    """The served version, how it is served, its lineage and its input schema."""
    state = _state(request)
    card = state.engine.card
    denied = _deny(request, admin=False)
    if denied is not None:
        return denied
    body = {
        "name": card.name, "version": card.version, "run_id": card.run_id,
        "task": card.task, "target": card.target, "estimator": card.estimator,
        "serving": state.engine.describe(),
        "classes": [plain(c) for c in card.classes],
        "positive_class": plain(card.positive_class), "threshold": card.threshold,
        "entity": card.entity, "holdout_metrics": card.metrics,
        "inputs": [{"name": c.name, "kind": c.kind} for c in card.schema.columns],
        "required": list(state.engine.required),
        "history": state.history[-20:],
    }
    if state.watcher is not None:
        body["reload"] = state.watcher.describe()
    return responses.json_response(body)


async def metrics_endpoint(request: Request) -> Response:
    state = _state(request)
    if state.alerts is not None:
        state.metrics.alert_counters(state.alerts)
    body = state.metrics.exposition()
    if state.monitoring is not None:  # the latest pass's drift scores and live metrics
        from starlette.concurrency import run_in_threadpool

        body += await run_in_threadpool(state.monitoring.exposition)
    return Response(body, media_type=CONTENT_TYPE)


async def openapi_endpoint(request: Request) -> Response:
    state = _state(request)
    doc = openapi.document(state.engine.card, max_rows=state.settings.max_rows,
                           max_body_bytes=state.settings.max_body_bytes,
                           alerts=state.alerts is not None, feedback=state.log is not None,
                           history=state.engine.history.describe()
                           if state.engine.history is not None else None,
                           companions={c.key: c.card for c in state.companions},
                           dashboard=any(getattr(r, "path", None) == "/dashboard"
                                         for r in request.app.routes))
    return responses.json_response(doc)


async def reload_endpoint(request: Request) -> Response:
    """Admin: check the registry's champion now instead of at the next interval."""
    denied = _deny(request, admin=True)
    if denied is not None:
        return denied
    state = _state(request)
    if state.watcher is None:
        return responses.error_response(409, "this server does not follow a registry; "
                                             "nothing to reload")
    from starlette.concurrency import run_in_threadpool

    outcome = await run_in_threadpool(state.watcher.check)
    status = 200 if outcome.get("ok") else 409
    return responses.json_response(outcome, status)


def _deny(request: Request, admin: bool) -> Response | None:
    keys = _state(request).keys
    if keys is None:
        if admin:
            return responses.error_response(
                403, "admin routes are disabled: no admin key configured")
        return None
    denial = keys.check(request.scope["headers"], admin=admin)
    if denial is None:
        return None
    status, message = denial
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return responses.error_response(status, message, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method) as JSON."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - Starlette only passes these
        raise exc
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        message = f"no route for {where}; routes: {_routes(request)}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "").split(", ")
        message = f"method not allowed: {where}; allowed: {', '.join(sorted(allowed))}"
    else:
        message = f"{where}: {exc.detail}"
    return responses.error_response(exc.status_code, message, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    # Starlette logs and re-raises after this answer, so uvicorn prints the traceback.
    return responses.error_response(500, "internal error: the server log has details")


def _routes(request: Request) -> str:
    found: list[str] = []
    for route in request.app.routes:
        methods = sorted((getattr(route, "methods", None) or set()) - {"HEAD"})
        found.append(f"{'/'.join(methods)} {route.path}")
    return ", ".join(found)
