"""Alert rules: the project file's conditions, checked against the served model."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipyard.card import ModelCard
from shipyard.errors import ShipyardError, did_you_mean
from shipyard.metrics import ANOMALY, BINARY, CLASSIFICATION
from shipyard.spec.monitoring import seconds
from shipyard.spec.serving import Alert, Comparison

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


class AlertConfigError(ShipyardError):
    """The alert rules name fields or values the served model does not have."""



Test = Callable[[dict, dict], bool]  # (input row, prediction item) -> the comparison holds


@dataclass(frozen=True)
class Rule:
    """One compiled alert: ``any_of`` is the condition as an or of and-groups."""

    name: str
    when: str
    any_of: tuple[tuple[Test, ...], ...] = field(repr=False)
    webhook: str | None = field(default=None, repr=False)  # may hold a token
    retries: int = 5
    backoff_s: float = 0.5
    repeat_after_s: float | None = None

    def matches(self, row: dict, item: dict) -> bool:
        return any(all(test(row, item) for test in group) for group in self.any_of)


class Rules:
    """The alert rules of one served model; build with :meth:`Rules.compile`."""

    def __init__(self, rules: tuple[Rule, ...] = ()):
        self.rules = rules
        self.by_name = {rule.name: rule for rule in rules}

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def compile(cls, alerts: list[Alert], card: ModelCard,
                companions: dict[str, ModelCard] | None = None) -> Rules:
        """Check every field and value against ``card`` (``key.field`` against the
        companion answering under ``key``) and compile the tests; raises
        :class:`AlertConfigError` listing every problem."""
        companions = companions or {}
        problems, rules = [], []
        for alert in alerts:
            groups = []
            for group in alert.condition.any_of:
                tests = []
                for comp in group:
                    problem = _problem(comp, card, companions)
                    if problem:
                        problems.append(f"alert '{alert.name}' ({alert.when!r}): {problem}")
                    else:
                        owner = comp.field.partition(".")[0]
                        tests.append(_test(comp, nested=owner in companions
                                           and comp.field not in card.schema.names))
                groups.append(tuple(tests))
            quiet = seconds(alert.repeat_after) if alert.repeat_after else None
            rules.append(Rule(alert.name, alert.when, tuple(groups), alert.webhook,
                              alert.retries, alert.backoff_s, quiet))
        if problems:
            raise AlertConfigError(
                f"the alerts in serve.alerts do not fit model '{card.name}'"
                f"{f' version {card.version}' if card.version else ''}",
                details=problems, hint="fix serve.alerts in the project file")
        return cls(tuple(rules))

    def match(self, rows: list[dict], items: list[dict]) -> list[tuple[int, str]]:
        """(row index, alert name) for every row that meets an alert's condition."""
        return [(i, rule.name) for i, (row, item) in enumerate(zip(rows, items, strict=True))
                for rule in self.rules if rule.matches(row, item)]


ANSWERED = ("prediction", "probability", "score")  # what a model's answer holds


def fields(card: ModelCard, companions: dict[str, ModelCard] | None = None) -> list[str]:
    """What a condition may name for this model (and its companions' answers)."""
    names = [*_answered(card), *card.schema.names]
    if card.entity and card.entity not in names:
        names.append(card.entity)
    for key, other in (companions or {}).items():
        names += [f"{key}.{name}" for name in _answered(other)]
    return names


def _answered(card: ModelCard) -> list[str]:
    return ["prediction", *(["probability"] if card.task == BINARY else []),
            *(["score"] if card.task == ANOMALY else [])]


def _problem(comp: Comparison, card: ModelCard,
             companions: dict[str, ModelCard] | None = None) -> str | None:
    """Why ``comp`` cannot work for ``card``, or None."""
    key, dot, rest = comp.field.partition(".")
    if dot and key in (companions or {}) and comp.field not in card.schema.names:
        if rest not in ANSWERED:
            known = _answered(companions[key])
            return (f"'{key}' answers {', '.join(f'{key}.{n}' for n in known)}; "
                    f"'{comp.field}' is not one of them")
        found = _problem(Comparison(rest, comp.op, comp.value), companions[key])
        return found and f"{key}: {found}"
    text = isinstance(comp.value, str)
    if comp.field == "prediction" and card.task == ANOMALY:
        return "an anomaly flag is true or false; write prediction == 1" if text else None
    if comp.field == "score":
        if card.task != ANOMALY:
            return f"'score' is an anomaly detector's; this model is {card.task}"
        return "a score is a number; compare it with a number" if text else None
    if comp.field == "prediction":
        if card.task not in CLASSIFICATION:
            return "a regression prediction is a number; compare it with a number" \
                if text else None
        labels = [c.item() if hasattr(c, "item") else c for c in card.classes]
        numeric = all(isinstance(c, int | float) for c in labels)
        if not text and not numeric:
            return (f"the classes are text ({', '.join(map(str, labels))}); write "
                    f"prediction == '{labels[-1]}'")
        if text and comp.value not in map(str, labels):
            return (f"{comp.value!r} is not a class{did_you_mean(comp.value, map(str, labels))}"
                    f"; classes: {', '.join(map(str, labels))}")
        return None
    if comp.field == "probability":
        if card.task != BINARY:
            return "'probability' is the positive class's probability; only binary models " \
                   f"have it, this one is {card.task}"
        return "a probability is a number; compare it with a number" if text else None
    kinds = {c.name: c.kind for c in card.schema.columns}
    if comp.field in kinds:
        numeric = kinds[comp.field] in ("number", "integer", "boolean")
        if numeric and text:
            return f"'{comp.field}' is a {kinds[comp.field]} column; compare it with a number"
        if not numeric and not text:
            return (f"'{comp.field}' is a {kinds[comp.field]} column; compare it with == or != "
                    f"and quoted text")
        return None
    if comp.field == card.entity:
        return None
    known = fields(card, companions)
    return f"unknown field '{comp.field}'{did_you_mean(comp.field, known)}; " \
           f"known: {', '.join(known)}"


def _test(comp: Comparison, nested: bool = False) -> Test:
    compare, value, key = _COMPARE[comp.op], comp.value, comp.field
    if nested:  # a companion's answer: item["anomaly"]["score"]
        owner, _, rest = key.partition(".")
        inner = _test(Comparison(rest, comp.op, comp.value))
        return lambda row, item: isinstance(item.get(owner), dict) and inner(row, item[owner])
    in_item = key in ANSWERED

    if isinstance(value, str):
        def test(row: dict, item: dict) -> bool:
            actual = (item if in_item else row).get(key)
            # A missing value never matches, not even with !=.
            return actual is not None and compare(str(actual), value)
    else:
        def test(row: dict, item: dict) -> bool:
            actual = (item if in_item else row).get(key)
            return isinstance(actual, int | float) and compare(actual, value)
    return test


