"""A version whose stored files changed after registration is refused, before
anything in them is unpickled; the other versions still load."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from shipyard import registry
from shipyard.errors import RegistryError
from shipyard.registry import integrity

ONNX = b"stand-in bytes: the registry stores and checks them, it does not run them"


def _stored(ws, version: int, name: str) -> Path:
    (path,) = [p for p in registry.artifact_paths(ws, "t", version)
               if p.as_posix().endswith("/" + name)]
    return path


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


class _Payload:
    """Unpickling it makes a folder: proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_every_file_of_a_version_has_its_digest_recorded(ws, log):
    registry.register(ws, "t", log(ONNX))
    recorded = json.loads(registry._client(ws).get_model_version("t", "1").tags[integrity.TAG])
    files = registry.artifact_paths(ws, "t", 1)
    assert {"MLmodel", "model.pkl", "fast/model.onnx"} <= set(recorded)
    assert len(recorded) == len(files)
    for path in files:
        name = next(k for k in recorded if path.as_posix().endswith("/" + k))
        assert recorded[name] == integrity.sha256(path)


@pytest.mark.parametrize("name", ["model.pkl", "fast/model.onnx", "MLmodel"])
def test_a_changed_byte_is_refused_and_other_versions_still_load(ws, log, name):
    registry.register(ws, "t", log(ONNX))
    registry.register(ws, "t", log(ONNX))
    _flip_a_byte(_stored(ws, 2, name))
    with pytest.raises(RegistryError, match=rf"^Version 2 of 't': artifact {name} does not "
                                            r"match its recorded SHA-256 \(expected [0-9a-f]{12}"
                                            r"\.\.\., got [0-9a-f]{12}\.\.\.\); refusing"):
        registry.load(ws, "t")
    with pytest.raises(RegistryError, match=f"artifact {name} does not match"):
        registry.load_version(ws, "t", 2)
    assert registry.champion_version(ws, "t") == "2"  # the registry is unchanged
    assert registry.load(ws, "t", registry.PREVIOUS).onnx == ONNX
    assert registry.load_version(ws, "t", 1).card.version == "1"


def test_a_swapped_pickle_is_never_unpickled(ws, log, tmp_path):
    registry.register(ws, "t", log())
    marker = tmp_path / "unpickled"
    _stored(ws, 1, "model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(RegistryError, match="artifact model.pkl does not match"):
        registry.load(ws, "t")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.pkl", "fast/model.onnx"])
def test_a_deleted_file_is_refused(ws, log, name):
    registry.register(ws, "t", log(ONNX))
    _stored(ws, 1, name).unlink()
    with pytest.raises(RegistryError, match=f"^Version 1 of 't': artifact {name} is missing "
                                            "from the artifact store; refusing to load it"):
        registry.load(ws, "t")


def test_a_file_added_later_is_ignored(ws, log, fitted):
    registry.register(ws, "t", log())
    folder = _stored(ws, 1, "MLmodel").parent
    (folder / "registered_model_meta").write_text("model_name: t\n")  # as MLflow may add
    loaded = registry.load(ws, "t")
    assert loaded.card.version == "1" and loaded.pipeline is not None


@pytest.mark.parametrize("tag", [None, "not json", "{}"])
def test_a_version_without_usable_digests_is_refused(ws, log, tag):
    registry.register(ws, "t", log())
    client = registry._client(ws)
    if tag is None:  # as a version registered before digests were recorded
        client.delete_model_version_tag("t", "1", integrity.TAG)
        expected = "Version 1 of 't' has no recorded SHA-256 digests"
    else:
        client.set_model_version_tag("t", "1", integrity.TAG, tag)
        expected = "Version 1 of 't': the tag shipyard.sha256 is not"
    with pytest.raises(RegistryError, match=expected):
        registry.load(ws, "t")


def test_a_recorded_path_outside_the_model_is_refused(ws, log):
    registry.register(ws, "t", log())
    client = registry._client(ws)
    recorded = json.loads(client.get_model_version("t", "1").tags[integrity.TAG])
    recorded["../../mlflow.db"] = "0" * 64
    client.set_model_version_tag("t", "1", integrity.TAG, integrity.encode(recorded))
    with pytest.raises(RegistryError, match="lies outside the model directory"):
        registry.load(ws, "t")
