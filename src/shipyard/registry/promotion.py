"""Moving the aliases: promotion, rollback, and the history they leave.

``champion`` is the version the server follows; ``previous`` is the one it
replaced, where a rollback goes; ``challenger`` is the latest version trained
by a retraining cycle that has not (yet) been promoted. Every move is written
on the versions' tags (who, why, when, which version replaced which), so the
history needs no other store and a rollback knows where ``previous`` goes next.

MLflow sets one alias per call, so a move is several writes. They are ordered
so that ``champion`` (the commit point) moves after the alias that keeps the
way back, and a failed write undoes the ones before it; what a process killed
between two writes can leave is at worst ``previous`` naming the champion,
which a later move repairs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from shipyard.errors import RegistryError, ShipyardError

log = logging.getLogger("shipyard.registry")

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
PROMOTED_AT, PROMOTED_BY, PROMOTION_REASON = ("shipyard.promoted_at", "shipyard.promoted_by",
                                              "shipyard.promotion_reason")
REPLACED = "shipyard.replaced"  # on a promoted version: the champion it replaced ("" if none)
REPLACED_BY, REPLACED_AT = "shipyard.replaced_by", "shipyard.replaced_at"
ROLLED_BACK_AT, ROLLED_BACK_BY, ROLLBACK_REASON, ROLLED_BACK_TO = (
    "shipyard.rolled_back_at", "shipyard.rolled_back_by", "shipyard.rollback_reason",
    "shipyard.rolled_back_to")
RESTORED_AT = "shipyard.restored_at"  # on the version a rollback made champion again
PARENT = "shipyard.parent"  # on a challenger: the champion when it was trained
GATES, OVERRIDES = "shipyard.gates", "shipyard.overrides"  # set at registration


class Change:
    """Alias and tag writes on one registered model that undo themselves, newest
    first, when a later write (or anything else in the block) fails."""

    def __init__(self, client, name: str, what: str):
        self.client, self.name, self.what = client, name, what
        self.aliases = {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def __enter__(self) -> Change:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        for step, undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # keep undoing the rest; say what could not be restored
                log.exception("%s of '%s' failed and '%s' could not be undone", self.what,
                              self.name, step)
        if isinstance(exc, ShipyardError) or not isinstance(exc, Exception):
            return False  # already a clear error, or an interrupt: let it through as it is
        raise RegistryError(f"{self.what} of '{self.name}' failed; the aliases are as they were",
                            details=[f"{type(exc).__name__}: {str(exc)[:500]}"]) from exc

    def set_alias(self, alias: str, version: str) -> None:
        before = self.aliases.get(alias)
        self.client.set_registered_model_alias(self.name, alias, version)
        self.aliases[alias] = version
        self._undo.append((f"set {alias}", lambda: self._restore(alias, before)))

    def drop_alias(self, alias: str) -> None:
        before = self.aliases.pop(alias, None)
        if before is None:
            return
        self.client.delete_registered_model_alias(self.name, alias)
        self._undo.append((f"drop {alias}", lambda: self._restore(alias, before)))

    def tag(self, version: str, tags: dict[str, str]) -> None:
        before = self.client.get_model_version(self.name, version).tags
        for key, value in tags.items():
            old = before.get(key)
            self.client.set_model_version_tag(self.name, version, key, value)
            self._undo.append((f"tag {key} of version {version}",
                               lambda key=key, old=old: self._restore_tag(version, key, old)))

    def _restore(self, alias: str, version: str | None) -> None:
        if version is None:
            self.client.delete_registered_model_alias(self.name, alias)
        else:
            self.client.set_registered_model_alias(self.name, alias, version)

    def _restore_tag(self, version: str, key: str, value: str | None) -> None:
        if value is None:
            self.client.delete_model_version_tag(self.name, version, key)
        else:
            self.client.set_model_version_tag(self.name, version, key, value)


def promote(client, name: str, version: str, reason: str, by: str) -> str | None:
    """Make ``version`` the champion and the champion it replaces ``previous``;
    returns that replaced version (None when there was no champion)."""
    _reasoned(reason)
    _exists(client, name, version)
    with Change(client, name, f"Promoting version {version}") as change:
        old = change.aliases.get(CHAMPION)
        if old == version:
            raise RegistryError(f"Version {version} of '{name}' is already the champion")
        now = _stamp()
        if old is not None:  # first the way back, then the commit point
            change.set_alias(PREVIOUS, old)
        change.set_alias(CHAMPION, version)
        if change.aliases.get(CHALLENGER) == version:
            change.drop_alias(CHALLENGER)
        change.tag(version, {PROMOTED_AT: now, PROMOTED_BY: by, PROMOTION_REASON: reason,
                             REPLACED: old or ""})
        if old is not None:
            change.tag(old, {REPLACED_BY: version, REPLACED_AT: now})
    return old


def rollback(client, name: str, reason: str, by: str) -> tuple[str, str]:
    """Move ``champion`` back to ``previous``, and ``previous`` to the version that
    one replaced when it was promoted (or drop it). Returns (from, to)."""
    _reasoned(reason)
    with Change(client, name, "Rolling back") as change:
        current, target = change.aliases.get(CHAMPION), change.aliases.get(PREVIOUS)
        if current is None:
            raise RegistryError(f"'{name}' has no champion: there is nothing to roll back")
        if target is None or target == current:
            raise RegistryError(
                f"Nothing to roll back to: '{name}' has no previous champion "
                f"(version {current} is the champion)",
                hint="`shipyard promote VERSION --reason ...` makes any version the champion")
        _exists(client, name, target)
        before = client.get_model_version(name, target).tags.get(REPLACED) or None
        now = _stamp()
        change.set_alias(CHAMPION, target)
        if before is not None and before != target:
            change.set_alias(PREVIOUS, before)
        else:
            change.drop_alias(PREVIOUS)
        change.tag(current, {ROLLED_BACK_AT: now, ROLLED_BACK_BY: by, ROLLBACK_REASON: reason,
                             ROLLED_BACK_TO: target})
        change.tag(target, {RESTORED_AT: now})
    return current, target


def since(tags: dict[str, str], created_ms: int | None) -> float | None:
    """When a version last became the champion (promoted or restored), in epoch
    seconds; its creation time when it carries no such record."""
    stamps = [float(tags[k]) for k in (PROMOTED_AT, RESTORED_AT) if tags.get(k)]
    if stamps:
        return max(stamps)
    return created_ms / 1000 if created_ms else None


def history(mv, aliases: list[str], metrics: dict[str, float]) -> dict:
    """One version as a history view shows it."""
    tags = mv.tags

    def stamp(key: str) -> float | None:
        return float(tags[key]) if tags.get(key) else None

    promoted = None if not tags.get(PROMOTED_AT) else {
        "at": stamp(PROMOTED_AT), "by": tags.get(PROMOTED_BY, ""),
        "reason": tags.get(PROMOTION_REASON, ""), "replaced": tags.get(REPLACED) or None}
    replaced = None if not tags.get(REPLACED_BY) else {
        "by": tags[REPLACED_BY], "at": stamp(REPLACED_AT)}
    rolled_back = None if not tags.get(ROLLED_BACK_AT) else {
        "at": stamp(ROLLED_BACK_AT), "by": tags.get(ROLLED_BACK_BY, ""),
        "reason": tags.get(ROLLBACK_REASON, ""), "to": tags.get(ROLLED_BACK_TO)}
    return {"version": str(mv.version), "run_id": mv.run_id,
            "created": mv.creation_timestamp / 1000 if mv.creation_timestamp else None,
            "aliases": sorted(aliases), "metrics": metrics, "parent": tags.get(PARENT) or None,
            "promotion": promoted, "replaced": replaced, "rollback": rolled_back,
            "restored_at": stamp(RESTORED_AT),
            "champion_since": since(tags, mv.creation_timestamp),
            # its gates' verdict (passed, overridden) and the overrides' reasons
            "gates": tags.get(GATES) or None,
            "overrides": json.loads(tags[OVERRIDES]) if tags.get(OVERRIDES) else []}


def versions(client, name: str) -> list[dict]:
    """Every version of ``name`` as :func:`history` shows it, newest first."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        return []
    # Project names are plain ([A-Za-z0-9_.-]): nothing to escape in the filter.
    found = client.search_model_versions(f"name = '{name}'")
    out = []
    for mv in sorted(found, key=lambda mv: int(mv.version), reverse=True):
        held = [alias for alias, v in aliases.items() if str(v) == str(mv.version)]
        out.append(history(mv, held, _holdout_metrics(client, mv.run_id)))
    return out


def _holdout_metrics(client, run_id: str | None) -> dict[str, float]:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}
    try:
        metrics = client.get_run(run_id).data.metrics
    except MlflowException:  # the run was deleted; the version stays
        return {}
    return {k.removeprefix("holdout_"): v for k, v in metrics.items()
            if k.startswith("holdout_")}


def _exists(client, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"No version {version} of '{name}'",
                            hint="`shipyard ui` shows the registered versions") from exc


def _reasoned(reason: str) -> None:
    if not reason or not reason.strip():
        raise RegistryError("Give a reason: it is recorded with the versions",
                            hint='e.g. --reason "alerts on engine vibration since 09:00"')


def _stamp() -> str:
    return f"{time.time():.3f}"
