"""Snapshots are named by a canonical content hash, stored once, atomically,
and refuse to load when their content no longer matches the hash."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.data.snapshot import content_hash, open_snapshot, save
from shipyard.errors import SnapshotError

TABLE = pa.table({
    "a": [1, 2, None, 4],
    "s": ["x", None, "yy", "z"],
    "d": pa.array([1, 2, 3, None], pa.date32()),
    "b": [True, None, False, True],
    "f": [0.5, None, np.nan, 1.0],
})


def test_hash_ignores_chunking_and_string_width():
    chunked = pa.concat_tables([TABLE.slice(0, 1), TABLE.slice(1, 3)])
    assert chunked.column("s").num_chunks == 2
    assert content_hash(chunked) == content_hash(TABLE)
    wide = TABLE.set_column(1, "s", TABLE.column("s").cast(pa.large_string()))
    assert content_hash(wide) == content_hash(TABLE)


@pytest.mark.parametrize("change", [
    lambda t: t.set_column(0, "a", pa.array([1, 2, None, 5])),  # a value
    lambda t: t.set_column(0, "a", pa.array([1, 2, 0, 4])),  # a null becomes 0
    lambda t: t.set_column(1, "s", pa.array(["x", None, "y", "yz"])),  # a string boundary
    lambda t: t.rename_columns(["A", "s", "d", "b", "f"]),  # a name
    lambda t: t.set_column(0, "a", pa.array([1.0, 2.0, None, 4.0])),  # a type
    lambda t: t.slice(0, 3),  # a row fewer
    lambda t: t.select(["s", "a", "d", "b", "f"]),  # column order
])
def test_hash_sees_every_change(change):
    assert content_hash(change(TABLE)) != content_hash(TABLE)


def test_save_is_idempotent_and_leaves_no_temp(tmp_path: Path):
    first = save(TABLE, tmp_path, {"kind": "test"})
    second = save(pa.concat_tables([TABLE.slice(0, 2), TABLE.slice(2)]), tmp_path, {"k": 2})
    assert first.digest == second.digest
    assert [p.name for p in tmp_path.iterdir()] == [first.digest]
    manifest = json.loads((first.path / "manifest.json").read_text())
    assert manifest["rows"] == 4 and manifest["source"] == {"kind": "test"}
    assert [c["name"] for c in manifest["columns"]] == TABLE.column_names
    stored = first.table()
    assert stored.drop_columns(["f"]).equals(TABLE.drop_columns(["f"]))
    np.testing.assert_array_equal(stored.column("f").to_numpy(zero_copy_only=False),
                                  TABLE.column("f").to_numpy(zero_copy_only=False))


def test_open_by_prefix(tmp_path: Path):
    snap = save(TABLE, tmp_path, {})
    assert open_snapshot(tmp_path, snap.digest[:10]).digest == snap.digest
    with pytest.raises(SnapshotError, match="No snapshot matches"):
        open_snapshot(tmp_path, "0" * 12)


def test_tampered_snapshot_is_refused(tmp_path: Path):
    snap = save(TABLE, tmp_path, {})
    pq.write_table(TABLE.set_column(0, "a", pa.array([9, 2, None, 4])), snap.data_file)
    with pytest.raises(SnapshotError, match="does not match its hash"):
        snap.frame()


def test_corrupt_snapshot_is_refused(tmp_path: Path):
    snap = save(TABLE, tmp_path, {})
    snap.data_file.write_bytes(b"not parquet")
    with pytest.raises(SnapshotError, match="cannot be read"):
        snap.table()
