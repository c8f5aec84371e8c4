"""Rows fetched from the prediction log -> pandas, fast enough for a million.

The JSON columns are decoded in one call each (orjson on one joined array, not
one call per value), and the logged inputs are expanded into columns by DuckDB
(``json_transform`` over the whole column, in C++) rather than row by row.
"""

from __future__ import annotations

import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

FIXED = ("request_id", "ts", "model_version", "prediction", "score", "latency_ms", "label",
         "labelled_at")
# An input named like a column above is given under this prefix ("features.score").
PREFIX = "features."
_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_SCALARS = {"DOUBLE", "VARCHAR", "BOOLEAN"}
_NUMBERS = {"UBIGINT": "DOUBLE", "BIGINT": "DOUBLE"}
SAMPLE = 20_000  # rows whose JSON structure decides the column types


def fetch(conn, query, types: dict[str, pa.DataType]) -> pa.Table:
    """Run ``query`` (its columns named and typed as ``types``) into an Arrow table.

    Through the driver's own cursor: SQLAlchemy's row objects would cost more
    than the query itself on a million rows, and pyarrow turns the driver's
    tuples into columns in C rather than a Python loop per value."""
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.params
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    struct = pa.struct(list(types.items()))
    if not rows:
        return pa.table({name: pa.array([], kind) for name, kind in types.items()})
    return pa.Table.from_struct_array(pa.array(rows, type=struct))


def predictions(fetched: pa.Table, features: bool, reverse: bool) -> pd.DataFrame:
    if reverse:  # fetched newest first (for a LIMIT): oldest first from here on
        fetched = fetched.take(pa.array(range(fetched.num_rows - 1, -1, -1), type=pa.int64()))
    n = fetched.num_rows
    column = fetched.column
    frame = pd.DataFrame({
        "request_id": pd.Series(column("request_id").to_pylist(), dtype=object),
        "ts": column("ts").to_numpy(),
        "model_version": pd.Series(column("model_version").to_pylist(), dtype=object),
        "prediction": pd.Series(json_values(column("prediction").to_pylist()), dtype=_kind(n)),
        "score": _floats(column("score")),
        "latency_ms": _floats(column("latency_ms")),
        "label": pd.Series(json_values(column("label").to_pylist()), dtype=_kind(n)),
        "labelled_at": _floats(column("labelled_at")),
    }, index=pd.RangeIndex(n))
    if not features or n == 0:
        return frame
    inputs = expand(column("features"))
    inputs.columns = [PREFIX + c if c in FIXED else c for c in inputs.columns]
    return pd.concat([frame, inputs], axis=1)


def _floats(values: pa.ChunkedArray) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(np.float64)  # None -> NaN


def _kind(n: int):
    return object if n == 0 else None  # an empty column has no values to infer from


def json_values(texts) -> list:
    """JSON texts (None: no value) -> Python values, None for None."""
    if not texts:
        return []
    joined = ",".join(t if t is not None else "null" for t in texts)
    return orjson.loads("[" + joined + "]")


def expand(texts: pa.ChunkedArray | list) -> pd.DataFrame:
    """JSON objects (the logged rows) -> one column per key seen in any of them.
    Numbers, text and booleans get their types; a key whose values mix types or
    nest (objects, lists) holds the Python values."""
    n = len(texts)
    table = pa.table({"f": texts if isinstance(texts, pa.ChunkedArray)
                      else pa.array(texts, pa.string())})
    with duckdb.connect(config=_OFFLINE) as con:
        con.register("logged", table)
        types = _types(con)
        if not types:
            return pd.DataFrame(index=pd.RangeIndex(n))
        spec = orjson.dumps(types).decode().replace("'", "''")
        out = con.sql(f"SELECT unnest(json_transform(f, '{spec}')) FROM logged") \
            .to_arrow_table()
    columns = {}
    for (name, kind), values in zip(types.items(), out.columns, strict=True):
        columns[name] = pd.Series(json_values(values.to_pylist()), dtype=object) \
            if kind == "JSON" else values.to_pandas()
    return pd.DataFrame(columns, index=pd.RangeIndex(n))


def _types(con) -> dict[str, str]:
    """Each key's DuckDB type. Every key seen anywhere; types from a sample, since
    the structure of every row costs three times the conversion. The server
    checked each input column's type, so a sample speaks for the rest; numbers
    are all DOUBLE, because a sample of whole numbers must not round a later 2.5,
    and a key whose values mix types or nest is JSON (Python values)."""
    keys = [k for (k,) in con.sql("SELECT DISTINCT unnest(json_keys(f)) FROM logged "
                                  "ORDER BY ALL").fetchall()]
    sampled = con.sql(f"SELECT json_group_structure(f::JSON) FROM (SELECT f FROM logged "
                      f"USING SAMPLE {SAMPLE} ROWS)").fetchall()[0][0]
    structure = orjson.loads(sampled) if sampled else {}
    structure = structure if isinstance(structure, dict) else {}
    found = {}
    for key in _first_seen(con, keys):
        kind = structure.get(key)
        kind = _NUMBERS.get(kind, kind) if isinstance(kind, str) else "JSON"
        found[key] = kind if kind in _SCALARS else "JSON"
    return found


def _first_seen(con, keys: list[str]) -> list[str]:
    """``keys`` in the order of the first logged row that has them all: the order of
    the request's columns, as far as one row tells."""
    if not keys:
        return keys
    first = con.sql("SELECT f FROM logged LIMIT 1").fetchall()[0][0]
    order = {k: i for i, k in enumerate(orjson.loads(first))} if first else {}
    return sorted(keys, key=lambda k: (order.get(k, len(order)), k))


def traffic(fetched: pa.Table, bucket_s: float) -> pd.DataFrame:
    columns = ["ts", "requests", "latency_p50_ms", "latency_p99_ms"]
    if fetched.num_rows == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns})
    ts = _floats(fetched.column("ts"))
    latency = pd.Series(_floats(fetched.column("latency_ms")))
    start = pd.Series(np.floor(ts / bucket_s) * bucket_s, name="ts")
    groups = latency.groupby(start)
    out = pd.DataFrame({"requests": groups.size(),
                        "latency_p50_ms": groups.quantile(0.5),
                        "latency_p99_ms": groups.quantile(0.99)})
    return out.reset_index()[columns]
