"""Snapshots kept in a shared store as well, through fsspec URLs (``s3://bucket/snaps``,
``gs://...``, ``file:///srv/snaps`` or a plain folder), so that a colleague on
another machine can reproduce a run from the very rows it was trained on.

The remote layout is the workspace's: ``<url>/<digest>/data.parquet`` and
``manifest.json``. The manifest is written last and is what says a copy is
complete: every file goes up under a temporary name and is then moved to its
own (a rename on local disks; a server-side copy on object stores, where an
object appears whole or not at all). A fetched copy is checked against the hash
it is stored under before it is placed in the workspace, so a corrupt or
tampered copy is refused and never shadows a good one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

from shipyard.data.snapshot import DATA, MANIFEST, Snapshot, open_snapshot
from shipyard.errors import SnapshotError

_DIGEST = re.compile(r"[0-9a-f]{64}")


def resolve(url: str, root: Path) -> str:
    """``url`` as fsspec reads it: a relative folder starts at ``root`` (the project
    file's folder), as every other path in the project file does."""
    if "://" in url or "::" in url:
        return url
    return os.path.normpath(root / Path(url).expanduser())  # an absolute path stays itself


def location(url: str, digest: str) -> str:
    """Where snapshot ``digest`` lives under ``url``."""
    return f"{url.rstrip('/')}/{digest}"


def push(snapshot: Snapshot, url: str) -> str:
    """Copy ``snapshot`` to ``<url>/<digest>/`` unless a complete copy of the same
    size is already there; returns that location."""
    fs, base = _filesystem(url)
    remote = location(base, snapshot.digest)
    where = location(url, snapshot.digest)
    try:
        if _complete(fs, remote, snapshot):
            return where
        fs.makedirs(remote, exist_ok=True)
        # the data first, the manifest (the mark of a complete copy) last
        _upload(fs, snapshot.data_file, f"{remote}/{DATA}")
        _upload(fs, snapshot.path / MANIFEST, f"{remote}/{MANIFEST}")
    except (OSError, ValueError) as exc:  # unreachable store, no permission, bad bucket
        raise SnapshotError(f"Cannot copy snapshot {snapshot.digest[:12]} to {url}",
                            details=[f"{type(exc).__name__}: {str(exc)[:300]}"],
                            hint="check the project file's `snapshots:` URL and the "
                                 "credentials of that store") from exc
    return where


def fetch(url: str, digest: str, folder: Path) -> Snapshot:
    """Copy snapshot ``digest`` from ``url`` into ``folder/<digest>/`` and return it,
    refusing (SnapshotError) a copy whose rows do not match the hash."""
    if not _DIGEST.fullmatch(digest):
        raise SnapshotError(f"{digest!r} is not a snapshot's digest (64 hex digits)")
    final = folder / digest
    if (final / MANIFEST).is_file():  # already here: it is checked where it is read
        return open_snapshot(folder, digest)
    fs, base = _filesystem(url)
    remote = location(base, digest)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".fetch-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        try:
            if not fs.isfile(f"{remote}/{MANIFEST}"):
                raise SnapshotError(f"No snapshot {digest[:12]} at {url}",
                                    details=[f"looked for {location(url, digest)}/{MANIFEST}"],
                                    hint="check the project file's `snapshots:` URL; the run "
                                         "that made the snapshot pushes it there")
            fs.get_file(f"{remote}/{DATA}", str(tmp / DATA))
            fs.get_file(f"{remote}/{MANIFEST}", str(tmp / MANIFEST))
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"Cannot copy snapshot {digest[:12]} from {url}",
                                details=[f"{type(exc).__name__}: {str(exc)[:300]}"]) from exc
        _verify(tmp, digest, url)
        try:
            os.rename(tmp, final)  # atomic: the workspace sees the whole snapshot or none
        except OSError:
            if not (final / MANIFEST).is_file():  # not a concurrent fetch of the same one
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_snapshot(folder, digest)


def _verify(copy: Path, digest: str, url: str) -> None:
    try:
        manifest = json.loads((copy / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"The copy of snapshot {digest[:12]} at {url} has no readable "
                            "manifest", details=[str(exc)[:300]]) from exc
    try:
        Snapshot(digest, copy, manifest).table()  # reads the rows and checks their hash
    except SnapshotError as exc:
        raise SnapshotError(
            f"The copy of snapshot {digest[:12]} at {url} does not match its hash: it was "
            "changed or damaged after it was stored; refusing to use it",
            details=[*exc.details, f"remote copy: {location(url, digest)}"],
            hint="push the snapshot again from a workspace that holds a good copy, or "
                 "restore the remote copy from a backup") from exc


def _complete(fs, remote: str, snapshot: Snapshot) -> bool:
    """A copy is there, of this snapshot, and its data file is of the same size."""
    try:
        if not fs.isfile(f"{remote}/{MANIFEST}"):
            return False
        manifest = json.loads(fs.cat_file(f"{remote}/{MANIFEST}"))
        return manifest.get("digest") == snapshot.digest and \
            fs.size(f"{remote}/{DATA}") == snapshot.data_file.stat().st_size
    except (OSError, ValueError):  # half there or unreadable: copy it again
        return False


def _upload(fs, local: Path, target: str) -> None:
    partial = f"{target}.tmp-{uuid.uuid4().hex}"
    fs.put_file(str(local), partial)
    try:
        fs.mv(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the move's error is the one to report
            fs.rm(partial)
        raise


def _filesystem(url: str):
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:  # e.g. s3:// without s3fs installed
        raise SnapshotError(f"Cannot open the snapshot store {url}", details=[str(exc)],
                            hint="install the fsspec package for that protocol "
                                 "(s3fs, gcsfs, adlfs)") from exc
    except (ValueError, OSError) as exc:  # an unknown protocol, a malformed URL
        raise SnapshotError(f"Cannot open the snapshot store {url}",
                            details=[f"{type(exc).__name__}: {exc}"],
                            hint="write an fsspec URL (s3://bucket/path, file:///folder) "
                                 "or a folder") from exc
