"""The data gate: the schema and sanity of the extracted rows, before training.

Every check the project's ``gates.data`` declares becomes a record: ``rows`` (at
least ``min_rows``), and per column ``present``, ``type``, ``range``,
``categories`` and ``missing``; the profile's leakage suspects too, unless
``leakage: off``. A failed record says what fails and where: how many rows,
and the first few of them (positions in the extracted rows, from 0) with their
values, so the query or the source can be fixed.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from shipyard.gates.record import GateResult, judge
from shipyard.schema import kind_of
from shipyard.spec.gates import ColumnRule, DataGate

SHOWN = 5  # offending rows named in a record's details


def check(spec: DataGate, frame: pd.DataFrame, findings: list | None = None) -> list[GateResult]:
    """The records of the data gate ``spec`` on the extracted ``frame``; ``findings``
    are the profile's (objects or dicts with ``kind``, ``column``, ``message``)."""
    block = spec.blocking
    results = []
    if spec.min_rows is not None:
        n = len(frame)
        results.append(judge("data", "rows", n, ">=", spec.min_rows,
                             f"the query returned {n:,} rows; the project requires at least "
                             f"{spec.min_rows:,}", block))
    for name, rule in spec.columns.items():
        if name not in frame.columns:
            results.append(_absent(name, rule, list(map(str, frame.columns)), block))
            continue
        values = frame[name]
        if rule.required:
            results.append(judge("data", f"{name}.present", 1, ">=", 1,
                                 f"the query returns '{name}'", block))
        if rule.type is not None:
            results.append(_type(name, values, rule.type, block))
        if rule.min is not None or rule.max is not None:
            results.append(_range(name, values, rule.min, rule.max, block))
        if rule.categories is not None:
            results.append(_categories(name, values, rule.categories, block))
    for name in frame.columns:
        rule = spec.columns.get(name)
        limit = rule.max_missing if rule is not None and rule.max_missing is not None \
            else spec.max_missing
        if limit is not None:
            results.append(_missing(str(name), frame[name], limit, block))
    if spec.leakage != "off":
        results += [_leakage(f, spec.leakage == "block") for f in findings or []
                    if _get(f, "kind") in ("leakage", "dominant")]
    return results


def explain(results: list[GateResult]) -> list[str]:
    """One line per failed record, blocking ones first: what an error message lists."""
    failed = [r for r in results if not r.passed]
    failed.sort(key=lambda r: not r.blocking or r.overridden is not None)
    lines = []
    for r in failed:
        note = f" (overridden: {r.overridden})" if r.overridden is not None else \
            "" if r.blocking else " (warning only)"
        lines.append(f"{r.key}: {r.details}{note}")
    return lines


def _absent(name: str, rule: ColumnRule, columns: list[str], block: bool) -> GateResult:
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    if rule.required:
        return judge("data", f"{name}.present", 0, ">=", 1,
                     f"the query does not return '{name}'{hint}", block)
    return judge("data", f"{name}.present", 0, ">=", 0,
                 f"the query does not return '{name}'; it is not required", block)


def _kind(values: pd.Series) -> str:
    kind = kind_of(values)  # the same reading of a column as the model's input schema
    return "text" if kind in (None, "string") else kind


def _type(name: str, values: pd.Series, expected: str, block: bool) -> GateResult:
    """``actual``: rows whose value is not of the ``expected`` type."""
    kind = _kind(values)
    present = values.notna().to_numpy()
    metric = f"{name}.type"
    if kind == expected or (expected == "number" and kind == "integer"):
        return judge("data", metric, 0, "<=", 0, f"'{name}' holds {_title(kind)}", block)
    if expected == "integer" and kind == "number":
        # NULLs turn an integer column into floats: only fractions are wrong
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        bad = present & (np.floor(numbers) != numbers)
        if not bad.any():
            return judge("data", metric, 0, "<=", 0,
                         f"'{name}' holds whole numbers (as floats, for its missing values)",
                         block)
        return judge("data", metric, int(bad.sum()), "<=", 0,
                     f"'{name}': {_rows(bad)} hold fractions, expected integers: "
                     f"{_where(name, values, bad)}", block)
    said = f"'{name}' holds {_title(kind)}, expected {_title(expected)} ({_rows(present)})"
    if kind == "text" and expected in ("number", "integer"):
        # numbers written as text (a CSV's blanks): name the ones that are no number
        parsed = pd.to_numeric(values.where(values.astype(str).str.strip() != ""),
                               errors="coerce")
        wrong = present & parsed.isna().to_numpy()
        if not wrong.all():
            said += ": numbers written as text, cast it in the query"
        if wrong.any() and not wrong.all():
            said += f"; {_rows(wrong)} are no number: {_where(name, values, wrong)}"
    return judge("data", metric, int(present.sum()), "<=", 0, said, block)


