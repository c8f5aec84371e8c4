"""Serving: a fitted model behind HTTP.

``create_app(model)`` builds a Starlette app with ``POST /predict`` (one row or
a list of rows, validated against the model's input schema before anything
runs), ``GET /health`` and ``GET /openapi.json`` (the real contract, generated
from the model card). ``run(app, host, port)`` serves it with uvicorn.

Every refused request gets a 4xx with ``{"error": ..., "details": [...]}``
naming what was wrong; a failing model gets a 500 and the server keeps serving.
"""

from shipyard.serve.app import create_app, run
from shipyard.serve.inputs import InputError

__all__ = ["InputError", "create_app", "run"]
