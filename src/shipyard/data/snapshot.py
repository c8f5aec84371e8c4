"""Snapshots: extracted tables stored as Parquet under the SHA-256 of their content.

The hash is over a canonical serialisation, not over the Parquet bytes (which
change with the writer's version and settings): for each column in order, its
name, its logical type, and three streams hashed separately — the validity
mask, the value lengths (variable-width types) and the value bytes. Hashing
the streams separately makes the result independent of how Arrow happened to
chunk the table. The same rows in the same order with the same types give the
same hash wherever they came from; identical extractions are stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.errors import SnapshotError

DATA, MANIFEST = "data.parquet", "manifest.json"


@dataclass(frozen=True)
class Snapshot:
    digest: str
    path: Path  # the snapshot's folder
    manifest: dict

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def data_file(self) -> Path:
        return self.path / DATA

    def table(self) -> pa.Table:
        """The stored rows, checked against the hash they are stored under."""
        try:
            table = pq.read_table(self.data_file)
        except (OSError, pa.ArrowException) as exc:
            raise SnapshotError(f"Snapshot {self.digest[:12]} cannot be read", details=[str(exc)],
                                hint=f"remove {self.path} and extract again") from exc
        if content_hash(table) != self.digest:
            raise SnapshotError(f"Snapshot {self.digest[:12]} does not match its hash: its "
                                "content changed after it was stored",
                                details=[f"folder: {self.path}"],
                                hint=f"remove {self.path} and extract again")
        return table

    def frame(self) -> pd.DataFrame:
        return to_frame(self.table())


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow rows as pandas, with dates as datetime64 (not Python date objects)."""
    return table.to_pandas(date_as_object=False)


def save(table: pa.Table, folder: Path, source: dict) -> Snapshot:
    """Store ``table`` under ``folder/<hash>/`` unless it is already there."""
    digest = content_hash(table)
    final = folder / digest
    if (final / MANIFEST).is_file():
        return open_snapshot(folder, digest)
    manifest = {
        "digest": digest, "rows": table.num_rows,
        "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "source": source, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format": "parquet", "hash": "sha256-canonical-v1",
    }
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    try:
        pq.write_table(table, tmp / DATA, compression="zstd")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        try:
            os.rename(tmp, final)  # atomic: readers see the whole snapshot or none
        except OSError:
            if not (final / MANIFEST).is_file():  # not a concurrent save of the same data
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Snapshot(digest, final, manifest)


def open_snapshot(folder: Path, digest: str) -> Snapshot:
    """The stored snapshot ``digest`` (a unique prefix of at least 8 characters works)."""
    matches = [p for p in folder.glob(f"{digest}*") if (p / MANIFEST).is_file()] \
        if len(digest) >= 8 and folder.is_dir() else []
    if len(matches) != 1:
        what = "No snapshot" if not matches else "More than one snapshot"
        raise SnapshotError(f"{what} matches {digest!r} in {folder}")
    path = matches[0]
    return Snapshot(path.name, path, json.loads((path / MANIFEST).read_text()))


def content_hash(table: pa.Table) -> str:
    outer = hashlib.sha256(b"shipyard-snapshot-v1")
    outer.update(str(table.num_rows).encode())
    for field, column in zip(table.schema, table.columns, strict=True):
        outer.update(_frame(field.name.encode()))
        outer.update(_frame(_type_name(field.type).encode()))
        outer.update(_column_digest(column))
    return outer.hexdigest()


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(8, "little") + data


def _type_name(t: pa.DataType) -> str:
    # Arrow has several physical spellings of one logical type; hash the logical one.
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_dictionary(t):
        return _type_name(t.value_type)
    return str(t)


def _column_digest(column: pa.ChunkedArray) -> bytes:
    mask, lengths, values = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        valid = chunk.is_valid().to_numpy(zero_copy_only=False).astype(np.uint8)
        mask.update(valid.tobytes())
        t = chunk.type
        if _type_name(t) in ("string", "binary"):
            chunk = chunk.cast(pa.large_binary()).fill_null(b"")
            offsets = np.frombuffer(chunk.buffers()[1], dtype="<i8")
            offsets = offsets[chunk.offset: chunk.offset + len(chunk) + 1]
            lengths.update(np.diff(offsets).astype("<i8").tobytes())
            values.update(memoryview(chunk.buffers()[2])[offsets[0]:offsets[-1]])
        elif pa.types.is_boolean(t):
            values.update(chunk.fill_null(False).to_numpy(zero_copy_only=False)
                          .astype(np.uint8).tobytes())
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            values.update(_fixed(chunk.fill_null(0)))
        elif pa.types.is_temporal(t):
            width = pa.int32() if t.bit_width == 32 else pa.int64()
            values.update(_fixed(chunk.view(width).fill_null(0)))
        elif pa.types.is_null(t):
            pass
        else:  # decimals, nested types: rare in tables we train on; slow but canonical
            values.update(json.dumps(chunk.to_pylist(), default=str).encode())
    return mask.digest() + lengths.digest() + values.digest()


def _fixed(chunk: pa.Array) -> bytes:
    arr = chunk.to_numpy(zero_copy_only=False)
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
