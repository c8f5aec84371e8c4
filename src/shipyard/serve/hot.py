"""The prediction routes as a bare ASGI handler: this is where the time goes.

Per request: check the key and the content type, read the body, decode it
(orjson), validate it into typed columns, queue it for the batcher, encode the
answer. Anything else is passed to the Starlette app behind.

Every answer carries an ``x-request-id`` header: the client's ``X-Request-ID``
when it is a safe token, else a random one. With a prediction log, each
``/predict`` item also carries ``request_id`` (``<id>-<row>``), the id under
which the row is logged and under which ``POST /feedback`` takes its true label.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time

import orjson
from starlette.routing import Match

from shipyard.serve import formats, inputs, predict, responses
from shipyard.serve.batching import Overloaded
from shipyard.serve.history.store import HistoryConflict, HistoryUnavailable
from shipyard.serve.inputs import InputError

log = logging.getLogger("shipyard.serve")

ROUTES = {"/predict": "predict", "/invocations": "invocations"}
UNMATCHED = "unmatched"  # the route label of a request for a path no route serves
THREAD_BYTES = 64 * 1024  # bodies above this are decoded off the event loop
_JSON_HEADERS = [(b"content-type", b"application/json")]
_SAFE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # safe in logs, URLs and headers
_ids = random.Random()  # seeded from os.urandom; 64 random bits: a repeat is 1 in 2**64
os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not repeat its parent's


class HotPath:
    """ASGI app: ``POST /predict`` and ``POST /invocations`` here, all else to ``rest``."""

    def __init__(self, state, rest):
        self.state = state
        self.rest = rest

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.rest(scope, receive, send)
            return
        if scope["method"] == "POST":
            route = ROUTES.get(scope["path"])
            if route is not None:
                await self.predict(route, scope, receive, send)
                return
        await self.counted(scope, receive, send)

    async def counted(self, scope, receive, send) -> None:
        """Any other request, counted under its route's path (without the leading
        slash) or, for a path no route serves, under ``unmatched``: the label's
        values are bounded by the routes, whatever clients ask for."""
        started, status = time.perf_counter(), 500

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.rest(scope, receive, sending)
        finally:
            self.state.metrics.answered(self._route(scope), status,
                                        time.perf_counter() - started)

    def _route(self, scope) -> str:
        for route in self.rest.routes:
            if route.matches(scope)[0] != Match.NONE:
                return ROUTES.get(route.path) or route.path.lstrip("/")
        return UNMATCHED

    async def predict(self, route: str, scope, receive, send) -> None:
        started = time.perf_counter()
        state = self.state
        engine = state.engine  # this request finishes on this version, whatever happens
        headers = _JSON_HEADERS
        rows = items = base = scores = None
        try:
            base, media = _check_headers(state, scope["headers"], route)
            body = await read_body(receive, state.settings.max_body_bytes, scope["headers"])
            if len(body) > THREAD_BYTES:
                rows, batch = await asyncio.to_thread(_decode, state, engine, route, body,
                                                      media)
            else:
                rows, batch = _decode(state, engine, route, body, media)
            scores = await state.batcher.score(engine, batch)
            items = predict.items(engine.card, scores)
            if state.log is not None:
                base = base or _new_id()
                if route == "predict":
                    for i, item in enumerate(items):
                        item["request_id"] = f"{base}-{i}"
            content = _encode(engine.card, route, items)
            status = 200
        except InputError as exc:
            status = exc.status
            content = _error(route, status, exc.headline, exc.problems)
            if status == 401:
                headers = [*_JSON_HEADERS, (b"www-authenticate", b"Bearer")]
        except HistoryConflict as exc:
            status = 409
            content = _error(route, status, str(exc).splitlines()[0])
        except HistoryUnavailable as exc:
            status = 503
            state.metrics.count("history_failures")
            log.error("%s", exc)
            content = _error(route, status, str(exc).splitlines()[0], list(exc.details))
            headers = [*_JSON_HEADERS, (b"retry-after", b"1")]
        except Overloaded as exc:
            status = 503
            state.metrics.count("shed")
            content = _error(route, status, str(exc))
            headers = [*_JSON_HEADERS, (b"retry-after", str(exc.retry_after).encode())]
        except Exception:
            log.exception("prediction failed (model %s version %s)",
                          engine.card.name, engine.card.version)
            status = 500
            content = _error(route, status, "internal error: the model failed on this "
                                            "request; the server log has details")
        base = base or _new_id()
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"x-request-id", base.encode()),
                                (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})
        elapsed = time.perf_counter() - started
        state.metrics.answered(route, status, elapsed)
        if items is not None:
            if state.log is not None:
                state.log.submit(base, time.time() - elapsed, engine.card.version, rows, items,
                                 elapsed, engine.card.private)
            if state.alerts is not None:
                state.alerts.submit(rows, items, engine.model, scores.features)


def _decode(state, engine, route: str, body: bytes, media: str = responses.JSON):
    max_rows = state.settings.max_rows
    schema = engine.card.schema
    if route == "invocations":
        if media == CSV:  # only /invocations takes it, as MLflow's server does
            rows = formats.csv_rows(body, schema, max_rows)
        else:
            rows = formats.mlflow_rows(inputs.parse(body, constants=True), schema, max_rows)
        rows = formats.known_columns(rows, engine.expected)
    else:
        rows = inputs.rows_of(inputs.parse(body), max_rows)
    return rows, inputs.checked(rows, schema, engine.extra, engine.required)


# MLflow's scoring server answers errors as {"error_code", "message"}, with these codes.
MLFLOW_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                409: "INVALID_STATE", 413: "BAD_REQUEST", 415: "BAD_REQUEST",
                422: "INVALID_PARAMETER_VALUE", 500: "INTERNAL_ERROR",
                503: "TEMPORARILY_UNAVAILABLE"}


def _error(route: str, status: int, headline: str, details: list | None = None) -> bytes:
    """An error body: Shipyard's {"error", "details"} on /predict, MLflow's
    {"error_code", "message"} on /invocations. The message is the headline, one line
    that names the first problem and how many there are (details may echo a client's
    column names, newlines and all)."""
    if route != "invocations":
        return responses.dumps({"error": headline, "details": details or []})
    return responses.dumps({"error_code": MLFLOW_CODES.get(status, "BAD_REQUEST"),
                            "message": headline})


def _encode(card, route: str, items: list[dict]) -> bytes:
    if route == "invocations":  # MLflow's answer shape: one prediction per row
        return orjson.dumps({"predictions": [item["prediction"] for item in items]})
    return responses.encode(card, items)


def _new_id() -> str:
    # Milliseconds first, then 64 random bits: ids made later sort later, so the
    # prediction log's primary key grows at its end. Random ids sent every insert to
    # a random page of the index: with millions of rows logged, an insert took ~100 µs
    # (~50 µs of CPU) against ~10 µs in time order.
    return f"{time.time_ns() // 1_000_000:011x}{_ids.getrandbits(64):016x}"


def _check_headers(state, headers, route: str = "predict") -> tuple[str | None, str]:
    """Refuse a missing key or a wrong content type; the client's X-Request-ID if
    it is a safe token (letters, digits and ._:- , at most 64), and the body's media
    type (JSON, or CSV on /invocations)."""
    if state.keys is not None:
        denial = state.keys.check(headers, admin=False)
        if denial is not None:
            raise InputError(*denial)
    content_type = request_id = None
    for name, value in headers:
        if name == b"content-type":
            if content_type is None:
                content_type = value
        elif name == b"x-request-id":
            request_id = value
    if content_type is None:
        raise InputError(415, "missing Content-Type: send the body as application/json")
    media = check_content_type(content_type.decode("latin-1"),
                               csv=route == "invocations")
    if request_id is not None and _SAFE_ID.fullmatch(request_id):
        return request_id.decode(), media
    return None, media


CSV = "text/csv"


def check_content_type(header: str, csv: bool = False) -> str:
    """The body's media type, JSON (or, with ``csv``, CSV); 415 for anything else."""
    if header == "application/json":  # the common case, without splitting
        return responses.JSON
    media, *params = (part.strip().lower() for part in header.split(";"))
    if media != responses.JSON and not (csv and media == CSV):
        also = " or text/csv" if csv else ""
        raise InputError(415, f"unsupported Content-Type {header!r}: send application/json"
                              f"{also}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise InputError(415, f"unsupported charset in {header!r}: the body must be utf-8")
        if csv and name.strip() == "format":  # refused as MLflow 2 and later refuse it
            raise InputError(415, f"{param!r} in the Content-Type is MLflow 1's scoring "
                                  "protocol: send application/json with the body under "
                                  "dataframe_split, dataframe_records, instances or inputs")
    return media


async def read_body(receive, limit: int, headers) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit``:
    from Content-Length before reading, else from the bytes actually received."""
    for name, value in headers:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise InputError(413, f"request body too large: {int(value)} bytes, at most {limit}")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InputError(400, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise InputError(413, f"request body too large: over {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
