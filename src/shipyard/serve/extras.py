"""The optional parts of a served project: API keys, alert rules and the prediction log."""

from __future__ import annotations


def build(project, workspace, model, companions=()):
    """(keys, alert sink, extra routes) for ``project``. Keys are always loaded
    (admin routes need them); alerts only when the project file declares rules,
    which may name the ``companions``' answers (``anomaly.score > 0.6``).
    Raises a :class:`~shipyard.errors.ShipyardError` for bad keys or rules."""
    from shipyard.serve import alerts, auth

    keys = auth.Keys.load(project.serve.auth, project.root)
    if not project.serve.alerts:
        return keys, None, []
    rules = alerts.Rules.compile(list(project.serve.alerts), model.card,
                                 {c.key: c.card for c in companions})
    store = alerts.AlertStore(workspace.root / "alerts.db")
    sink = alerts.AlertSink(rules, store, model.card)
    return keys, sink, alerts.routes(store, keys)


def prediction_log(project, workspace):
    """The :class:`~shipyard.serve.log.PredictionLog` for ``project`` (``monitor.store``,
    by default ``predictions.db`` in the workspace), or None when ``monitor.log`` is
    false. The store is opened on the log's own thread: a store that is down does
    not keep the server from starting (``/health`` says so)."""
    if not project.monitor.log:
        return None
    from shipyard.monitor.store import url_of
    from shipyard.serve.log import PredictionLog

    return PredictionLog(url_of(project, workspace))


def monitoring(project, workspace):
    """(monitoring, dashboard routes) for a server whose predictions are logged: the
    passes run every ``monitor.interval`` seconds, and ``/dashboard`` shows them. The
    caller gives the monitoring its server's state once the app exists."""
    from shipyard.monitor.store import url_of
    from shipyard.serve import dashboard
    from shipyard.serve.monitoring import LazyStore, Monitoring

    store = LazyStore(url_of(project, workspace))
    watch = Monitoring(project, workspace, store, None, project.monitor.interval)
    return watch, dashboard.routes(store, workspace, project.name,
                                   drift_share=project.monitor.drift.share_line)


def entities(project, workspace):
    """The :class:`~shipyard.serve.history.Service` of a project with series features
    (``serve.history``), or None: its models are then served from the readings sent."""
    settings = project.serve.history
    if project.prepare.series is None or not settings.enabled:
        return None
    from functools import partial

    from shipyard.serve import history
    from shipyard.serve.history import warm

    store = history.HistoryStore(history.url_of(project, workspace))
    fill = partial(warm.from_source, project) if settings.warm_start == "from_source" else None
    return history.Service(store, settings.retention, fill)
