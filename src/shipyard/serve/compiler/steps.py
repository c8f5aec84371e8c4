"""The preparation steps of a fitted pipeline as ONNX nodes: the ColumnTransformer
and the matrix steps after it (selection, scaling, ...).

They are written here rather than left to skl2onnx's own converters for two
reasons:

- exactness: each numeric step does, in float64, the same operations in the
  same order as scikit-learn, so the model sees the same matrix bit for bit;
- speed: a text column is looked up once, string -> row of a small table made by
  running the fitted imputer and encoder on every category they know, instead of
  flowing through string-copying imputer and encoder nodes, which took more of
  ONNX Runtime's time than the trees.

Anything not handled raises :class:`NotCompilable` naming the step.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from onnx import TensorProto
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from shipyard.prepare.outliers import Clipper
from shipyard.schema import Schema
from shipyard.serve.compiler.graph import FLOAT, ML, Graph, NotCompilable, describe, first_line

_UNSEEN = "\x00shipyard: a value never seen\x00"  # probes what encoders do with new values
_ENCODERS = (OneHotEncoder, OrdinalEncoder, TargetEncoder)


def prepare(g: Graph, transforms: list, schema: Schema) -> tuple[str, int]:
    """The preparation steps' nodes; the matrix they make and its width.
    ``transforms`` starts with the ColumnTransformer."""
    x, width = _column_transformer(g, transforms[0][0], transforms[0][1], schema)
    for name, step in transforms[1:]:
        x, width = _matrix_step(g, name, step, x, width)
    return x, width


# -- the ColumnTransformer ------------------------------------------------------------


def _column_transformer(g: Graph, path: str, ct: ColumnTransformer,
                        schema: Schema) -> tuple[str, int]:
    names = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    if names != schema.names:
        raise NotCompilable(f"{describe(path, ct)} was fitted on columns {names[:5]}, "
                            f"not the schema's {schema.names[:5]}")
    if getattr(ct, "sparse_output_", False):
        raise NotCompilable(f"{describe(path, ct)} makes a sparse matrix")
    kinds = {c.name: c.kind for c in schema.columns}
    blocks = []
    for name, transformer, spec in ct.transformers_:
        columns = _column_names(spec, names, f"{path}/{name}")
        if transformer == "drop" or not columns:
            continue
        sub = f"{path}/{name}"
        chain = _chain(transformer, name)
        if all(kinds[c] != "string" for c in columns):
            x, width = g.concat(columns), len(columns)
            for step_name, step in chain:
                x, width = _matrix_step(g, f"{sub}/{step_name}", step, x, width)
            if g.blocks == FLOAT and width:
                x = g.op("Cast", [x], to=TensorProto.FLOAT)
            block = (x, width)
        elif all(kinds[c] == "string" for c in columns):
            block = _text_block(g, sub, transformer, chain, columns)
        else:
            raise NotCompilable(f"step '{sub}' mixes text and numeric columns")
        if block[1]:  # a missing indicator with nothing to indicate adds no columns
            blocks.append(block)
    if not blocks:
        raise NotCompilable(f"{describe(path, ct)} outputs no columns")
    return g.concat([b[0] for b in blocks]), sum(b[1] for b in blocks)


def _column_names(spec, names: list[str], path: str) -> list[str]:
    """A ColumnTransformer's column selection as names."""
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, slice):
        return names[spec]
    values = list(np.asarray(spec).tolist()) if not isinstance(spec, list) else spec
    if all(isinstance(v, bool) for v in values) and len(values) == len(names):
        return [n for n, keep in zip(names, values, strict=True) if keep]
    if all(isinstance(v, str) for v in values):
        return values
    if all(isinstance(v, int) for v in values):
        return [names[v] for v in values]
    raise NotCompilable(f"step '{path}' selects columns by {type(spec).__name__}")


def _chain(transformer, name: str) -> list[tuple[str, Any]]:
    if transformer == "passthrough":
        return []
    steps = getattr(transformer, "steps", None)
    pairs = steps if steps is not None else [(name, transformer)]
    return [(n, s) for n, s in pairs if s not in (None, "passthrough")]


# -- numeric matrices: one tensor [N, width] in, one out -----------------------------


def _matrix_step(g: Graph, path: str, step, x: str, width: int) -> tuple[str, int]:
    if isinstance(step, SelectorMixin):
        keep = step.get_support(indices=True)
        if len(keep) == 0:
            raise NotCompilable(f"{describe(path, step)} keeps no column")
        return g.columns(x, keep, width), len(keep)
    convert = _NUMERIC.get(type(step))  # exact types: a subclass may compute otherwise
    if convert is None:
        raise NotCompilable(f"{describe(path, step)} has no ONNX converter")
    return convert(g, path, step, x, width)


