"""Request bodies -> typed columns, following the model's input schema.

Decoding is written by hand rather than left to pandas because a refused
request must name the row, the column and the value at fault, and pandas would
coerce silently instead ("3" -> 3.0, true -> 1.0). The result follows the
contract in :mod:`shipyard.schema`: float64 with NaN for numeric kinds, Python
``str`` with ``""`` for text, datetime64 with NaT for date-times.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from shipyard.errors import ShipyardError, did_you_mean
from shipyard.schema import MISSING_TEXT, Column, Schema
from shipyard.serve.predict import Batch

MAX_PROBLEMS = 20  # details listed in one error; the headline still counts them all
MAX_NAMES = 5  # column names spelled out in a headline, like scikit-learn's feature check

_EXPECTED = {
    "number": "a number or null",
    "integer": "an integer or null",
    "boolean": "true, false or null",
    "string": "a string or null",
    "datetime": "an ISO 8601 date or date-time string, or null",
}


class InputError(ShipyardError):
    """A request the server refuses. ``status`` is the HTTP status to answer with;
    ``problems`` are JSON objects, each with a ``message`` and, where they apply,
    the ``row``, ``column`` and offending ``value`` (or ``line``/``char`` for
    malformed JSON)."""

    def __init__(self, status: int, headline: str, problems: list[dict[str, Any]] | None = None):
        self.status = status
        self.problems = problems or []
        super().__init__(headline, details=[p["message"] for p in self.problems])


class _NonFinite(Exception):
    """Raised from inside the JSON parser on NaN / Infinity tokens."""


def _reject_constant(token: str) -> float:
    raise _NonFinite(token)


def parse(body: bytes, constants: bool = False) -> Any:
    """The JSON value in ``body``, strictly: UTF-8, no NaN or Infinity tokens. With
    ``constants`` (MLflow's scoring protocol, whose clients write them), ``NaN`` is
    read as a missing value and ``Infinity`` as infinity."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the standard parser names the fault precisely; errors are rare, so no cost
    return _parse_slowly(body, _mlflow_constant if constants else _reject_constant)


def _mlflow_constant(token: str) -> float | None:
    return None if token == "NaN" else float(token)  # "Infinity", "-Infinity"


def _parse_slowly(body: bytes, constant=_reject_constant) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"request body is not UTF-8: bad byte at offset {exc.start}"
        raise InputError(400, message) from None
    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        where = {"message": exc.msg, "line": exc.lineno, "char": exc.colno}
        raise InputError(
            400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", [where]
        ) from None
    except _NonFinite as exc:
        raise InputError(
            400, f"malformed JSON: {exc} is not a JSON value; send null for a missing value"
        ) from None
    except RecursionError:
        raise InputError(400, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        raise InputError(400, f"malformed JSON: {exc}") from None


def rows_of(payload: Any, max_rows: int) -> list:
    """The rows in a decoded body: one object, or a non-empty list of them."""
    if isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise InputError(
            422, f"request body must be a JSON object (one row) or a list of objects, "
                 f"got {_json_type(payload)}"
        )
    if not payload:
        raise InputError(422, "empty list: send at least one row")
    if len(payload) > max_rows:
        raise InputError(413, f"too many rows: {len(payload)}, at most {max_rows} per request")
    return payload


def validate(rows: list, schema: Schema, extra: frozenset[str] = frozenset(),
             required: tuple[str, ...] = ()) -> Batch:
    """Check every row against ``schema`` and return the typed columns.

    ``extra`` names keys every row carries besides the schema's columns (the
    entity's identifier, which outcomes are joined on and alerts report); they are
    not model inputs. ``required`` names keys (inputs or extra) that may not be
    null: the entity and, for a model served from history, the time.
    Raises :class:`InputError` (422) naming the rows, columns and values at fault;
    nothing is returned unless every row is valid.
    """
    return to_batch([checked(rows, schema, extra, required)], schema)


@dataclass(frozen=True)
class Checked:
    """Valid rows as one Python list per schema column: what a request holds until
    its batch is built, so that arrays are made once per batch, not per request."""

    values: dict[str, list]
    n_rows: int


def checked(rows: list, schema: Schema, extra: frozenset[str] = frozenset(),
            required: tuple[str, ...] = ()) -> Checked:
    """Like :func:`validate`, but the columns are not yet arrays (see :class:`Checked`)."""
    if len(rows) == 1 and type(rows[0]) is dict:
        values = _one_row(rows[0], _plan(schema), extra)
        if values is not None and not _nulls(rows, required):
            return Checked(values, 1)
    _check_objects(rows)
    _check_keys(rows, schema, extra)
    problems = _Problems()
    names = schema.names
    # Transposed in C (itemgetter, zip) rather than one Python pass per column.
    columns = zip(*map(operator.itemgetter(*names), rows), strict=True) if len(names) > 1 \
        else ([row[names[0]] for row in rows],)
    values = {col.name: _column(col, position, list(column), problems)
              for (position, col), column in zip(enumerate(schema.columns), columns,
                                                 strict=True)}
    problems.raise_if_any()
    nulls = _nulls(rows, required)
    if nulls:
        found = [{"message": f"row {i}, column '{name}': {_ROLE_MISSING}", "row": i,
                  "column": name} for i, name in nulls[:MAX_PROBLEMS]]
        headline = found[0]["message"] if len(nulls) == 1 else \
            f"{len(nulls)} rows lack a required value; first: {found[0]['message']}"
        raise InputError(422, headline, found)
    return Checked(values, len(rows))


_ROLE_MISSING = ("null, but every row needs it: the entity says whose reading it is, "
                 "the time places it in that entity's history")


def _nulls(rows: list[dict], required: tuple[str, ...]) -> list[tuple[int, str]]:
    """(row, name) of each required key that is null (or an empty string)."""
    if not required:
        return []
    return [(i, name) for i, row in enumerate(rows) for name in required
            if row.get(name) is None or row.get(name) == ""]


_PLANS: dict[int, tuple] = {}  # id(schema) -> (schema, plan); hashing a schema costs µs


def _plan(schema: Schema) -> tuple[frozenset[str], tuple[tuple[str, str], ...], list[str]]:
    """The schema's names, its (name, kind) pairs and its numeric columns' names."""
    found = _PLANS.get(id(schema))
    if found is None or found[0] is not schema:  # the entry keeps its schema, so ids stay unique
        if len(_PLANS) > 64:
            _PLANS.clear()
        found = (schema, (frozenset(schema.names),
                          tuple((c.name, c.kind) for c in schema.columns),
                          [c.name for c in schema.columns if c.numeric]))
        _PLANS[id(schema)] = found
    return found[1]


def _one_row(row: dict, plan, extra: frozenset[str]) -> dict[str, list] | None:
    """One row with the schema's keys (and the extra ones, such as the entity) and
    plainly valid values, checked in a single tight loop: the common request.
    None sends the row through the full check, which also words any error."""
    names, columns, _ = plan
    keys = row.keys()
    if keys != names and not (extra and keys > names and keys - names == extra - names):
        return None
    out = {}
    for name, kind in columns:
        v = row[name]
        t = type(v)
        if v is None:
            out[name] = [math.nan if kind in _NUMERIC else MISSING_TEXT]
        elif kind == "string":
            if t is not str:
                return None
            out[name] = [v]
        elif kind == "boolean":
            if t is not bool:
                return None
            out[name] = [1.0 if v else 0.0]
        elif t is float:
            if not math.isfinite(v) or (kind == "integer" and not v.is_integer()):
                return None
            out[name] = [v]
        elif t is int and kind in _NUMBERS and -_BIG < v < _BIG:
            out[name] = [float(v)]
        else:
            return None
    return out


_NUMERIC = frozenset(("number", "integer", "boolean"))
_NUMBERS = frozenset(("number", "integer"))
_BIG = 2**1000  # integers this large still convert to float64


def to_batch(parts: list[Checked], schema: Schema) -> Batch:
    """One :class:`Batch` of the rows of ``parts``, in order.

    The numeric columns are made as one 2-D array, one row per column (a view each,
    contiguous): one conversion instead of one per column, which for a one-row
    request was most of the cost."""
    if len(parts) == 1:
        lists = parts[0].values
    else:
        lists = {name: [v for part in parts for v in part.values[name]] for name in schema.names}
    _, columns_kinds, numeric = _plan(schema)
    # None (a missing value) becomes NaN
    block = np.array([lists[name] for name in numeric], dtype=np.float64) if numeric else None
    rows = {name: block[i] for i, name in enumerate(numeric)}
    columns = {}
    for name, kind in columns_kinds:
        if kind in _NUMERIC:
            columns[name] = rows[name]
        elif kind == "datetime":
            columns[name] = np.array(lists[name], dtype="datetime64[ns]")
        else:
            columns[name] = np.array(lists[name], dtype=object)
    return Batch(columns, sum(part.n_rows for part in parts))


def _check_objects(rows: list) -> None:
    bad = [i for i, row in enumerate(rows) if not isinstance(row, dict)]
    if not bad:
        return
    first = bad[0]
    found = f"row {first} is not a JSON object (got {_json_type(rows[first])})"
    headline = found if len(bad) == 1 else f"{len(bad)} rows are not JSON objects; first: {found}"
    problems = [{"message": f"row {i} is not a JSON object (got {_json_type(rows[i])})", "row": i}
                for i in bad[:MAX_PROBLEMS]]
    raise InputError(422, headline, problems)


def _check_keys(rows: list[dict], schema: Schema, extra: frozenset[str]) -> None:
    expected = frozenset(schema.names) | extra
    problems = []
    n_bad = 0
    for i, row in enumerate(rows):
        if row.keys() == expected:  # the common case: one set comparison per row
            continue
        n_bad += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(_key_problem(i, row, schema, extra - frozenset(schema.names)))
    if n_bad:
        first = problems[0]["message"]
        headline = first if n_bad == 1 else f"{n_bad} rows have wrong columns; first: {first}"
        raise InputError(422, headline, problems)


def _key_problem(i: int, row: dict, schema: Schema, extra: frozenset[str]) -> dict[str, Any]:
    known = set(schema.names) | extra
    missing = [name for name in [*sorted(extra), *schema.names] if name not in row]
    unknown = [key for key in row if key not in known]
    parts = []
    if unknown:
        hint = did_you_mean(unknown[0], missing or schema.names) if len(unknown) == 1 else ""
        parts.append(f"unknown column{_s(unknown)} {_names(unknown)}{hint}")
    if missing:
        roles = [name for name in missing if name in extra]
        parts.append(f"missing column{_s(missing)} {_names(missing)}" + (
            f" ({_names(roles)}: the entity, which every row names)" if roles else ""))
    problem: dict[str, Any] = {"message": f"row {i}: " + "; ".join(parts), "row": i}
    if missing:
        problem["missing"] = missing
    if unknown:
        problem["unknown"] = unknown
    return problem


class _Problems:
    """Bad values across all rows, reported in row order whatever order they were found in."""

    def __init__(self) -> None:
        self.found: list[tuple[int, int, Column, Any]] = []

    def add(self, row: int, position: int, col: Column, value: Any) -> None:
        self.found.append((row, position, col, value))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        self.found.sort(key=lambda f: (f[0], f[1]))
        problems = [_value_problem(row, col, value)
                    for row, _, col, value in self.found[:MAX_PROBLEMS]]
        first = problems[0]["message"]
        count = len(self.found)
        headline = first if count == 1 else f"{count} invalid values; first: {first}"
        raise InputError(422, headline, problems)


def _value_problem(row: int, col: Column, value: Any) -> dict[str, Any]:
    message = (f"row {row}, column '{col.name}': expected {_EXPECTED[col.kind]}, "
               f"got {_describe(value)}")
    problem = {"message": message, "row": row, "column": col.name}
    echo = _echo(value)
    if echo is not None:
        problem["value"] = echo
    return problem


NoneType = type(None)
_ACCEPTED_TYPES = {
    "number": {float, int, NoneType},
    "integer": {float, int, NoneType},
    "boolean": {bool, NoneType},
    "string": {str, NoneType},
}
_MANY = 8  # from this many rows, columns are checked by their value types at once


def _column(col: Column, position: int, values: list, problems: _Problems) -> list:
    if col.kind == "datetime":
        return _dates(values, col, position, problems)
    if len(values) >= _MANY:
        quick = _at_once(col, values)
        if quick is not None:
            return quick
    if not col.numeric:
        out = [MISSING_TEXT] * len(values)
        for i, v in enumerate(values):
            if type(v) is str:
                out[i] = v
            elif v is not None:
                problems.add(i, position, col, v)
        return out
    to_float = _TO_FLOAT[col.kind]
    numbers = [math.nan] * len(values)
    for i, v in enumerate(values):
        if v is None:
            continue
        x = to_float(v)
        if x is None:
            problems.add(i, position, col, v)
        else:
            numbers[i] = x
    return numbers


def _at_once(col: Column, values: list):
    """The column checked per type rather than per value, when every value has an
    accepted type: the values as they are (``to_batch`` turns None into NaN), or
    text with "" for None. None when a value needs the per-value check (which also
    words the error). Plain Python: numpy's per-call cost is more than the work."""
    types = set(map(type, values))
    if not types <= _ACCEPTED_TYPES[col.kind]:
        return None
    if not col.numeric:
        return [MISSING_TEXT if v is None else v for v in values] if NoneType in types \
            else values
    if int in types and not all(-_BIG < v < _BIG for v in values if type(v) is int):
        return None
    if float in types:
        if math.inf in values or -math.inf in values:
            return None
        if col.kind == "integer" and not all(v.is_integer() for v in values
                                             if type(v) is float):
            return None
    return values


def _dates(values: list, col: Column, position: int, problems: _Problems) -> list:
    """datetime64 values (NaT for null), as training's model frame has them."""
    out = [np.datetime64("NaT", "ns")] * len(values)
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            moment = datetime.fromisoformat(v) if type(v) is str else None
        except ValueError:
            moment = None
        if moment is None:
            problems.add(i, position, col, v)
            continue
        if moment.tzinfo is not None:  # training stores naive UTC times
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        out[i] = np.datetime64(moment, "ns")
    return out


# Each returns the float64 value for an accepted JSON value, or None to refuse it.
# ``type(v) is int`` (not isinstance) keeps booleans out: bool subclasses int.

def _number(v: Any) -> float | None:
    if type(v) is float:
        return v if math.isfinite(v) else None  # 1e400 parses to inf
    if type(v) is int:
        return _int_to_float(v)
    return None


def _integer(v: Any) -> float | None:
    if type(v) is int:
        return _int_to_float(v)
    if type(v) is float and v.is_integer():  # 3.0 is an integer; inf and 2.5 are not
        return v
    return None


def _boolean(v: Any) -> float | None:
    return float(v) if type(v) is bool else None


def _int_to_float(v: int) -> float | None:
    try:
        return float(v)
    except OverflowError:
        return None


_TO_FLOAT = {"number": _number, "integer": _integer, "boolean": _boolean}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _describe(v: Any) -> str:
    """A value as the client wrote it (roughly), short enough for one line."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "string " + json.dumps(v if len(v) <= 40 else v[:40] + "...")
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "a number too large for float64"
    if isinstance(v, int):
        if v.bit_length() > 1024:
            return "an integer too large for float64"
        text = str(v)
        return text if len(text) <= 40 else f"a {len(text)}-digit integer"
    return _json_type(v)


def _echo(v: Any) -> Any:
    """The offending value to send back, when it is a short scalar; else None."""
    if isinstance(v, str):
        return v if len(v) <= 100 else v[:100] + "..."
    if isinstance(v, bool) or (isinstance(v, float) and math.isfinite(v)):
        return v
    if isinstance(v, int) and v.bit_length() < 64:
        return v
    return None


def _names(names: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _s(items: list) -> str:
    return "" if len(items) == 1 else "s"
