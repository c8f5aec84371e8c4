"""bench/serve.py's landings scenario: one raw reading per request; the server keeps
each engine's history and computes the windows itself.

The model is examples/cmapss/fd001.yaml with windows of 10, 30 and 50 cycles
(bench/serve_models.py, ``landings``). Its store holds 1,000 engines with 200
readings each before measuring, sent with ``POST /history`` (the backfill's
rows/s is printed). Every request under load is a new reading of one of them
(bench/wrk/landings.lua), so each one is stored durably, read back with its
engine's history and scored.

MLflow's scoring server answers the same registered pipeline the only way it
can: the engine's history sent in each request. The pipeline counts the cycles
so far (``elapsed``), so the same answer needs the whole history: 200 readings
and the new one, 201 rows per request. Before measuring, both servers' answers
for a new reading of five engines are checked against the pipeline's on the
same history.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from serve_models import DATA, Registered

from serve import (
    AGREEMENT,
    ROOT,
    WRK_THREADS,
    BenchError,
    Server,
    make_servers,
    post,
    run_wrk,
    running,
    say,
    server_env,
)

ENTITIES, HISTORY = 1_000, 200
CONNECTIONS = (16, 64)
CHECKED = 5  # engines whose next reading is checked against the pipeline
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
LANDINGS_LUA = ROOT / "bench" / "wrk" / "landings.lua"
BACKFILL_ROWS = 5_000  # readings per POST /history
TARGETS = [
    ("one reading, 16 conns: our p99 (ms)", 16, "p99_ms", "<=", 10),
    *((f"one reading, {c} conns: our req/s / MLflow's (history in each request)", c,
       "vs_mlflow", ">=", 100) for c in CONNECTIONS),
]


def fleet(loaded) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, next readings): 1,000 engines, each a copy of an FD001 training
    engine that ran more than 200 cycles, renumbered 1..1000; its first 200 cycles,
    and its cycle 201 as the next reading."""
    names = ["unit", "cycle", "os1", "os2", "os3", *(f"s{i}" for i in range(1, 22))]
    readings = pd.read_csv(DATA / "cmapss" / "train_FD001.txt", sep=r"\s+", header=None,
                           names=names)
    long = [u for u, n in readings.groupby("unit").size().items() if n > HISTORY]
    columns = list(loaded.card.schema.names)
    parts = []
    for entity in range(1, ENTITIES + 1):
        engine = readings[readings["unit"] == long[(entity - 1) % len(long)]]
        parts.append(engine.iloc[:HISTORY + 1].assign(unit=entity))
    rows = pd.concat(parts, ignore_index=True)[columns]
    for name in columns:
        if name not in ("unit", "cycle"):
            rows[name] = rows[name].astype(np.float64)
    last = rows["cycle"] == rows.groupby("unit")["cycle"].transform("max")
    return rows[~last].reset_index(drop=True), rows[last].reset_index(drop=True)


