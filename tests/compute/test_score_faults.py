"""A Dask worker killed (SIGKILL) in the middle of batch scoring: its partitions are
scored again elsewhere and the output still holds every input row exactly once."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from distributed import Client
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from shipyard.card import LoadedModel
from shipyard.compute import batch
from shipyard.compute.writers import ParquetOutput
from tests import dask_cluster
from tests.compute.score_project import assert_each_row_once, scored, to_parquet
from tests.serve.models import SCHEMA, raw_rows, regression_model


def slow(model: LoadedModel, seconds: float) -> LoadedModel:
    """The same model, taking ``seconds`` longer per partition: long enough for a
    worker to be killed while it holds one. (A lambda, so that cloudpickle ships it
    by value: the workers cannot import the tests.)"""
    pause = FunctionTransformer(lambda X: (time.sleep(seconds), X)[1])
    pipeline = Pipeline([("pause", pause.fit(None)), *model.pipeline.steps])
    return LoadedModel(pipeline=pipeline, card=model.card)


def test_a_killed_worker_loses_no_row_and_duplicates_none(tmp_path):
    model = slow(regression_model(), 0.25)
    frame = pd.DataFrame(raw_rows(1200, seed=5))
    path = to_parquet(frame, tmp_path / "in.parquet")
    cluster = dask_cluster.Cluster(workers=3).start()
    held = []
    try:
        with Client(cluster.address, timeout=10) as client:
            victim = next(a for a, w in client.scheduler_info()["workers"].items()
                          if w["name"] == "w0")

            def progress(step, done, total):
                if done == 6 and not held:  # a third of the way: kill w0 mid-scoring
                    held.extend(client.processing(workers=[victim])[victim])
                    cluster.kill_worker(0)

            result = batch.score(model, [path], ParquetOutput(str(tmp_path / "o")),
                                 client=client, partition_rows=60, progress=progress)
        assert cluster.alive() == 2
    finally:
        cluster.stop()
    assert held, "w0 held no partition when it was killed"
    assert (result.rows, result.partitions) == (1200, 20)
    out = scored(tmp_path / "o")
    assert_each_row_once(out, 1200)
    want = model.pipeline.predict(SCHEMA.model_frame(frame))
    np.testing.assert_allclose(out["prediction"], want, rtol=1e-12)
