"""``extends: other.yaml``: a second model over the same data, in its own project file.

A project that extends another takes the other's data sections (where the rows
come from, their entity and time, the split, the features, the preparation, where
runs are tracked and computed) and writes everything about its own model itself:
its name, task, target, models, metric, gates, serving, monitoring and retraining.
Only the data is shared, so the parent's alerts, gates or companions never leak
into a model they were not written for. Inside a shared section the child's keys
win: mappings are merged key by key, a list or a value replaces the parent's.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from shipyard.errors import SpecError
from shipyard.spec import yamlpos

SHARED = ("source", "entity", "time", "split", "features", "prepare", "tracking", "compute")


def resolve(data: dict, name: str, file: Path | None, seen: tuple[Path, ...] = ()) -> dict:
    """``data`` (a project file's keys, before ``${...}`` is expanded) with the
    ``extends`` chain merged in; raises :class:`SpecError` naming the file at fault."""
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise SpecError(f"{name}: extends: expected the path of another project file, "
                        f"got {parent_ref!r}")
    base = file.parent if file else Path.cwd()
    path = Path(parent_ref).expanduser()
    path = (path if path.is_absolute() else base / path).resolve()
    chain = (*seen, *([file.resolve()] if file else []))
    if path in chain:
        loop = " -> ".join(p.name for p in (*chain, path))
        raise SpecError(f"{name}: extends: the project files extend each other in a loop "
                        f"({loop})")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{name}: extends: no project file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{name}: extends: cannot read {path}: {exc}") from None
    try:
        parent, _, _ = yamlpos.load(text)
    except yamlpos.YamlProblem as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise SpecError(f"{where}: {exc.message} (the project file {name} extends)") from None
    if not isinstance(parent, dict):
        raise SpecError(f"{path}: expected a mapping of keys, the project file {name} extends")
    parent = resolve(parent, str(path), path, chain)
    own = {k: v for k, v in data.items() if k != "extends"}
    shared = {k: parent[k] for k in SHARED if k in parent}
    return {**own, **{k: merge(shared[k], own[k]) if k in own else shared[k]
                      for k in shared}}


def merge(parent, child):
    """``child`` over ``parent``: mappings key by key, anything else replaced."""
    if isinstance(parent, dict) and isinstance(child, dict):
        out = dict(parent)
        for key, value in child.items():
            out[key] = merge(parent[key], value) if key in parent else value
        return out
    return child


def text_of(data: dict, name: str) -> str:
    """The merged project as one self-contained file (``${...}`` kept): what a run
    of a project that extends another records, to be rebuilt from."""
    return (f"# {name}, merged with the project file it builds on, as Shipyard read it\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