def _range(name: str, values: pd.Series, low: float | None, high: float | None,
           block: bool) -> GateResult:
    """``actual``: rows outside ``[low, high]``."""
    bounds = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
    metric = f"{name}.range"
    if _kind(values) in ("boolean", "datetime"):
        return judge("data", metric, float("nan"), "<=", 0,
                     f"'{name}' holds {_title(_kind(values))}: a range needs numbers", block)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.zeros(len(numbers), dtype=bool)
    if low is not None:
        bad |= numbers < low
    if high is not None:
        bad |= numbers > high
    if not bad.any():
        return judge("data", metric, 0, "<=", 0, f"every value of '{name}' is in {bounds}",
                     block)
    return judge("data", metric, int(bad.sum()), "<=", 0,
                 f"{name}: {_rows(bad)} outside {bounds}: {_where(name, values, bad)}", block)


def _categories(name: str, values: pd.Series, allowed: list, block: bool) -> GateResult:
    """``actual``: rows with a value the project does not list."""
    metric = f"{name}.categories"
    if _kind(values) in ("integer", "number"):
        numeric = pd.to_numeric(pd.Series([c for c in allowed if not isinstance(c, bool)],
                                          dtype=object), errors="coerce").dropna()
        ok = values.isin(numeric.tolist()).to_numpy()
    else:
        ok = values.astype(str).isin([str(c) for c in allowed]).to_numpy()
    bad = values.notna().to_numpy() & ~ok
    listed = ", ".join(repr(c) for c in allowed[:10]) + (", ..." if len(allowed) > 10 else "")
    if not bad.any():
        return judge("data", metric, 0, "<=", 0,
                     f"every value of '{name}' is one of {listed}", block)
    counts = values[bad].astype(str).value_counts()
    top = ", ".join(f"'{v}' ({n:,})" for v, n in counts.head(SHOWN).items())
    return judge("data", metric, int(bad.sum()), "<=", 0,
                 f"{name}: {_rows(bad)} with a value not allowed ({top}): "
                 f"{_where(name, values, bad)}; allowed: {listed}", block)


def _missing(name: str, values: pd.Series, limit: float, block: bool) -> GateResult:
    """``actual``: the share of rows without a value (blank text counts as none)."""
    gone = values.isna().to_numpy()
    blank = np.zeros_like(gone)
    if _kind(values) == "text":
        blank = ~gone & (values.astype(str).str.strip() == "").to_numpy()
    gone = gone | blank
    share = float(gone.mean()) if len(gone) else 0.0
    said = f"'{name}' is missing in {share:.1%} of rows ({int(gone.sum()):,} of {len(gone):,}"
    said += f", {int(blank.sum()):,} of them blank text)" if blank.any() else ")"
    said += f"; at most {limit:.1%} allowed"
    if share > limit:
        said += f": rows {_positions(gone)}"
    return judge("data", f"{name}.missing", share, "<=", limit, said, block)


def _leakage(finding, blocking: bool) -> GateResult:
    column, kind = _get(finding, "column"), _get(finding, "kind")
    return judge("data", f"{column}.{kind}", 1, "<=", 0,
                 f"leakage suspect: {_get(finding, 'message')}", blocking)


def _get(finding, key: str):
    return finding.get(key) if isinstance(finding, dict) else getattr(finding, key, None)


def _rows(mask: np.ndarray) -> str:
    n = int(mask.sum())
    return f"{n:,} row{'' if n == 1 else 's'}"


def _positions(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    return ", ".join(str(r) for r in rows[:SHOWN]) + (", ..." if len(rows) > SHOWN else "")


def _where(name: str, values: pd.Series, mask: np.ndarray) -> str:
    """The first offending rows with their values: ``rows 17 (age=-1), 204 (age=430)``."""
    rows = np.flatnonzero(mask)
    shown = ", ".join(f"{r} ({name}={_value(values.iloc[r])})" for r in rows[:SHOWN])
    return f"row{'' if len(rows) == 1 else 's'} {shown}" + (", ..." if len(rows) > SHOWN else "")


def _value(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, float | np.floating):
        return f"{v:g}"
    return str(v)


def _title(kind: str) -> str:
    return {"number": "numbers", "integer": "integers", "text": "text",
            "boolean": "booleans", "datetime": "dates and times"}[kind]