def _clipper(g: Graph, path: str, step: Clipper, x: str, width: int) -> tuple[str, int]:
    # np.clip keeps NaN, and so do ONNX Runtime's Max and Min.
    if np.isfinite(step.lower_).any():
        x = g.op("Max", [x, g.const("lower", step.lower_.astype(np.float64))])
    if np.isfinite(step.upper_).any():
        x = g.op("Min", [x, g.const("upper", step.upper_.astype(np.float64))])
    return x, width


def _imputer(g: Graph, path: str, step: SimpleImputer, x: str, width: int) -> tuple[str, int]:
    if not _is_nan(step.missing_values) or step.add_indicator:
        raise NotCompilable(f"{describe(path, step)}: only missing_values=NaN without "
                            "add_indicator is supported for numbers")
    fill = np.asarray(step.statistics_, dtype=np.float64)
    if not step.keep_empty_features:  # scikit-learn drops columns it learnt nothing for
        keep = np.flatnonzero(~np.isnan(fill))
        x, width, fill = g.columns(x, keep, width), len(keep), fill[keep]
    return g.op("Where", [g.op("IsNaN", [x]), g.const("fill", fill), x]), width


def _standard(g: Graph, path: str, step: StandardScaler, x: str, width: int) -> tuple[str, int]:
    # Subtract then divide, as scikit-learn does, so that results match to the last bit.
    if step.with_mean:
        x = g.op("Sub", [x, g.const("mean", step.mean_.astype(np.float64))])
    if step.with_std:
        x = g.op("Div", [x, g.const("scale", step.scale_.astype(np.float64))])
    return x, width


def _robust(g: Graph, path: str, step: RobustScaler, x: str, width: int) -> tuple[str, int]:
    if step.with_centering:
        x = g.op("Sub", [x, g.const("center", step.center_.astype(np.float64))])
    if step.with_scaling:
        x = g.op("Div", [x, g.const("scale", step.scale_.astype(np.float64))])
    return x, width


def _minmax(g: Graph, path: str, step: MinMaxScaler, x: str, width: int) -> tuple[str, int]:
    x = g.op("Mul", [x, g.const("scale", step.scale_.astype(np.float64))])
    x = g.op("Add", [x, g.const("min", step.min_.astype(np.float64))])
    if step.clip:
        low, high = (float(v) for v in step.feature_range)
        x = g.op("Min", [g.op("Max", [x, g.const("low", np.float64(low))]),
                         g.const("high", np.float64(high))])
    return x, width


def _indicator(g: Graph, path: str, step: MissingIndicator, x: str,
               width: int) -> tuple[str, int]:
    if not _is_nan(step.missing_values):
        raise NotCompilable(f"{describe(path, step)}: only missing_values=NaN is supported "
                            "for numbers")
    _check_indicator(path, step)
    found = step.features_
    if len(found) == 0:
        return x, 0
    missing = g.op("IsNaN", [g.columns(x, found, width)])
    return g.op("Cast", [missing], to=TensorProto.DOUBLE), len(found)


def _check_indicator(path: str, step: MissingIndicator) -> None:
    if step.error_on_new and step.features == "missing-only":
        raise NotCompilable(f"{describe(path, step)} refuses new gaps (error_on_new=True); "
                            "ONNX cannot refuse a row")


def _is_nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


_NUMERIC = {Clipper: _clipper, SimpleImputer: _imputer, StandardScaler: _standard,
            RobustScaler: _robust, MinMaxScaler: _minmax, MissingIndicator: _indicator}


# -- text columns: one string tensor [N, 1] per column -------------------------------


