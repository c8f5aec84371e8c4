"""The optional parts of a served project: API keys and alert rules."""

from __future__ import annotations


def build(project, workspace, model):
    """(keys, alert sink, extra routes) for ``project``. Keys are always loaded
    (admin routes need them); alerts only when the project file declares rules.
    Raises a :class:`~shipyard.errors.ShipyardError` for bad keys or rules."""
    from shipyard.serve import alerts, auth

    keys = auth.Keys.load(project.serve.auth, project.root)
    if not project.serve.alerts:
        return keys, None, []
    rules = alerts.Rules.compile(list(project.serve.alerts), model.card)
    store = alerts.AlertStore(workspace.root / "alerts.db")
    sink = alerts.AlertSink(rules, store, model.card)
    return keys, sink, alerts.routes(store, keys)
