"""Where a request's time goes inside `shipyard serve`, stage by stage, without HTTP.

    .venv/bin/python bench/hotpath.py [--model demo,adult,fd001] [--workdir DIR] [--calls 2000]

For each model (built as bench/serve.py builds it; a --workdir it kept is reused),
the served app is called in-process through ASGI with the same 1-row and 100-row
bodies bench/serve.py sends, and each stage of the hot path is timed on its own
(median over --calls): JSON decoding, validation, column arrays, scoring (the
compiled graph, or the Python steps then the graph), answer items and encoding,
and the whole ASGI call with the prediction log on. What the HTTP server itself
costs is bench/serve.py's ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_models import MODELS, build  # noqa: E402
from trees import timed  # noqa: E402


def whole(app, body: bytes, calls: int) -> float:
    scope = {"type": "http", "method": "POST", "path": "/predict",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"the app answered {message['status']}")

    async def run() -> float:
        samples = []
        for i in range(calls + 100):
            started = time.perf_counter()
            await app(scope, receive, send)
            if i >= 100:
                samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1e6

    return asyncio.run(run())


def stages(engine, card, optional, body: bytes, calls: int) -> dict[str, float]:
    from shipyard.serve import inputs, predict, responses

    schema = card.schema
    rows = inputs.rows_of(inputs.parse(body), 1000)
    checked = inputs.checked(rows, schema, optional)
    batch = inputs.to_batch([checked], schema)
    scores = engine.score(batch)
    return {
        "decode": timed(lambda: inputs.rows_of(inputs.parse(body), 1000), calls),
        "validate": timed(lambda: inputs.checked(rows, schema, optional), calls),
        "arrays": timed(lambda: inputs.to_batch([checked], schema), calls),
        "score": timed(lambda: engine.score(batch), calls),
        "answer": timed(lambda: responses.encode(card, predict.items(card, scores)), calls),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=",".join(MODELS))
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="hotpath-"))).resolve()

    from shipyard import registry, spec
    from shipyard.serve.worker import app_for
    from shipyard.workspace import Workspace

    print(f"{'model':7} {'rows':>4} {'decode':>8} {'validate':>9} {'arrays':>8} "
          f"{'score':>9} {'answer':>8} {'sum':>9} {'ASGI call':>10}   (µs, medians; path)")
    for key in args.model.split(","):
        registered = build(key, workdir, lambda m: print(m, file=sys.stderr))
        project = spec.load(registered.project)
        model = registry.load(Workspace.of(project), project.name)
        app = app_for(project, model)
        engine = app.state.engine
        for n, payload in ((1, registered.one), (100, registered.rows)):
            body = json.dumps(payload).encode()
            calls = args.calls if n == 1 else max(50, args.calls // 20)
            got = stages(engine, model.card, app.state.optional, body, calls)
            total = whole(app, body, calls)
            print(f"{key:7} {n:>4} {got['decode']:8.1f} {got['validate']:9.1f} "
                  f"{got['arrays']:8.1f} {got['score']:9.1f} {got['answer']:8.1f} "
                  f"{sum(got.values()):9.1f} {total:10.1f}   {engine.path}")
        app.state.batcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
