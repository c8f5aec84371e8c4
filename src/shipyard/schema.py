"""What a model takes as input: named columns of four kinds.

This is the contract between training and serving. A fitted pipeline always
receives numeric columns as float64 (NaN when missing), text columns as
Python ``str`` (``""`` when missing: ONNX string tensors cannot hold NaN, so
the empty string is the missing marker everywhere) and date-times as
datetime64 (NaT when missing; the server passes ISO 8601 text, which the
pipeline's date steps parse). Training builds its
frame with :meth:`Schema.model_frame`; the server builds the same arrays
straight from JSON without pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

Kind = Literal["number", "integer", "boolean", "string", "datetime"]
NUMERIC_KINDS = ("number", "integer", "boolean")
MISSING_TEXT = ""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


def kind_of(series: pd.Series) -> Kind | None:
    """The kind a column of data has, or None when it cannot be used (nested values)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.PeriodDtype):
        return None
    if pd.api.types.is_object_dtype(dtype):  # before the string check, which says yes to object
        sample = series.dropna().head(100)
        return "string" if all(isinstance(v, str) for v in sample) else None
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "string"
    return None


@dataclass(frozen=True)
class Schema:
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.numeric]

    @property
    def text(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "string"]

    @property
    def dates(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "datetime"]

    def model_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s schema columns, converted to the pipeline's input contract."""
        out = {}
        for col in self.columns:
            values = frame[col.name]
            if col.numeric:
                out[col.name] = pd.to_numeric(values, errors="coerce").astype("float64")
            elif col.kind == "datetime":
                out[col.name] = pd.to_datetime(values, errors="coerce")
            else:
                text = values.astype(object).where(values.notna(), MISSING_TEXT)
                # An explicit object dtype: pandas 3 would infer its own string dtype.
                out[col.name] = pd.Series([str(v) for v in text], index=frame.index,
                                          dtype=object)
        return pd.DataFrame(out, index=frame.index)

    def to_dict(self) -> list[dict]:
        return [{"name": c.name, "kind": c.kind} for c in self.columns]

    @classmethod
    def from_dict(cls, items: list[dict]) -> Schema:
        return cls(tuple(Column(i["name"], i["kind"]) for i in items))
