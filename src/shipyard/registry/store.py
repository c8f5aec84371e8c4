"""The embedded MLflow store: a SQLite file in the workspace.

MLflow builds a new store by running its whole chain of schema migrations,
which takes 7-10 s here, on every new workspace (every `shipyard demo`, every
new project). An empty store is the same file each time for one MLflow
version, so it is built once, kept in the user's cache, and copied.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path


def ensure(db: Path) -> None:
    """Make sure the SQLite store ``db`` exists, copying a cached empty one."""
    if db.exists():
        return
    template = _cache_dir() / f"mlflow-{version('mlflow')}-empty.db"
    if not template.exists():
        _build(template)
    db.parent.mkdir(parents=True, exist_ok=True)
    partial = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    shutil.copyfile(template, partial)
    os.replace(partial, db)


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "shipyard"


def _build(template: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    template.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
        db = Path(tmp) / "empty.db"
        store = SqlAlchemyStore(f"sqlite:///{db}", Path(tmp, "artifacts").as_uri())
        store.engine.dispose()
        os.replace(db, template)  # atomic: a half-built template is never seen
