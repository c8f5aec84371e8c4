"""Which exact form scores a tree model fastest: the figures behind
shipyard/serve/compiler/trees.py's choice, on the demo's RUL champion.

    .venv/bin/python bench/trees.py [--workdir DIR] [--repeats 3000]

Trains the demo's model (`shipyard.demo.init_project` then `shipyard run`, as
bench/serve.py does; a --workdir that bench/serve.py kept is reused), then times
one-row scoring, median over --repeats calls, of:

1. the registered ONNX graph (preparation + exact double TreeEnsemble), one session;
2. the same preparation in ONNX, then LightGBM's own predict on the float64 matrix
   (exact by definition; two calls);
3. the float32 form skl2onnx/onnxmltools write (preparation + float TreeEnsemble),
   which is not exact: each form's largest error on the run's rows is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_models import build  # noqa: E402


def timed(call, repeats: int) -> float:
    for _ in range(50):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def fast_options() -> ort.SessionOptions:
    options = ort.SessionOptions()  # as FastModel runs its session
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), fast_options(),
                                providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="reuse (or keep) the trained demo here")
    parser.add_argument("--repeats", type=int, default=3000)
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="trees-bench-"))).resolve()
    registered = build("demo", workdir, lambda m: print(m, file=sys.stderr))

    from shipyard import registry, spec
    from shipyard.serve.compiler import FastModel, batch_of
    from shipyard.serve.compiler import build as builder
    from shipyard.serve.compiler import model as model_step
    from shipyard.serve.compiler.graph import DOUBLE, FLOAT, Graph
    from shipyard.serve.compiler.steps import prepare
    from shipyard.workspace import Workspace

    project = spec.load(registered.project)
    loaded = registry.load(Workspace.of(project), project.name)
    card, pipeline = loaded.card, loaded.pipeline
    parts = builder.parts(pipeline)
    rows = card.schema.model_frame(_holdout(registered, project))
    one = batch_of(rows.head(1), card)
    everything = batch_of(rows, card)

    fast = FastModel(loaded.onnx, card, pipeline=pipeline)
    feeds = {k: v.reshape(-1, 1) for k, v in one.columns.items()}
    exact = ort.InferenceSession(loaded.onnx, fast_options(), providers=["CPUExecutionProvider"])
    exact_us = timed(lambda: exact.run(None, feeds), args.repeats)
    served_us = timed(lambda: fast.scores(one), args.repeats)

    # The preparation alone, as the compiler writes it, then the booster on its matrix.
    g = Graph(DOUBLE)
    x, width = prepare(g, parts.transforms, card.schema)
    prep = session(builder._assemble(g, builder._inputs(card.schema), x, "regression", DOUBLE))
    booster = parts.model.booster_
    native_us = timed(lambda: booster.predict(prep.run(None, feeds)[0]), args.repeats)

    # The float32 form: what skl2onnx/onnxmltools write for LightGBM.
    g = Graph(FLOAT)
    x, width = prepare(g, parts.transforms, card.schema)
    converted = model_step.convert(parts.model_name, parts.model, width, False, FLOAT)
    out = model_step.join(g, parts.model_name, parts.model, converted, x, FLOAT, ())
    rounded = session(builder._assemble(g, builder._inputs(card.schema), out, "regression",
                                        FLOAT))
    float_us = timed(lambda: rounded.run(None, feeds), args.repeats)

    expected = pipeline.predict(rows)
    all_feeds = {k: v.reshape(-1, 1) for k, v in everything.columns.items()}
    gaps = {
        "exact ONNX graph": np.abs(fast.scores(everything).values - expected).max(),
        "ONNX preparation + LightGBM predict": np.abs(
            booster.predict(prep.run(None, all_feeds)[0]) - expected).max(),
        "float32 ONNX (skl2onnx/onnxmltools)": np.abs(
            rounded.run(None, all_feeds)[0].reshape(-1) - expected).max(),
    }
    gaps["exact, through FastModel.scores"] = gaps["exact ONNX graph"]
    times = {"exact ONNX graph": exact_us, "exact, through FastModel.scores": served_us,
             "ONNX preparation + LightGBM predict": native_us,
             "float32 ONNX (skl2onnx/onnxmltools)": float_us}
    print(f"\nThe demo's champion: {card.estimator}, {booster.num_trees()} trees, "
          f"{width} features; {len(rows):,} rows of its run's snapshot; median of "
          f"{args.repeats} calls")
    header = "max |Δy| on the run's rows"
    print(f"{'form':40} {'1 row µs':>10} {header:>28}")
    for name, us in times.items():
        print(f"{name:40} {us:10.1f} {gaps[name]:28.2e}")
    return 0


def _holdout(registered, project):
    """The rows the champion was judged on: its run's snapshot."""
    import mlflow

    from shipyard.data.snapshot import open_snapshot
    from shipyard.workspace import Workspace

    ws = Workspace.of(project)
    client = mlflow.MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    version = client.get_model_version(registered.name, registered.version)
    tags = client.get_run(version.run_id).data.tags
    digest = tags.get("shipyard.snapshot.test") or tags["shipyard.snapshot"]
    return open_snapshot(ws.snapshots, digest).frame()


if __name__ == "__main__":
    sys.exit(main())
