"""SHA-256 digests of a model version's files: recorded when it is registered,
checked on a local copy before anything in it is unpickled.

The digests live in the model version's tag ``shipyard.sha256`` (compact JSON,
``{path relative to the model directory: hex}``), that is in the tracking
database, apart from the artifact store whose files they vouch for.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from shipyard.errors import RegistryError

TAG = "shipyard.sha256"
_HINT = "the artifact store changed after registration; load another version, or run " \
        "`shipyard run` to register a new one"


def digests(folder: Path) -> dict[str, str]:
    """``{relative POSIX path: SHA-256 hex}`` of every file under ``folder``."""
    return {path.relative_to(folder).as_posix(): sha256(path)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encode(recorded: dict[str, str]) -> str:
    return json.dumps(recorded, sort_keys=True, separators=(",", ":"))


def recorded(tags: dict[str, str], what: str) -> dict[str, str]:
    """The digests in a model version's tags; ``what`` names the version in errors."""
    text = tags.get(TAG)
    if text is None:
        raise RegistryError(f"{what} has no recorded SHA-256 digests of its artifacts; "
                            "refusing to load it",
                            hint="it was registered before Shipyard checked artifacts: run "
                                 "`shipyard run` to register the model again")
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if not (isinstance(found, dict) and found and
            all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())):
        raise RegistryError(f"{what}: the tag {TAG} is not a JSON object of file digests; "
                            "refusing to load it")
    return found


def verify(folder: Path, expected: dict[str, str], what: str) -> None:
    """Check the local copy ``folder`` against ``expected``; raise RegistryError naming
    the first file that is missing or differs. Files nobody recorded are deleted
    from the copy, so only vouched-for files can be read from it (MLflow itself may
    add a ``registered_model_meta`` to a version's directory when it loads one)."""
    root = folder.resolve()
    for name, want in sorted(expected.items()):
        path = (root / name).resolve()
        if not path.is_relative_to(root) or path == root:
            raise RegistryError(f"{what}: the recorded artifact path '{name}' lies outside "
                                "the model directory; refusing to load it")
        if not path.is_file():
            raise RegistryError(f"{what}: artifact {name} is missing from the artifact store; "
                                "refusing to load it", hint=_HINT)
        got = sha256(path)
        if got != want:
            raise RegistryError(f"{what}: artifact {name} does not match its recorded SHA-256 "
                                f"(expected {want[:12]}..., got {got[:12]}...); "
                                "refusing to load it", hint=_HINT)
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.relative_to(root).as_posix() not in expected:
            os.remove(path)
