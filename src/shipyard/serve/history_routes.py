"""``POST /history`` (admin key): backfill readings into the history store without
scoring them; ``GET /history/{entity}``: what the store keeps for an entity.

A backfill takes the body ``/predict`` takes (one reading or a list) and follows
the same rules: a reading already stored is counted, not stored twice; one with
the same time but other values, or older than the history kept, is refused (409)
and then nothing of the body is stored. A 200 means the readings are on disk.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.serve import hot, inputs, responses
from shipyard.serve.history import HistoryConflict, HistoryUnavailable, entity_key
from shipyard.serve.inputs import InputError


async def backfill(request: Request) -> Response:
    from shipyard.serve.app import _deny

    denied = _deny(request, admin=True)
    if denied is not None:
        return denied
    state = request.app.state.shipyard
    engine = state.engine
    if engine.history is None:
        return responses.error_response(
            409, "the served model has no series features: it keeps no history")
    try:
        hot.check_content_type(request.headers.get("content-type", ""))
        body = await hot.read_body(request.receive, state.settings.max_body_bytes,
                                   request.scope["headers"])
        rows = inputs.rows_of(inputs.parse(body), state.settings.max_rows)
        batch = inputs.validate(rows, engine.card.schema, engine.extra, engine.required)
        history = engine.history
        readings = history.readings(batch)
        stored, known = await run_in_threadpool(history.store.add, readings, history.need,
                                                history.keep)
    except InputError as exc:
        return responses.error_response(exc.status, exc.headline, exc.problems)
    except HistoryConflict as exc:
        return responses.error_response(409, exc.headline)
    except HistoryUnavailable as exc:
        return responses.error_response(503, exc.headline, [{"message": d} for d in exc.details],
                                        headers={"Retry-After": "1"})
    return responses.json_response({"stored": stored, "already_stored": known,
                                    "entities": len({r[0] for r in readings})})


async def readings(request: Request) -> Response:
    from shipyard.serve.app import _deny

    denied = _deny(request, admin=False)
    if denied is not None:
        return denied
    engine = request.app.state.shipyard.engine
    if engine.history is None:
        return responses.error_response(
            409, "the served model has no series features: it keeps no history")
    entity = entity_key(request.path_params["entity"])
    try:
        rows = await run_in_threadpool(engine.history.store.rows, entity)
    except HistoryUnavailable as exc:
        return responses.error_response(503, exc.headline, headers={"Retry-After": "1"})
    if not rows:
        return responses.error_response(404, f"no readings stored for entity {entity!r}")
    return responses.json_response({
        "entity": entity, "kept": len(rows), "readings": rows[-1].pos + 1,
        "oldest_time": rows[0].t, "newest_time": rows[-1].t,
        "history_rows": engine.history.need, "retention": engine.history.keep})
