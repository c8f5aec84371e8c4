"""Prediction alerts: rules from the ``serve.alerts`` section, a SQLite store of
the alerts raised, a background sink that records them and posts them to
webhooks, and the HTTP routes to list and acknowledge them.

The prediction path only calls :meth:`AlertSink.submit`, which puts the batch on
a bounded queue and returns; matching, storing and delivery happen on the
sink's own thread, so a slow disk or a dead webhook never slows predictions.
"""

from shipyard.serve.alerts.routes import MAX_LIMIT, routes
from shipyard.serve.alerts.rules import AlertConfigError, Rule, Rules, fields
from shipyard.serve.alerts.sink import AlertSink, post
from shipyard.serve.alerts.store import AlertStore, Record

__all__ = ["MAX_LIMIT", "AlertConfigError", "AlertSink", "AlertStore", "Record", "Rule", "Rules",
           "fields", "post", "routes"]
