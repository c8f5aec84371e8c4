"""``POST /feedback``: true labels for served predictions, by request id.

Body: ``{"feedback": [{"request_id": "...", "label": ...}, ...]}``, at most
``max_rows`` items. All or nothing: a label of the wrong kind is refused (422,
naming the item), an id the log does not know (404, listing them), a label that
contradicts one already given (409); the same label again is fine. A 200 is
sent only once the labels are committed to disk.

Ids are known once their prediction is written: this process's queued
predictions are written first; another worker's are written within about
``interval_s`` (0.2 s) of their answer, so feedback sent later than that finds them.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.monitor import labels
from shipyard.monitor.store import FeedbackError, StoreError
from shipyard.serve import hot, inputs, responses
from shipyard.serve.inputs import InputError

FLUSH_S = 2.0  # how long to wait for this process's queued predictions to be written
MAX_DETAILS = 20
MAX_ID = 200  # characters in a request id (the column's width)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # what the server gives: <X-Request-ID>-<row>
_ID = re.compile(ID_PATTERN)


async def endpoint(request: Request) -> Response:
    state = request.app.state.shipyard
    headers = request.scope["headers"]
    try:
        if state.keys is not None:
            denial = state.keys.check(headers, admin=False)
            if denial is not None:
                raise InputError(*denial)
        content_type = next((v for k, v in headers if k == b"content-type"), None)
        if content_type is None:
            raise InputError(415, "missing Content-Type: send the body as application/json")
        hot.check_content_type(content_type.decode("latin-1"))
        body = await hot.read_body(request.receive, state.settings.max_body_bytes, headers)
        items = parse(inputs.parse(body), state.settings.max_rows)
        check = labels.checker(state.engine.card)
        stored = await run_in_threadpool(_store, state.log, items, check)
    except InputError as exc:
        extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return responses.error_response(exc.status, exc.headline, exc.problems, headers=extra)
    except FeedbackError as exc:
        return _refused(exc)
    except StoreError as exc:
        return responses.error_response(
            503, f"{exc.headline}; nothing was stored: send the feedback again later",
            [{"message": d} for d in exc.details], headers={"Retry-After": "5"})
    unique = len({rid for rid, _ in items})
    return responses.json_response({"received": len(items), "stored": stored,
                                    "unchanged": unique - stored})


def _store(log, items: list[tuple[str, Any]], check) -> int:
    log.flush(FLUSH_S)  # this worker's answered predictions first: their ids must be known
    return log.store().add_feedback(items, source="api", check=check)


def parse(payload: Any, max_rows: int) -> list[tuple[str, Any]]:
    """(request id, label) pairs from a decoded body, or a 422/413 naming the fault."""
    if not isinstance(payload, dict) or set(payload) != {"feedback"}:
        raise InputError(422, 'the body must be {"feedback": [{"request_id": "...", '
                              '"label": ...}, ...]}')
    given = payload["feedback"]
    if not isinstance(given, list):
        raise InputError(422, "'feedback' must be a list of {\"request_id\", \"label\"} objects")
    if not given:
        raise InputError(422, "empty feedback list: send at least one item")
    if len(given) > max_rows:
        raise InputError(413, f"too many feedback items: {len(given)}, at most {max_rows}")
    items, problems = [], []
    for i, item in enumerate(given):
        problem = _item_problem(item)
        if problem:
            problems.append({"message": f"feedback[{i}]: {problem}", "row": i})
        else:
            items.append((item["request_id"], item["label"]))
    if problems:
        _raise(422, problems, "invalid feedback items")
    return items


def _item_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "not an object with 'request_id' and 'label'"
    keys = set(item)
    if keys != {"request_id", "label"}:
        missing = sorted({"request_id", "label"} - keys)
        unknown = sorted(keys - {"request_id", "label"})
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
            ([f"unknown key{'s' if len(unknown) > 1 else ''} "
              f"{', '.join(map(repr, unknown))}"] if unknown else [])
        return "; ".join(parts)
    rid = item["request_id"]
    if not isinstance(rid, str) or not _ID.match(rid) or len(rid) > MAX_ID:
        return (f"request_id must be an id from a /predict answer (letters, digits and "
                f"._:- , at most {MAX_ID} characters)")
    return None


def _refused(exc: FeedbackError) -> Response:
    if exc.invalid:
        problems = [{"message": p["message"], "row": p["index"]} for p in exc.invalid]
        return responses.error_response(422, exc.headline, problems[:MAX_DETAILS])
    if exc.unknown:
        problems = [{"message": f"unknown request id {rid!r}"} for rid in exc.unknown]
        return responses.error_response(404, exc.headline, problems[:MAX_DETAILS])
    problems = [{"message": f"request id {c['request_id']!r} already has the label "
                            f"{c['label']!r}; got {c['sent']!r}"} for c in exc.conflicts]
    return responses.error_response(409, exc.headline, problems[:MAX_DETAILS])


def _raise(status: int, problems: list[dict], what: str) -> None:
    first = problems[0]["message"]
    headline = first if len(problems) == 1 else f"{len(problems)} {what}; first: {first}"
    raise InputError(status, headline, problems[:MAX_DETAILS])
