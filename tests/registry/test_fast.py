"""A version carries its ONNX form, or says why it has none."""

from __future__ import annotations

import numpy as np

from shipyard import registry
from shipyard.registry.runs import FAST_TAG
from shipyard.serve.compiler import FastModel, batch_of, compile_pipeline

ONNX = b"stand-in bytes: the registry stores and checks them, it does not run them"


def _tags(ws, run):
    client = registry._client(ws)
    return client.get_run(run.id).data.tags, client.get_model_version("t", "1").tags


def test_the_onnx_form_comes_back_byte_for_byte(ws, log):
    run = log(ONNX)
    registry.register(ws, "t", run)
    loaded = registry.load(ws, "t")
    assert loaded.onnx == ONNX and loaded.fast_note == ""
    run_tags, version_tags = _tags(ws, run)
    assert run_tags[FAST_TAG] == version_tags[FAST_TAG] == "onnx"


def test_without_an_onnx_form_the_reason_is_kept(ws, log):
    reason = "step 'series' (SeriesFeatures) has no ONNX converter"
    run = log(None, reason)
    registry.register(ws, "t", run)
    loaded = registry.load_version(ws, "t", "1")
    assert loaded.onnx is None and loaded.fast_note == reason
    run_tags, version_tags = _tags(ws, run)
    assert run_tags[FAST_TAG] == version_tags[FAST_TAG] == f"python: {reason}"


def test_a_model_registered_without_trying_says_so(ws, log):
    registry.register(ws, "t", log())
    loaded = registry.load(ws, "t")
    assert loaded.onnx is None
    assert loaded.fast_note == "no fast form was compiled at registration"


def test_a_compiled_linear_pipeline_round_trips(ws, fitted, log):
    pipe, card, ds = fitted
    registry.register(ws, "t", log(compile_pipeline(pipe, card, ds.X).onnx))
    loaded = registry.load(ws, "t")
    assert loaded.fast_note == ""
    fast = FastModel(loaded.onnx, loaded.card).scores(batch_of(ds.X, loaded.card)).values
    np.testing.assert_allclose(fast, pipe.predict(ds.X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(loaded.pipeline.predict(ds.X), pipe.predict(ds.X))
