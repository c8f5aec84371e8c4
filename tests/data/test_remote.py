"""Snapshots in a shared store through fsspec URLs (a local folder here): pushed
once, fetched into a workspace, and refused when the copy no longer matches."""

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.data import remote
from shipyard.data.snapshot import DATA, MANIFEST, content_hash, save
from shipyard.errors import SnapshotError

TABLE = pa.table({"a": [1, 2, None, 4], "s": ["x", None, "yy", "z"]})


@pytest.fixture
def snap(tmp_path: Path):
    return save(TABLE, tmp_path / "here", {"kind": "files", "query": "SELECT 1"})


@pytest.mark.parametrize("as_url", [False, True])
def test_push_then_fetch_gives_the_same_rows(tmp_path: Path, snap, as_url: bool):
    store = tmp_path / "store"
    url = store.as_uri() if as_url else str(store)
    where = remote.push(snap, url)
    assert where == f"{url}/{snap.digest}"
    assert sorted(p.name for p in (store / snap.digest).iterdir()) == [DATA, MANIFEST]
    assert not list(store.rglob("*.tmp-*"))  # no half-written names left behind

    elsewhere = tmp_path / "colleague" / "snapshots"
    got = remote.fetch(url, snap.digest, elsewhere)
    assert got.path == elsewhere / snap.digest
    assert got.table().equals(TABLE) and content_hash(got.table()) == snap.digest
    assert got.manifest == snap.manifest
    assert [p.name for p in elsewhere.iterdir()] == [snap.digest]  # no temporary folder


def test_a_second_push_leaves_a_complete_copy_alone(tmp_path: Path, snap):
    store = tmp_path / "store"
    remote.push(snap, str(store))
    data = store / snap.digest / DATA
    before = data.stat().st_mtime_ns
    remote.push(snap, str(store))
    assert data.stat().st_mtime_ns == before
    data.write_bytes(data.read_bytes()[:-10])  # a truncated copy is replaced
    remote.push(snap, str(store))
    assert data.read_bytes() == snap.data_file.read_bytes()


def test_a_corrupt_remote_copy_is_refused_and_not_kept(tmp_path: Path, snap):
    store = tmp_path / "store"
    remote.push(snap, str(store))
    changed = TABLE.set_column(0, "a", pa.array([1, 2, None, 5]))
    pq.write_table(changed, store / snap.digest / DATA)  # same size class, other values
    folder = tmp_path / "ws"
    with pytest.raises(SnapshotError, match="does not match its hash") as caught:
        remote.fetch(str(store), snap.digest, folder)
    assert f"{store}/{snap.digest}" in caught.value.render()
    assert list(folder.iterdir()) == []  # nothing placed in the workspace


def test_a_missing_snapshot_and_a_bad_digest_are_clear(tmp_path: Path, snap):
    with pytest.raises(SnapshotError, match=f"No snapshot {snap.digest[:12]} at"):
        remote.fetch(str(tmp_path / "empty"), snap.digest, tmp_path / "ws")
    with pytest.raises(SnapshotError, match="not a snapshot's digest"):
        remote.fetch(str(tmp_path), "../../etc", tmp_path / "ws")
    assert not (tmp_path / "ws").exists() or list((tmp_path / "ws").iterdir()) == []


def test_a_manifest_of_another_snapshot_is_refused(tmp_path: Path, snap):
    store = tmp_path / "store"
    remote.push(snap, str(store))
    other = save(TABLE.slice(0, 2), tmp_path / "other", {})
    shutil.copy(other.data_file, store / snap.digest / DATA)
    manifest = json.loads((store / snap.digest / MANIFEST).read_text())
    assert manifest["digest"] == snap.digest
    with pytest.raises(SnapshotError, match="does not match its hash"):
        remote.fetch(str(store), snap.digest, tmp_path / "ws")


def test_an_unknown_protocol_is_a_clear_error(snap):
    with pytest.raises(SnapshotError, match="Cannot open the snapshot store nosuch://x"):
        remote.push(snap, "nosuch://x")


def test_relative_folders_start_at_the_project(tmp_path: Path):
    assert remote.resolve("snaps", tmp_path) == str(tmp_path / "snaps")
    assert remote.resolve("s3://bucket/snaps", tmp_path) == "s3://bucket/snaps"
    assert remote.resolve("file:///srv/snaps", tmp_path) == "file:///srv/snaps"
