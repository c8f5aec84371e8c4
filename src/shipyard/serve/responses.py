"""The JSON the server answers with, for success and for every error.

Success: ``{"model": {"name", "version"}, "predictions": [item, ...]}``.
Error: ``{"error": "<one line>", "details": [{"message": ..., ...}, ...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from shipyard.card import ModelCard

JSON = "application/json"


def model_info(card: ModelCard) -> dict[str, Any]:
    return {"name": card.name, "version": card.version}


def encode(card: ModelCard, items: list[dict[str, Any]]) -> bytes:
    """The body of a successful ``/predict`` answer."""
    # Scores were checked finite before (engine.finite): orjson would write NaN as null.
    return dumps({"model": model_info(card), "predictions": items})


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def json_response(data: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, headers=headers, media_type=JSON)


def error_response(status: int, message: str, details: list[dict[str, Any]] | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    """An error answer; ``message`` is one line saying what was wrong."""
    return json_response({"error": message, "details": details or []}, status, headers)
