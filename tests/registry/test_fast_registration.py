"""`shipyard run` registers the ONNX form of a champion that can be compiled, and
the reason when it cannot; either way the run succeeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shipyard import registry, spec
from shipyard.lifecycle import _fast_form, run_project
from shipyard.registry.runs import FAST_TAG
from shipyard.serve.fast import FastModel, batch_of
from tests import helpers
from tests.helpers import frame

PROJECT = """\
name: small
source:
  files: {{rows: rows.csv}}
  query: SELECT * FROM rows ORDER BY eid, t
target: y
task: regression
entity: eid
time: t
split: {{holdout: 0.25, folds: 2}}
models: {models}
evaluate: {{importance: false}}
{extra}
"""


def _run(folder: Path, models: str, extra: str = ""):
    folder.mkdir()
    frame(n=400).drop(columns=["label", "kind"]).to_csv(folder / "rows.csv", index=False)
    (folder / "shipyard.yaml").write_text(PROJECT.format(models=models, extra=extra))
    outcome = run_project(spec.load(folder / "shipyard.yaml"))
    assert outcome.version == "1"
    tag = registry._client(outcome.workspace).get_run(outcome.run_id).data.tags[FAST_TAG]
    return registry.load(outcome.workspace, "small"), tag


def test_a_lightgbm_champion_is_registered_with_its_onnx_form(tmp_path: Path):
    loaded, tag = _run(tmp_path / "p", "[{name: lightgbm, params: {n_estimators: 20}}]")
    assert loaded.onnx is not None and loaded.fast_note == "" and tag == "onnx"
    X = loaded.card.schema.model_frame(frame(n=400, seed=1))
    onnx = FastModel(loaded.onnx, loaded.card).scores(batch_of(X, loaded.card)).values
    np.testing.assert_allclose(onnx, loaded.pipeline.predict(X), rtol=1e-4, atol=1e-4)


def test_a_series_pipeline_is_registered_without_onnx_and_says_why(tmp_path: Path):
    loaded, tag = _run(tmp_path / "p", "[{name: linear}]",
                       "prepare: {series: {windows: [3], stats: [mean]}}")
    assert loaded.onnx is None
    assert loaded.fast_note and "\n" not in loaded.fast_note
    assert tag == f"python: {loaded.fast_note}"


def test_with_the_fast_path_off_nothing_is_compiled(fitted):
    pipe, card, ds = fitted
    off = helpers.project(extra="serve: {fast_path: false}")
    assert _fast_form(off, pipe, card, ds.X) == (
        None, "the fast path is off (serve.fast_path: false)")
