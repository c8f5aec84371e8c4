"""Serving: the champion model behind HTTP.

``create_app(model, settings=...)`` builds the ASGI app: ``POST /predict`` (one
row or a list of rows) and ``POST /invocations`` (MLflow's request formats) on
a hand-written hot path with micro-batching and the ONNX fast path, and
``/health``, ``/ready``, ``/model``, ``/metrics``, ``/openapi.json`` and admin
routes on Starlette; with a prediction log (``log=``), every prediction is
recorded under a request id and ``POST /feedback`` takes the true labels.
``worker.run`` serves a project with several worker processes that follow the
registry's champion alias.

Every refused request gets a 4xx (or a 503 with Retry-After when overloaded)
with ``{"error": ..., "details": [...]}`` naming what was wrong; a failing model
gets a 500 and the server keeps serving.
"""

from shipyard.serve.app import create_app
from shipyard.serve.inputs import InputError

__all__ = ["InputError", "create_app"]