def _text_block(g: Graph, path: str, transformer, chain: list, columns: list[str]):
    """A text group: missing indicators, or imputers then one encoder, as lookups."""
    kinds = [type(step) for _, step in chain]
    if kinds == [MissingIndicator]:
        return _text_indicator(g, f"{path}/{chain[0][0]}", chain[0][1], columns)
    for step_name, step in chain:
        if type(step) not in (SimpleImputer, *_ENCODERS):
            raise NotCompilable(f"{describe(f'{path}/{step_name}', step)} has no ONNX "
                                "converter for text columns")
    if not kinds or kinds[-1] not in _ENCODERS or any(k in _ENCODERS for k in kinds[:-1]):
        raise NotCompilable(f"step '{path}' does not end in one encoder, so its text "
                            "columns would reach the model as text")
    encoder_name, encoder = chain[-1]
    widths = _encoded_widths(encoder, len(columns))
    markers = ["", *(s.missing_values for _, s in chain[:-1] if isinstance(s.missing_values, str))]
    keys = [_known_values(f"{path}/{encoder_name}", encoder, j, markers)
            for j in range(len(columns))]
    tables = _lookup_tables(path, transformer, columns, keys, widths)
    blocks = []
    for column, known, table in zip(columns, keys, tables, strict=True):
        # Each known value -> its row of the table; anything else -> the last row,
        # which holds what the steps make of a value they never saw.
        row = g.op("LabelEncoder", [column], domain=ML, keys_strings=known,
                   values_int64s=list(range(len(known))), default_int64=len(known))
        table = table.astype(np.float32 if g.blocks == FLOAT else np.float64)
        # GatherND with [N, 1] indices gives [N, width] with no reshape: one node
        # fewer per column, which matters for one-row latency.
        blocks.append(g.op("GatherND", [g.const("table", table), row]))
    return g.concat(blocks), sum(widths)


def _encoded_widths(encoder, n_columns: int) -> list[int]:
    """How many output columns each input column becomes."""
    if isinstance(encoder, OneHotEncoder):
        # Private but stable since scikit-learn 1.1: counts after infrequent grouping
        # and dropped categories.
        return [int(w) for w in encoder._n_features_outs]
    if isinstance(encoder, TargetEncoder) and encoder.target_type_ == "multiclass":
        return [len(encoder.classes_)] * n_columns
    return [1] * n_columns


def _known_values(path: str, encoder, j: int, markers: list[str]) -> list[str]:
    """The values of text column ``j`` that the steps treat apart: the encoder's
    categories and the imputers' missing markers; any other is unseen."""
    categories = list(encoder.categories_[j])
    if not all(isinstance(c, str) for c in categories):
        raise NotCompilable(f"{describe(path, encoder)} has non-text categories for a "
                            "text column")
    return list(dict.fromkeys([*categories, *markers]))


def _lookup_tables(path: str, transformer, columns: list[str], keys: list[list[str]],
                   widths: list[int]) -> list[np.ndarray]:
    """Per column, the fitted steps' output for each known value, then for an unseen one.

    The steps act on each column alone (imputers and encoders do), so one probe
    frame serves all columns: column j lists its known values, padded by
    repeating the first; a second, one-row frame holds an unseen value in each."""
    rows = max(len(k) for k in keys)
    known = pd.DataFrame({c: pd.Series(k + [k[0]] * (rows - len(k)), dtype=object)
                          for c, k in zip(columns, keys, strict=True)})
    unseen = pd.DataFrame({c: pd.Series([_UNSEEN], dtype=object) for c in columns})
    try:
        seen_out = _dense(transformer.transform(known))
    except Exception as exc:
        raise NotCompilable(f"step '{path}' fails on its own categories: "
                            f"{type(exc).__name__}: {first_line(exc)}") from None
    try:
        with warnings.catch_warnings():
            # OneHotEncoder(handle_unknown="ignore") warns of the unseen value it was
            # shown on purpose.
            warnings.filterwarnings("ignore", message="Found unknown categories",
                                    category=UserWarning)
            unseen_out = _dense(transformer.transform(unseen))
    except Exception as exc:
        raise NotCompilable(f"step '{path}' fails on values it never saw "
                            f"({first_line(exc)}), and ONNX cannot refuse a row") from None
    if seen_out.shape[1] != sum(widths):
        raise NotCompilable(f"step '{path}' makes {seen_out.shape[1]} columns, expected "
                            f"{sum(widths)}")
    tables, start = [], 0
    for values, width in zip(keys, widths, strict=True):
        block = slice(start, start + width)
        tables.append(np.vstack([seen_out[:len(values), block], unseen_out[:, block]]))
        start += width
    return tables


def _dense(matrix) -> np.ndarray:
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    return np.asarray(matrix, dtype=np.float64)


def _text_indicator(g: Graph, path: str, step: MissingIndicator, columns: list[str]):
    if step.missing_values != "":
        raise NotCompilable(f"{describe(path, step)}: only missing_values='' is supported "
                            "for text")
    _check_indicator(path, step)
    found = [columns[j] for j in step.features_]
    if not found:
        return "", 0
    flags = [g.op("LabelEncoder", [c], domain=ML, keys_strings=[""], values_int64s=[1],
                  default_int64=0) for c in found]
    return g.op("Cast", [g.concat(flags)], to=g.block_type), len(found)
