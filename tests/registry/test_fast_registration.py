"""`shipyard run` registers the ONNX form of a champion that can be compiled, and
the reason when it cannot; either way the run succeeds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from shipyard import registry, spec
from shipyard.lifecycle import _fast_form, run_project
from shipyard.registry.runs import FAST_TAG
from shipyard.serve.compiler import FastModel, batch_of
from shipyard.serve.engine import engine_for
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
    tags = registry._client(outcome.workspace).get_run(outcome.run_id).data.tags
    return registry.load(outcome.workspace, "small"), tags[FAST_TAG], tags


def test_a_lightgbm_champion_is_registered_with_its_onnx_form(tmp_path: Path):
    loaded, tag, tags = _run(tmp_path / "p", "[{name: lightgbm, params: {n_estimators: 20}}]")
    assert loaded.onnx is not None and loaded.fast_note == "" and tag == "onnx"
    # checked on every holdout row (a quarter of 400) and on rows at the split thresholds
    assert re.fullmatch(r"max \|Δy\| \S+ on 100 holdout rows and [\d,]+ rows on split "
                        r"thresholds", tags["shipyard.fast_agreement"])
    X = loaded.card.schema.model_frame(frame(n=400, seed=1))
    onnx = FastModel(loaded.onnx, loaded.card).scores(batch_of(X, loaded.card)).values
    np.testing.assert_allclose(onnx, loaded.pipeline.predict(X), rtol=1e-6, atol=1e-9)


def test_a_series_pipeline_is_registered_with_its_windows_left_to_python(tmp_path: Path):
    loaded, tag, _ = _run(tmp_path / "p", "[{name: linear}]",
                          "prepare: {series: {windows: [3], stats: [mean]}}")
    assert loaded.onnx is not None and tag == "onnx"
    engine = engine_for(loaded)
    assert engine.path == "onnx"
    runs = {s["step"]: s["runs"] for s in engine.describe()["steps"]}
    assert runs["series"] == "python" and runs["model"] == "compiled"
    X = loaded.card.schema.model_frame(frame(n=200, seed=2))
    np.testing.assert_allclose(engine.score(batch_of(X, loaded.card)).values,
                               loaded.pipeline.predict(X), rtol=1e-9, atol=1e-9)


def test_a_model_that_cannot_be_compiled_is_registered_without_onnx_and_says_why(
        tmp_path: Path):
    loaded, tag, _ = _run(tmp_path / "p", "[{name: linear}]",
                          "prepare: {impute: {numeric: knn}}")
    assert loaded.onnx is None
    assert "KNNImputer" in loaded.fast_note and "\n" not in loaded.fast_note
    assert tag == f"python: {loaded.fast_note}"
    engine = engine_for(loaded)
    assert engine.path == "python" and "KNNImputer" in engine.describe()["note"]
    assert {s["runs"] for s in engine.describe()["steps"]} == {"python"}


def test_with_the_fast_path_off_nothing_is_compiled(fitted):
    pipe, card, ds = fitted
    off = helpers.project(extra="serve: {fast_path: false}")
    assert _fast_form(off, None, pipe, card, ds) == (
        None, "the fast path is off (serve.fast_path: false)")
