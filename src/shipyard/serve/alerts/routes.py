"""HTTP routes to list and acknowledge alerts."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.serve import responses
from shipyard.serve.alerts.store import AlertStore
from shipyard.serve.auth import Keys, headers_for

MAX_LIMIT = 1000


def routes(store: AlertStore, keys: Keys) -> list[Route]:
    """``GET /alerts?limit=&unacknowledged=true`` (a caller allowed to predict may
    read) and ``POST /alerts/{id}/ack`` (admin key; optional JSON body ``{"by": name}``)."""

    async def list_alerts(request: Request) -> Response:
        if denied := keys.check(request.scope["headers"], admin=False):
            return _refuse(denied)
        params = request.query_params
        limit = params.get("limit", "100")
        if not _whole(limit) or not 1 <= int(limit) <= MAX_LIMIT:
            return responses.error_response(
                400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
        flag = params.get("unacknowledged", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            return responses.error_response(
                400, f"unacknowledged must be true or false, got {flag!r}")
        found = await run_in_threadpool(store.list, int(limit), flag in ("true", "1"))
        return responses.json_response({"alerts": found})

    async def acknowledge(request: Request) -> Response:
        if denied := keys.check(request.scope["headers"], admin=True):
            return _refuse(denied)
        raw = request.path_params["id"]
        if not _whole(raw) or int(raw) > MAX_ID:
            return responses.error_response(404, f"no alert with id {raw[:40]!r}")
        by = await _ack_by(request)
        if isinstance(by, Response):
            return by
        if not await run_in_threadpool(store.acknowledge, int(raw), by):
            return responses.error_response(404, f"no alert with id {raw}")
        alert = await run_in_threadpool(store.get, int(raw))
        return responses.json_response({"alert": alert})

    return [Route("/alerts", list_alerts, methods=["GET"]),
            Route("/alerts/{id}/ack", acknowledge, methods=["POST"])]


async def _ack_by(request: Request) -> str | Response:
    """Who acknowledges: ``by`` in an optional JSON body, else "admin"."""
    body = await request.body()
    if not body.strip():
        return "admin"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return responses.error_response(400, "the body must be JSON such as {\"by\": \"ana\"}")
    by = data.get("by") if isinstance(data, dict) else None
    if not isinstance(by, str) or not 0 < len(by) <= 100:
        return responses.error_response(
            400, "expected {\"by\": \"<who, 1 to 100 characters>\"} or an empty body")
    return by


MAX_ID = 2**63 - 1  # SQLite's INTEGER


def _whole(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int`` refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 30


def _refuse(denied: tuple[int, str]) -> Response:
    status, message = denied
    return responses.error_response(status, message, headers=headers_for(status))
