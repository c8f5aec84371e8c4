"""MLflow's scoring-server request formats, so MLflow clients can call
``POST /invocations`` on Shipyard unchanged.

Accepted bodies (``params`` is allowed and ignored):
``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``,
``{"dataframe_records": [{...}, ...]}``, ``{"instances": [...]}`` and
``{"inputs": ...}``, where instances and inputs are records, lists of values in
the model's column order, or one list per column. Numeric columns sent as text
("700.5") are read as numbers, as MLflow's schema enforcement converts them.
A ``text/csv`` body (header line, then rows) is read as MLflow's server reads one.
Columns the model does not take are dropped, as MLflow's schema enforcement drops
them, but only from a row that has every column the model takes: a misspelt column
is then a missing one, and the error names both.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from shipyard.schema import Schema
from shipyard.serve.inputs import InputError, rows_of
from shipyard.serve.openapi_schemas import INTEGER_TEXT, NUMBER_TEXT

_GRAMMAR = {"number": re.compile(NUMBER_TEXT), "integer": re.compile(INTEGER_TEXT)}

KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def mlflow_rows(payload: Any, schema: Schema, max_rows: int) -> list:
    """The rows of an MLflow-format body, as objects for ``inputs.validate``."""
    if not isinstance(payload, dict):
        raise InputError(422, f"an MLflow request body is a JSON object with one of the keys "
                              f"{', '.join(KEYS)}")
    found = [key for key in KEYS if key in payload]
    unknown = sorted(set(payload) - set(KEYS) - {"params"})
    if len(found) != 1 or unknown:
        what = (f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                if unknown else f"{len(found)} of them")
        raise InputError(422, f"an MLflow request body needs exactly one of {', '.join(KEYS)}; "
                              f"got {what}")
    key = found[0]
    value = payload[key]
    if key == "dataframe_split":
        rows = _split(value)
    elif key in ("inputs", "instances") and isinstance(value, dict):
        rows = _columnar(value, key)
    else:
        if not isinstance(value, list):
            raise InputError(422, f"'{key}' must be a list of rows, got {_kind(value)}")
        rows = [_positional(row, schema, i) if isinstance(row, list) else row
                for i, row in enumerate(value)]
    return _numbers_from_text(rows_of(rows, max_rows), schema)


def known_columns(rows: list, expected: frozenset[str]) -> list:
    """``rows`` without the keys outside ``expected``, in rows that have them all."""
    if all(type(row) is dict and row.keys() == expected for row in rows):
        return rows  # the common case
    return [{k: v for k, v in row.items() if k in expected}
            if type(row) is dict and row.keys() > expected else row for row in rows]


def csv_rows(body: bytes, schema: Schema, max_rows: int) -> list:
    """The rows of a ``text/csv`` body (a header line, then one line per row), as
    MLflow's server reads one: an empty field is a missing value, numbers and
    true/false are read in their columns; every other check is the JSON rows'."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(400, f"request body is not UTF-8: bad byte at offset {exc.start}"
                         ) from None
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InputError(400, f"malformed CSV: {exc}") from None
    lines = [line for line in lines if line]
    if len(lines) < 2:
        raise InputError(422, "a CSV body needs a header line with the column names and at "
                              "least one row")
    header, data = lines[0], lines[1:]
    if len(set(header)) != len(header):
        raise InputError(422, "the CSV header repeats a column name")
    rows = []
    for i, line in enumerate(data):
        if len(line) != len(header):
            raise InputError(422, f"CSV row {i} has {len(line)} fields; the header has "
                                  f"{len(header)}")
        rows.append({name: (value if value != "" else None)
                     for name, value in zip(header, line, strict=True)})
    flags = [c.name for c in schema.columns if c.kind == "boolean"]
    for row in rows:
        for name in flags:
            value = row.get(name)
            if type(value) is str and value.lower() in ("true", "false"):
                row[name] = value.lower() == "true"
    return _numbers_from_text(rows_of(rows, max_rows), schema)


def _numbers_from_text(rows: list, schema: Schema) -> list:
    """Numeric columns sent as text ("700.5", as MLflow's schema enforcement converts
    them) read as numbers; text that is no number is left for validation to refuse."""
    numeric = [(c.name, _GRAMMAR[c.kind]) for c in schema.columns if c.kind in _GRAMMAR]
    for row in rows:
        if not isinstance(row, dict):
            continue
        for name, grammar in numeric:
            value = row.get(name)
            if type(value) is str and grammar.fullmatch(value):
                row[name] = float(value) if any(c in value for c in ".eE") else int(value)
    return rows


def _split(value: Any) -> list:
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list) \
            or not isinstance(value.get("data"), list):
        raise InputError(422, "'dataframe_split' must be an object with 'columns' (a list of "
                              "names) and 'data' (a list of rows)")
    columns = value["columns"]
    names = all(isinstance(c, str) for c in columns)
    if not names or len(set(columns)) != len(columns):
        what = "must not repeat" if names else "must be strings"
        raise InputError(422, f"dataframe_split.columns {what}: send the column names")
    rows = []
    for i, row in enumerate(value["data"]):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InputError(422, f"dataframe_split.data[{i}] must be a list of "
                                  f"{len(columns)} values, one per column")
        rows.append(dict(zip(columns, row, strict=True)))
    return rows


def _columnar(value: dict, key: str) -> list:
    lengths = {name: len(v) if isinstance(v, list) else None for name, v in value.items()}
    bad = [name for name, n in lengths.items() if n is None]
    if bad:
        raise InputError(422, f"'{key}' as an object needs a list of values per column; "
                              f"'{bad[0]}' is not a list")
    if len(set(lengths.values())) > 1:
        raise InputError(422, f"'{key}' columns have different lengths: "
                              + ", ".join(f"{k}={n}" for k, n in lengths.items()))
    n = next(iter(lengths.values()), 0)
    return [{name: value[name][i] for name in value} for i in range(n)]


def _positional(row: list, schema: Schema, i: int) -> dict:
    if len(row) != len(schema.columns):
        order = ", ".join(schema.names)
        raise InputError(422, f"row {i} is a list of {len(row)} values; a positional row "
                              f"needs {len(schema.columns)}, in the order {order}")
    return dict(zip(schema.names, row, strict=True))


def _kind(value: Any) -> str:
    return {dict: "an object", str: "a string", type(None): "null"}.get(type(value), "a value")
