"""True labels: whether one fits the model, and feedback refused as a whole.

Labels are compared as the JSON values the model card holds: a class 1 is the
number 1, not "1" nor true; a regression label is a finite number; an anomaly
detector's label is true (an anomaly) or false.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.card import ModelCard
from shipyard.errors import MonitorError
from shipyard.metrics import ANOMALY, CLASSIFICATION


class FeedbackError(MonitorError):
    """Feedback refused as a whole: ``invalid`` items ({index, message}), ``unknown``
    request ids, ``conflicts`` (ids already labelled otherwise: {request_id,
    label, sent}). Nothing of the request was stored."""

    def __init__(self, headline: str, *, invalid=(), unknown=(), conflicts=()):
        self.invalid, self.unknown, self.conflicts = list(invalid), list(unknown), list(conflicts)
        details = [i["message"] for i in self.invalid]
        details += [f"unknown request id {rid!r}" for rid in self.unknown]
        details += [f"request id {c['request_id']!r} is labelled {c['label']!r}; got "
                    f"{c['sent']!r}" for c in self.conflicts]
        super().__init__(headline, details=details[:20])


Check = Callable[[Any], "str | None"]  # a label -> what is wrong with it, or None


def checker(card: ModelCard) -> Check:
    if card.task == ANOMALY:
        return _flag
    if card.task not in CLASSIFICATION:
        return _number
    classes = [c.item() if isinstance(c, np.generic) else c for c in card.classes]

    def one_of_the_classes(value: Any) -> str | None:
        if any(same_class(value, c) for c in classes):
            return None
        return f"label {describe(value)} is not one of the classes {classes}"

    return one_of_the_classes


def same_class(value: Any, cls: Any) -> bool:
    """``value`` is the class ``cls``, as a JSON value of the same type."""
    if isinstance(cls, bool) or isinstance(value, bool):
        return type(value) is bool and type(cls) is bool and value == cls
    if isinstance(cls, int):
        return type(value) is int and value == cls
    if isinstance(cls, float):
        return type(value) in (int, float) and value == cls
    return type(value) is type(cls) and value == cls


def _number(value: Any) -> str | None:
    if type(value) is float and math.isfinite(value):
        return None
    if type(value) is int and abs(value) <= sys.float_info.max:  # stored as a float64
        return None
    return f"label {describe(value)} is not a number: this model predicts numbers"


def _flag(value: Any) -> str | None:
    if type(value) is bool:
        return None
    return f"label {describe(value)} is not true or false (an anomaly or not)"


def describe(value: Any) -> str:
    kind = {bool: "boolean", int: "number", float: "number", str: "string",
            type(None): "null", list: "array", dict: "object"}.get(type(value), "value")
    text = repr(value) if not isinstance(value, list | dict) else ""
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({kind})" if text else f"(an {kind})"


def unique(items: list[tuple[str, object]], check) -> dict[str, object]:
    """request id -> label; refuses bad labels (invalid) and one id sent with two
    labels (a conflict)."""
    wanted: dict[str, object] = {}
    first: dict[str, int] = {}
    invalid, twice = [], []
    for index, (rid, label) in enumerate(items):
        problem = check(label) if check is not None else None
        if problem is not None:
            invalid.append({"index": index, "request_id": rid,
                            "message": f"feedback[{index}]: {problem}"})
        elif rid in wanted and not same(wanted[rid], label):
            twice.append({"request_id": rid, "label": wanted[rid], "sent": label,
                          "items": [first[rid], index]})
        else:
            wanted.setdefault(rid, label)
            first.setdefault(rid, index)
    if invalid:
        first_problem = invalid[0]["message"]
        headline = first_problem if len(invalid) == 1 else \
            f"{len(invalid)} invalid feedback items; first: {first_problem}"
        raise FeedbackError(headline, invalid=invalid)
    if twice:
        c = twice[0]
        raise FeedbackError(f"request id {c['request_id']!r} is sent twice with different "
                            f"labels (items {c['items'][0]} and {c['items'][1]})",
                            conflicts=twice)
    return wanted


def same(a: object, b: object) -> bool:
    """Equal as JSON values: 1 and 1.0 are; true and 1 are not."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def unknown_headline(unknown: list[str]) -> str:
    shown_ids = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
    return (f"{len(unknown)} unknown request id{'s' if len(unknown) > 1 else ''}: {shown_ids} "
            f"(no such prediction is logged; predictions are logged within about 0.2 s of "
            f"their answer)")


def conflict_headline(conflicts: list[dict]) -> str:
    c = conflicts[0]
    more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
    return (f"request id {c['request_id']!r} already has the label {c['label']!r}, not "
            f"{c['sent']!r}{more}: a label, once given, is not changed")
