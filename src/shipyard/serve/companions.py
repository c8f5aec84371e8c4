"""Companion models: other projects' champions that answer every request with the
served model (``serve.companions``), each under its own key of the answer.

An airline's landing gets the remaining-life prediction and the anomaly score in
one round trip. A companion takes a subset of the served model's inputs. When the
server keeps entity history, it computes its own series features from the same
readings the served model read, so a landing is stored once and read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from shipyard.errors import ShipyardError
from shipyard.serve.inputs import Batch
from shipyard.serve.predict import Scores, items


class CompanionError(ShipyardError):
    """A companion that cannot answer with the served model."""


@dataclass(frozen=True)
class Companion:
    """One companion: the key it answers under and its engine (see serve.engine)."""

    key: str
    engine: object  # shipyard.serve.engine.Engine
    source: object = None  # shipyard.serve.reload.RegistrySource: where its champion is
    fast: bool = True  # its serve.fast_path

    @property
    def card(self):
        return self.engine.card

    @cached_property
    def step(self):
        from shipyard.serve.history import series_step

        return series_step(self.engine.model.pipeline)

    @cached_property
    def _rest(self):
        inner = getattr(self.engine.model.pipeline, "estimator_", self.engine.model.pipeline)
        return inner[1:]

    def describe(self) -> dict:
        return {"name": self.card.name, "version": self.card.version, "task": self.card.task,
                "path": self.engine.path}

    def score(self, batch: Batch) -> list[dict]:
        """Its answer to each row of ``batch`` (the served model's validated rows)."""
        names = self.card.schema.names
        mine = Batch({n: batch.columns[n] for n in names}, batch.n_rows)
        return self._answers(self.engine.score(mine))

    def score_history(self, history: dict[str, np.ndarray], first: np.ndarray,
                      at: np.ndarray, elapsed: np.ndarray, batch: Batch) -> list[dict]:
        """Its answer to each row, its series features computed from ``history``,
        the readings the served model's features were computed from."""
        from shipyard.serve.history.scorer import after_series

        step = self.step
        if step is None:
            return self.score(batch)
        features = step.features_at(history, first, at, elapsed)
        for name in step.passthrough_:
            features[name] = batch.columns[name]
        return self._answers(after_series(step, self._rest, self.engine.fast, self.card,
                                          features, batch.n_rows))

    def _answers(self, scores: Scores) -> list[dict]:
        return [{self.key: item} for item in items(self.card, Scores(scores.values,
                                                                    scores.proba))]


def check(companions: tuple[Companion, ...], card, history=None) -> None:
    """Refuse companions that cannot answer the served model's rows: inputs it does
    not take, another entity, or windows longer than the history it reads."""
    problems = []
    taken = set(card.schema.names) | ({card.entity} if card.entity else set())
    for c in companions:
        where = f"serve.companions.{c.key} ({c.card.name} version {c.card.version})"
        missing = [n for n in c.card.schema.names if n not in taken]
        if missing:
            problems.append(f"{where} takes {', '.join(missing)}, which "
                            f"{card.name} does not")
        if c.card.entity != card.entity:
            problems.append(f"{where}: its entity is {c.card.entity!r}, "
                            f"{card.name}'s is {card.entity!r}")
        if history is not None and c.step is not None:
            if c.step.history_rows() > history.need:
                problems.append(f"{where}: its windows read {c.step.history_rows()} readings, "
                                f"{card.name}'s read {history.need}: the server reads only those")
            wanted = c.step.history_columns()
            extra = [n for n in wanted if n not in history.wanted]
            if extra:
                problems.append(f"{where}: its series read {', '.join(extra)}, which "
                                f"{card.name}'s history does not hold")
    if problems:
        raise CompanionError(f"the companions in serve.companions cannot answer with "
                             f"{card.name}", details=problems,
                             hint="a companion extends the served project and takes a subset "
                                  "of its inputs")


def merge(extra: list[dict] | None, answers: list[list[dict]], n: int) -> list[dict] | None:
    """Each row's extra keys with every companion's answer added."""
    if not answers:
        return extra
    out = [dict(e) for e in extra] if extra is not None else [{} for _ in range(n)]
    for per_row in answers:
        for item, more in zip(out, per_row, strict=True):
            item.update(more)
    return out


def load(project) -> tuple[Companion, ...]:
    """The champions of ``project``'s ``serve.companions``, as engines; raises
    :class:`CompanionError` naming the companion at fault."""
    from shipyard import registry, spec
    from shipyard.errors import SpecError
    from shipyard.serve.engine import engine_for
    from shipyard.serve.reload import RegistrySource
    from shipyard.workspace import Workspace

    out = []
    for key, file in project.serve.companions.items():
        where = f"serve.companions.{key}"
        try:
            other = spec.load(project.resolve(file))
        except SpecError as exc:
            raise CompanionError(f"{where}: {exc.headline}", details=exc.details,
                                 hint=exc.hint) from None
        try:
            model = registry.load(Workspace.of(other), other.name)
        except ShipyardError as exc:
            raise CompanionError(f"{where}: no champion of {other.name} to serve ({exc.headline})",
                                 hint=f"train it first: shipyard run {file}") from None
        out.append(Companion(key, engine_for(model, other.serve.fast_path),
                             RegistrySource(Workspace.of(other), other.name),
                             other.serve.fast_path))
    return tuple(out)


def on_version(companion: Companion, version: str) -> Companion:
    """``companion`` serving ``version`` of its registered model."""
    from shipyard.serve.engine import engine_for

    engine = engine_for(companion.source.load(version), companion.fast)
    return Companion(companion.key, engine, companion.source, companion.fast)