def records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def backfill(url: str, history: pd.DataFrame) -> float:
    """POST the history in chunks with the admin key; readings per second."""
    rows = records(history)
    started = time.perf_counter()
    for start in range(0, len(rows), BACKFILL_ROWS):
        chunk = rows[start:start + BACKFILL_ROWS]
        request = urllib.request.Request(
            f"{url}/history", data=json.dumps(chunk).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-API-Key": ADMIN_KEY})
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                got = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise BenchError(f"POST /history answered {exc.code}: {exc.read()[:500]}") from exc
        if got["stored"] + got["already_stored"] != len(chunk):
            raise BenchError(f"POST /history stored {got} of {len(chunk)} readings")
    return len(rows) / (time.perf_counter() - started)


def expected(loaded, history: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """The registered pipeline's answer for each engine's next reading."""
    out = []
    for entity in new["unit"]:
        rows = pd.concat([history[history["unit"] == entity], new[new["unit"] == entity]])
        out.append(loaded.pipeline.predict(loaded.card.schema.model_frame(rows))[-1])
    return np.asarray(out, dtype=np.float64)


def mlflow_body(history: pd.DataFrame, new: pd.DataFrame, entity: int) -> bytes:
    rows = pd.concat([history[history["unit"] == entity], new[new["unit"] == entity]])
    return json.dumps({"dataframe_records": records(rows)}).encode()


def agree(title: str, got: list[float], want: np.ndarray) -> float:
    gap = float(np.max(np.abs(np.asarray(got) - want)))
    if gap > AGREEMENT * max(1.0, float(np.max(np.abs(want)))):
        raise BenchError(f"{title}: answers differ from the pipeline's by up to {gap:.2e}")
    return gap


def measure(model: Registered, workdir: Path, only: set[str], duration: float, repeats: int,
            warmup: float) -> dict:
    """Run the scenario on ``model`` (``landings``); its results, as bench/serve.py
    reports them."""
    from shipyard import registry, spec
    from shipyard.serve.background import free_port
    from shipyard.workspace import Workspace

    workspace = Workspace.of(spec.load(model.project))
    for stale in workspace.root.glob("history.db*"):
        stale.unlink()  # an earlier run's readings: every run starts from the same store
    loaded = registry.load(workspace, model.name)
    history, new = fleet(loaded)
    want = expected(loaded, history, new.iloc[:CHECKED])
    servers = {s.key: s for s in make_servers(model, only) if s.key in ("shipyard", "mlflow")}
    readings = workdir / "landings-readings.txt"
    sensors = [c for c in new.columns if c not in ("unit", "cycle")]
    readings.write_text("\n".join(json.dumps({c: float(r[c]) for c in sensors})[1:-1]
                                  for _, r in new.iterrows()) + "\n")
    runs: dict[str, dict[int, list[dict]]] = {}
    notes: dict[str, str] = {}
    for key, server in servers.items():
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = server_env(model.tracking_uri)
        env["SHIPYARD_ADMIN_KEY"] = ADMIN_KEY
        log = workdir / f"landings-{key}.log"
        with running(server, port, env, log):
            if key == "shipyard":
                rate = backfill(url, history)
                notes[key] = f"history backfilled at {rate:,.0f} readings/s"
                say(f"  {notes[key]}")
                got = []
                for row in records(new.iloc[:CHECKED]):
                    status, answer = post(f"{url}/predict", json.dumps(row).encode())
                    if status != 200:
                        raise BenchError(f"shipyard answered {status}: {answer}")
                    item = answer["predictions"][0]
                    if item["history_rows"] != 50:
                        raise BenchError(f"shipyard read {item['history_rows']} readings, "
                                         "not the 50 its windows need")
                    got.append(item["prediction"])
                gap = agree("shipyard", got, want)
                runs[key] = _load(url, landings_env=lambda base: {
                    "WRK_READINGS": str(readings), "WRK_ENTITIES": str(ENTITIES),
                    "WRK_THREADS": str(WRK_THREADS), "WRK_TIME_BASE": str(base)},
                    duration=duration, repeats=repeats, warmup=warmup, key=key)
                kept = json.loads(urllib.request.urlopen(f"{url}/history/1", timeout=10).read())
                notes[key] += (f"; engine 1 after the load: {kept['readings']:,} readings, "
                               f"{kept['kept']} kept (retention {kept['retention']})")
            else:
                got = []
                for entity in new["unit"].iloc[:CHECKED]:
                    status, answer = post(f"{url}/invocations",
                                          mlflow_body(history, new, int(entity)))
                    if status != 200:
                        raise BenchError(f"MLflow answered {status}: {str(answer)[:300]}")
                    got.append(float(answer["predictions"][-1]))
                gap = agree("MLflow", got, want)
                body = workdir / "landings-mlflow-body.json"
                body.write_bytes(mlflow_body(history, new, 1))
                runs[key] = _load(url + "/invocations", body=body, duration=duration,
                                  repeats=repeats, warmup=warmup, key=key)
                notes[key] = f"{HISTORY + 1} rows per request (the engine's whole history)"
            say(f"  {key}: largest gap to the pipeline on {CHECKED} engines: {gap:.2e}")
    return summarise(model, servers, runs, notes)


def _load(url: str, *, duration: float, repeats: int, warmup: float, key: str,
          body: Path | None = None, landings_env=None) -> dict[int, list[dict]]:
    """wrk runs at each connection count: new readings (``landings_env`` gives the
    landings script its settings for a first time) or one fixed ``body``."""
    predict = url if body is not None else f"{url}/predict"
    base = [1_000]

    def once(connections: int, seconds: float) -> dict:
        if body is not None:
            return run_wrk(predict, body, connections, seconds)
        base[0] += 100_000  # later than every time sent so far
        return run_wrk(predict, None, connections, seconds, script=LANDINGS_LUA,
                       extra_env=landings_env(base[0]))

    once(16, warmup)
    out: dict[int, list[dict]] = {c: [] for c in CONNECTIONS}
    for rep in range(repeats):
        for connections in CONNECTIONS:
            got = once(connections, duration)
            out[connections].append(got)
            say(f"  {key} rep {rep + 1}/{repeats} one reading x {connections} conns: "
                f"{got['rps']:9.1f} req/s  p50 {got['p50_ms']:8.2f} ms  "
                f"p99 {got['p99_ms']:8.2f} ms  errors {got['errors']}")
    return out


def summarise(model: Registered, servers: dict[str, Server], runs: dict, notes: dict) -> dict:
    import statistics

    summary = {key: {c: {"rps": statistics.median(r["rps"] for r in per[c]),
                         "p50_ms": statistics.median(r["p50_ms"] for r in per[c]),
                         "p99_ms": statistics.median(r["p99_ms"] for r in per[c]),
                         "errors": sum(r["errors"] for r in per[c])} for c in CONNECTIONS}
               for key, per in runs.items()}
    ratio = {c: (summary["shipyard"][c]["rps"] / summary["mlflow"][c]["rps"]
                 if {"shipyard", "mlflow"} <= set(summary) else None) for c in CONNECTIONS}
    verdicts = []
    for text, connections, measure_, op, value in TARGETS:
        ours = summary.get("shipyard", {}).get(connections)
        actual = ratio[connections] if measure_ == "vs_mlflow" else \
            (ours or {}).get(measure_)
        if actual is None:
            verdict = "n/a"
        elif ours["errors"]:
            verdict = "NOT met (errors)"
        else:
            verdict = "met" if (actual >= value if op == ">=" else actual <= value) \
                else "NOT met"
        verdicts.append({"model": model.key, "target": text, "op": op, "value": value,
                         "actual": actual, "verdict": verdict})
    return {"model": {"title": model.title, "name": model.name, "version": model.version,
                      "estimator": model.estimator, "fast_path": model.fast_path},
            "servers": {k: {"title": s.title, "workers": s.workers, "note": notes.get(k, "")}
                        for k, s in servers.items()},
            "runs": {k: {str(c): v for c, v in per.items()} for k, per in runs.items()},
            "summary": {k: {str(c): v for c, v in per.items()} for k, per in summary.items()},
            "ratios": {str(c): v for c, v in ratio.items()}, "targets": verdicts}


def report(console, got: dict) -> None:
    from rich.table import Table

    m = got["model"]
    console.print(f"\n[bold]{m['title']}[/] (landings): {m['name']} version {m['version']}, "
                  f"{m['estimator']}; registered fast path: {m['fast_path']}; "
                  f"{ENTITIES:,} engines with {HISTORY} readings of history each",
                  soft_wrap=True)
    for s in got["servers"].values():
        console.print(f"  {s['title']}: workers {s['workers']}"
                      + (f" - {s['note']}" if s["note"] else ""), soft_wrap=True, markup=False)
    table = Table(title_justify="left")
    for column in ("scenario", "server", "req/s", "p50 ms", "p99 ms", "errors",
                   "ours / MLflow"):
        table.add_column(column, justify="left" if column in ("scenario", "server")
                         else "right")
    for c in map(str, CONNECTIONS):
        for server, per in got["summary"].items():
            s = per[c]
            ratio = got["ratios"][c] if server == "shipyard" and got["ratios"][c] else None
            table.add_row(f"one reading x {c}", server, f"{s['rps']:,.1f}",
                          f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}", f"{s['errors']:,}",
                          "" if ratio is None else f"{ratio:,.1f}x")
    console.print(table)

