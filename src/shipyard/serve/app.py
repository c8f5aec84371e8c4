"""The HTTP app: routes, body limits, and turning failures into JSON answers."""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.card import LoadedModel
from shipyard.serve import inputs, openapi, predict, responses
from shipyard.serve.inputs import InputError

log = logging.getLogger("shipyard.serve")


def create_app(model: LoadedModel, *, max_rows: int = 10_000,
               max_body_bytes: int = 8 * 1024 * 1024) -> Starlette:
    """A Starlette app that serves ``model``: ``POST /predict``, ``GET /health``,
    ``GET /openapi.json``. Nothing runs until the first request.

    The model lives in ``app.state.model``; each request reads it once, so
    assigning a new :class:`LoadedModel` there swaps models without a restart.
    """
    if max_rows < 1 or max_body_bytes < 1:
        raise ValueError(f"max_rows and max_body_bytes must be >= 1, "
                         f"got {max_rows} and {max_body_bytes}")
    app = Starlette(
        routes=[
            Route("/predict", predict_endpoint, methods=["POST"]),
            Route("/health", health_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.model = model
    app.state.max_rows = max_rows
    app.state.max_body_bytes = max_body_bytes
    return app


def run(app: Starlette, host: str, port: int) -> None:
    """Serve ``app`` until interrupted (blocking)."""
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


async def predict_endpoint(request: Request) -> Response:
    model: LoadedModel = request.app.state.model
    try:
        check_content_type(request)
        body = await read_body(request, request.app.state.max_body_bytes)
        # Parsing, checking and the model are CPU-bound: keep them off the event loop.
        content = await run_in_threadpool(answer, model, body, request.app.state.max_rows)
    except InputError as exc:
        return responses.error_response(exc.status, exc.headline, exc.problems)
    except Exception:
        log.exception("prediction failed (model %s version %s)",
                      model.card.name, model.card.version)
        return responses.error_response(
            500, "internal error: the model failed on this request; the server log has details")
    return Response(content, media_type=responses.JSON)


def answer(model: LoadedModel, body: bytes, max_rows: int) -> bytes:
    """decode -> validate -> predict -> encode, for one request."""
    rows = inputs.rows_of(inputs.parse(body), max_rows)
    batch = inputs.validate(rows, model.card.schema)
    scores = predict.predict(model, batch)
    return responses.encode(model.card, predict.items(model.card, scores))


async def health_endpoint(request: Request) -> Response:
    card = request.app.state.model.card
    return responses.json_response({"status": "ok", "model": responses.model_info(card)})


async def openapi_endpoint(request: Request) -> Response:
    state = request.app.state
    doc = openapi.document(state.model.card, max_rows=state.max_rows,
                           max_body_bytes=state.max_body_bytes)
    return responses.json_response(doc)


def check_content_type(request: Request) -> None:
    header = request.headers.get("content-type")
    if header is None:
        raise InputError(415, "missing Content-Type: send the body as application/json")
    media, *params = (part.strip().lower() for part in header.split(";"))
    if media != responses.JSON:
        raise InputError(415, f"unsupported Content-Type {header!r}: send application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise InputError(415, f"unsupported charset in {header!r}: JSON must be utf-8")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit``:
    from Content-Length before reading, else from the bytes actually received."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InputError(413, f"request body too large: {declared} bytes, at most {limit}")
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InputError(413, f"request body too large: over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InputError(400, "the client disconnected before sending the whole body") from None
    return b"".join(chunks)


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
