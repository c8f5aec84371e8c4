"""Monitoring: the prediction log, drift, live performance and data quality.

:func:`check` runs one pass over the latest window of the prediction log
against the champion's reference and saves it in the log's store, where the
report, the dashboard and the retraining policy find it.
"""

from __future__ import annotations

from shipyard.monitor.passes import Pass

__all__ = ["Pass", "check"]


def check(project, workspace, store=None, model=None, save: bool = True) -> Pass:
    """One monitoring pass for ``project``'s champion (``model`` when given) over the
    last ``monitor.window`` logged predictions. Ground truth from
    ``monitor.outcomes`` is joined first; when the join cannot be made (a broken
    outcomes query, a key the logged rows lack) the pass says why in its notes and
    goes on with drift. The pass is saved unless ``save`` is False."""
    from shipyard import registry
    from shipyard.monitor import passes
    from shipyard.monitor.store import LogStore

    model = model or registry.load(workspace, project.name)
    own = store is None
    store = store or LogStore.of(project, workspace)
    try:
        unjoined = None
        if project.monitor.outcomes is not None:
            from shipyard.errors import SourceError
            from shipyard.monitor import outcomes

            try:
                outcomes.join(project, store, card=model.card, last=project.monitor.window)
            except (outcomes.OutcomesError, SourceError) as exc:
                # Drift needs no labels: a join that cannot be made is said, not fatal.
                why = " ".join([exc.headline, *exc.details[:1]]).replace("\n", " ")
                unjoined = f"outcomes not joined: {why}"
        logged = store.predictions(last=project.monitor.window, version=model.card.version)
        result = passes.run(project, model, logged)
        if unjoined:
            result.notes.insert(0, unjoined)
        if save:
            store.save_pass(result.to_dict())
        return result
    finally:
        if own:
            store.close()
