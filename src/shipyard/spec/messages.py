"""Turn pydantic's validation errors into one line per problem a person can act on.

Each line is ``key.path: expected <what>, got <value>``; unknown keys and
unknown choices get a did-you-mean. Pydantic reports a failed union once per
member (``Range``, ``list[any]``...); we keep the branch that fits the value the
user wrote and drop the rest.
"""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from shipyard.errors import did_you_mean

_TYPE_WORDS = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
    "bool_type": "true or false", "string_type": "text", "list_type": "a list",
    "dict_type": "a mapping (key: value)", "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)", "none_required": "nothing (null)",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def show(value: Any) -> str:
    """A value as the user would recognise it from their YAML."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def explain(exc: ValidationError, data: Any, root: type[BaseModel]) -> list[tuple[tuple, str]]:
    """(key path, message) for each problem in ``exc``, in file order."""
    groups: dict[tuple, list[tuple[dict, tuple]]] = {}
    for err in exc.errors():
        path, branch = _split_loc(err["loc"], data, err["type"] == "missing")
        groups.setdefault(path, []).append((err, branch))
    out = []
    for path, errs in groups.items():
        out.extend((path, msg) for msg in _pick(errs, path, data, root))
    return out


def _split_loc(loc: tuple, data: Any, missing: bool) -> tuple[tuple, tuple]:
    """Split pydantic's loc into the key path in the data and union-branch tags."""
    path, branch, node = [], [], data
    for i, part in enumerate(loc):
        if _holds(node, part):
            node = node[part]
            path.append(part)
        elif missing and i == len(loc) - 1:
            path.append(part)  # the required key that is absent
        else:
            branch.append(part)
    return tuple(path), tuple(branch)


def _holds(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _pick(errs: list[tuple[dict, tuple]], path, data, root) -> list[str]:
    if len(errs) > 1:
        # A union: prefer what failed inside the branch that matched the value's shape.
        deep = [(e, b) for e, b in errs if e["type"] not in _TYPE_WORDS]
        if deep:
            errs = deep
        else:
            wanted = sorted({_TYPE_WORDS[e["type"]] for e, _ in errs})
            return [f"expected {' or '.join(wanted)}, got {show(errs[0][0]['input'])}"]
    return [_message(e, path, root) for e, _ in errs]


def _message(err: dict, path: tuple, root: type[BaseModel]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        allowed = _fields_at(root, path[:-1])
        hint = did_you_mean(path[-1], allowed)
        listing = f"; allowed keys: {', '.join(allowed)}" if allowed and not hint else ""
        return f"unknown key{hint}{listing}"
    if kind == "literal_error":
        choices = [c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ",")
                   .split(",") if c.strip(" '")]
        return (f"expected one of {', '.join(choices)}, got {show(value)}"
                f"{did_you_mean(value, choices)}")
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {show(value)}"
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()))
        return f"expected a number {_BOUNDS[kind]} {limit}, got {show(value)}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "string_too_short":
        return "expected non-empty text"
    if kind == "string_pattern_mismatch":
        return (f"expected a name of letters, digits, '_', '-' or '.', got {show(value)}")
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def _fields_at(root: type[BaseModel], path: tuple) -> list[str]:
    tp: Any = root
    for part in path:
        tp = _step(tp, part)
        if tp is None:
            return []
    return list(tp.model_fields) if _is_model(tp) else []


def _step(tp: Any, part: Any) -> Any:
    tp = _strip(tp)
    if _is_model(tp):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return _strip(field.annotation) if field else None
    origin = get_origin(tp)
    if origin is list and isinstance(part, int):
        return _strip(get_args(tp)[0])
    if origin is dict and isinstance(part, str):
        return _strip(get_args(tp)[1])
    if origin in (typing.Union, types.UnionType):
        for member in get_args(tp):
            found = _step(member, part)
            if found is not None:
                return found
    return None


def _strip(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (typing.Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        models = [m for m in members if _is_model(_strip(m))]
        if len(models) == 1 and len(members) == 1:
            return _strip(models[0])
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)
