"""Serving throughput and latency on the models users serve: `shipyard serve` against
`mlflow models serve` and a ceiling.

    .venv/bin/python bench/serve.py [--model demo,adult,fd001] [--quick] [--duration 20]
                                    [--repeats 3] [--json PATH] [--workdir DIR]

Each model is built through Shipyard as a user builds it (its project file, then
`shipyard run`; see bench/serve_models.py): by default three, the demo's RUL
champion, the Adult example and the C-MAPSS FD001 example. For each, three servers
answer the same requests, measured with wrk (it must be on PATH), one server
running at a time:

1. `mlflow models serve -m models:/<name>/<version> --env-manager local`, on the
   project's own MLflow store, with MLflow's default worker count (one);
2. `shipyard serve <project> --workers 2`;
3. bench/serve_ceiling.py, a bare ASGI hello-world on the same uvicorn stack
   (httptools, uvloop, two workers): what HTTP alone costs on this machine.

Scenarios: 1-row and 100-row requests, at 16 and 64 connections (`--duration` s each,
`--repeats` times; `--quick` is a smoke run, 3 s once). Before measuring, each server's
answers are checked against the registered pipeline: HTTP 200 and the same
predictions. The tables give requests/s, rows/s, p50, p99 and errors (medians over the
repetitions; errors summed), the serving path `shipyard serve` took, how closely the
compiled form agreed with the pipeline on the full holdout at registration, the
ratios and the targets. Exit status: 0 when every target is met, 1 when one is not,
2 when the benchmark itself failed (a server did not start or answered wrongly).

A fourth model, ``landings`` (bench/serve_history.py), is served from the history
the server keeps: FD001 with windows of 10/30/50 cycles, 1,000 engines with 200
readings each in the store, one new raw reading per request, against MLflow's
server given each engine's whole history in every request.

`--workdir DIR` keeps the projects and their registered models in DIR and reuses
them on the next run (training all three takes several minutes); `--only
shipyard,ceiling` skips servers (MLflow's takes ~15 s to start and is slow to measure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_models import MODELS, STATEFUL, BenchError, Registered, build, env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: shipyard, mlflow and uvicorn live here
POST_LUA = ROOT / "bench" / "wrk" / "post.lua"
WRK_THREADS = 2
# A request that takes longer than this counts as a timeout error rather than a latency;
# generous, so that a slow server's real latencies are measured rather than censored.
WRK_TIMEOUT = "30s"
SHIPYARD_WORKERS = 2
AGREEMENT = 1e-6  # largest difference allowed between a server's answers and the pipeline's
# The 1-row figures are what one landing or one request costs; 100 rows measure batches.
SCENARIOS = [(1, 16), (1, 64), (100, 16), (100, 64)]  # (rows per request, connections)


# --- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    key: str
    title: str
    workers: str  # how many workers, as said in the output
    command: list[str]  # "{port}" stands for the port it is given
    ready_path: str
    predict_path: str
    bodies: dict[int, bytes]  # request body by rows per request
    note: str = ""
    processes: int = 0  # in its process group once ready: a check on the worker count
    ready_s: float = 0.0  # from start until it answered
    port: int = 0
    checks: dict = field(default_factory=dict)


def server_env(tracking_uri: str) -> dict[str, str]:
    out = env()
    out["MLFLOW_TRACKING_URI"] = tracking_uri
    out["MLFLOW_REGISTRY_URI"] = tracking_uri
    return out


def make_servers(model: Registered, only: set[str]) -> list[Server]:
    ours = {1: json.dumps(model.one).encode(), 100: json.dumps(model.rows).encode()}
    theirs = {1: json.dumps({"dataframe_records": [model.one]}).encode(),
              100: json.dumps({"dataframe_records": model.rows}).encode()}
    host = ["127.0.0.1"]
    shipyard = [str(BIN / "shipyard"), "serve", str(model.project), "--host", *host,
                "--port", "{port}", "--workers", str(SHIPYARD_WORKERS)]
    servers = [
        Server("mlflow", "MLflow models serve", "1 (MLflow's default)",
               [str(BIN / "mlflow"), "models", "serve", "-m",
                f"models:/{model.name}/{model.version}", "--env-manager", "local", "-h",
                *host, "-p", "{port}"],
               "/ping", "/invocations", theirs),
        Server("shipyard", "shipyard serve", str(SHIPYARD_WORKERS), shipyard, "/health",
               "/predict", ours),
        Server("ceiling", "ASGI hello-world", "2",
               [sys.executable, "-m", "uvicorn", "bench.serve_ceiling:app", "--host", *host,
                "--port", "{port}", "--workers", "2", "--http", "httptools", "--loop",
                "uvloop", "--no-access-log", "--log-level", "warning"],
               "/health", "/", ours),
    ]
    return [s for s in servers if s.key in only]


@contextmanager
def running(server: Server, port: int, env: dict, log: Path, timeout: float = 180.0):
    """Start ``server`` in its own process group, wait until it answers, and always stop
    the whole group (MLflow's CLI and uvicorn's supervisor both have children)."""
    say(f"Starting {server.title} on port {port} ...")
    with log.open("wb") as sink:
        server.port = port
        command = [part.replace("{port}", str(port)) for part in server.command]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.perf_counter()
        url = f"http://127.0.0.1:{port}{server.ready_path}"
        while not answers(url):
            if process.poll() is not None:
                raise BenchError(f"{server.title} exited with status {process.returncode} "
                                 f"before answering\n{tail(log)}")
            if time.perf_counter() - started > timeout:
                raise BenchError(f"{server.title} did not answer {url} within {timeout:.0f} s"
                                 f"\n{tail(log)}")
            time.sleep(0.25)
        server.ready_s = round(time.perf_counter() - started, 1)
        say(f"  ready after {server.ready_s} s")
        time.sleep(1.0)  # let every worker finish starting, not only the first to answer
        server.processes = len(group_members(process.pid))
        yield process
    finally:
        stop(process)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the group, then SIGKILL to whatever is left after 20 s."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while group_members(group) and time.monotonic() < deadline:
        process.poll()  # reap the leader so it does not linger as a zombie member
        time.sleep(0.1)
    if group_members(group):
        say(f"  process group {group} ignored SIGTERM for 20 s; killing it")
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    process.wait(timeout=10)


def group_members(group: int) -> list[int]:
    """Live (non-zombie) processes in process group ``group``, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry.name))
    return members


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {log} ---\n" + "\n".join(text)


def post(url: str, body: bytes, timeout: float = 60.0) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")[:500]




# --- checks: every server must answer, and the model servers as the registered pipeline ---


def check(server: Server, port: int, model: Registered) -> None:
    """Ask ``server`` both bodies and compare its answers with the registered pipeline's."""
    url = f"http://127.0.0.1:{port}{server.predict_path}"
    answers_ = {}
    for n, body in server.bodies.items():
        status, answer = post(url, body)
        if status != 200:
            raise BenchError(f"{server.title} answered {status} to the {n}-row body: "
                             f"{str(answer)[:500]}")
        answers_[n] = answer
    if server.key == "ceiling":
        server.checks = {"status": 200}
        return
    values, labels = [], []
    for n in (1, 100):
        got_values, got_labels = read_predictions(server.key, model, answers_[n], n)
        values += got_values
        labels += got_labels
    result = {"status": 200, "rows_checked": 101}
    if labels:
        wrong = sum(a != b for a, b in zip(labels, model.labels, strict=True))
        if wrong:
            raise BenchError(f"{server.title}: {wrong} of 101 labels differ from the "
                             "registered pipeline's")
        result["labels_agree"] = True
    if values:
        gap = float(np.max(np.abs(np.array(values) - model.reference)))
        result["max_gap_vs_pipeline"] = gap
        if gap > AGREEMENT * max(1.0, float(np.max(np.abs(model.reference)))):
            raise BenchError(f"{server.title}: answers differ from the registered pipeline's "
                             f"by up to {gap:.2e}")
    if server.key == "shipyard":
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=10) as answer:
            serving = json.loads(answer.read())["serving"]
        result["serving_path"] = serving["path"]
        if serving.get("note"):
            result["serving_note"] = serving["note"]
        server.note = f"path: {serving['path']}" + (f" ({serving['note']})"
                                                    if serving.get("note") else "")
    server.checks = result
    say(f"  answers checked: {json.dumps(result)}")


def read_predictions(key: str, model: Registered, answer, n: int) -> tuple[list, list]:
    """Values (regression) or positive-class probabilities when the server gives them,
    and labels (classification), from one answer."""
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        raise BenchError(f"{key}: unexpected answer {str(answer)[:300]}")
    items = answer["predictions"]
    if len(items) != n:
        raise BenchError(f"{key}: {len(items)} predictions for {n} rows")
    if key == "shipyard":
        if model.task == "regression":
            return [float(i["prediction"]) for i in items], []
        return [float(i["probability"]) for i in items], [str(i["prediction"]) for i in items]
    # MLflow's sklearn flavour answers predict(): a value or a label per row.
    if model.task == "regression":
        return [float(i) for i in items], []
    return [], [str(i) for i in items]


# --- measuring ----------------------------------------------------------------------------


def run_wrk(url: str, body: Path | None, connections: int, seconds: float,
            script: Path = POST_LUA, extra_env: dict | None = None) -> dict:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds:g}s",
               f"--timeout={WRK_TIMEOUT}", "--latency", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **({"WRK_BODY_FILE": str(body)} if body else {}),
                               **(extra_env or {})},
                          timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (status {done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("RESULT "))
    elapsed = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                  "status_errors", "timeouts"))
    return {"requests": raw["requests"], "seconds": elapsed,
            "rps": raw["requests"] / elapsed if elapsed else 0.0,
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "errors": errors, "error_kinds": {k: raw[k] for k in (
                "connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")}}


def warm_up(server: Server, port: int, bodies: dict[int, Path], seconds: float) -> None:
    """A few sequential requests, then a short wrk run per body: first requests are slow
    (lazy imports, first model call in each worker) and must not count."""
    url = f"http://127.0.0.1:{port}{server.predict_path}"
    for body in server.bodies.values():
        for _ in range(3):
            post(url, body)
    for path in bodies.values():
        run_wrk(url, path, 16, seconds)


def measure(server: Server, port: int, bodies: dict[int, Path], duration: float,
            repeats: int) -> dict[str, list[dict]]:
    url = f"http://127.0.0.1:{port}{server.predict_path}"
    runs: dict[str, list[dict]] = {scenario_key(r, c): [] for r, c in SCENARIOS}
    for rep in range(repeats):
        for rows, connections in SCENARIOS:  # interleaved, so drift spreads over all
            got = run_wrk(url, bodies[rows], connections, duration)
            runs[scenario_key(rows, connections)].append(got)
            say(f"  {server.key} rep {rep + 1}/{repeats} {rows:>3} row(s) x {connections} "
                f"conns: {got['rps']:9.1f} req/s  p50 {got['p50_ms']:8.2f} ms  "
                f"p99 {got['p99_ms']:8.2f} ms  errors {got['errors']}")
    return runs


def scenario_key(rows: int, connections: int) -> str:
    return f"{rows}row-{connections}conn"


def summarise(runs: list[dict], rows: int) -> dict:
    rps = statistics.median(r["rps"] for r in runs)
    return {"rps": rps, "rows_per_s": rps * rows,
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs), "requests": sum(r["requests"] for r in runs)}



# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    text: str
    scenario: str
    measure: str  # "vs_mlflow", "vs_ceiling", "p99_ms", "rows_per_s"
    op: str
    value: float
    models: tuple[str, ...] = tuple(MODELS)  # the models it is judged on


TARGETS = [
    *(Target(f"1 row, {c} conns: our req/s / MLflow's", scenario_key(1, c), "vs_mlflow",
             ">=", 100) for c in (16, 64)),
    *(Target(f"1 row, {c} conns: our req/s / ceiling's", scenario_key(1, c), "vs_ceiling",
             ">=", 0.5) for c in (16, 64)),
    Target("1 row, 16 conns: our p99 (ms)", scenario_key(1, 16), "p99_ms", "<=", 10),
    *(Target(f"100 rows, {c} conns: our rows/s", scenario_key(100, c), "rows_per_s", ">=",
             200_000, ("adult",)) for c in (16, 64)),
]


def ratios(summary: dict[str, dict[str, dict]]) -> dict[str, dict[str, float | None]]:
    out = {}
    for rows, connections in SCENARIOS:
        key = scenario_key(rows, connections)
        ours = summary.get("shipyard", {}).get(key)

        def over(other: str, ours=ours, key=key) -> float | None:
            theirs = summary.get(other, {}).get(key)
            if ours is None or theirs is None or not theirs["rps"]:
                return None
            return ours["rps"] / theirs["rps"]

        out[key] = {"vs_mlflow": over("mlflow"), "vs_ceiling": over("ceiling")}
    return out


def judge(model: str, summary: dict, ratio: dict) -> list[dict]:
    verdicts = []
    for target in TARGETS:
        if model not in target.models:
            continue
        ours = summary.get("shipyard", {}).get(target.scenario)
        if target.measure in ("vs_mlflow", "vs_ceiling"):
            actual = ratio[target.scenario][target.measure]
        else:
            actual = None if ours is None else ours[target.measure]
        if actual is None:
            verdict = "n/a"
        elif ours["errors"]:
            verdict = "NOT met (errors)"  # a fast error is not a fast answer
        else:
            met = actual >= target.value if target.op == ">=" else actual <= target.value
            verdict = "met" if met else "NOT met"
        verdicts.append({"model": model, "target": target.text, "op": target.op,
                         "value": target.value, "actual": actual, "verdict": verdict})
    return verdicts


# --- output ---------------------------------------------------------------------------------


def report(results: dict, context: dict, landings: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    console.print(f"\n[bold]Serving benchmark[/] - {context['machine']['cpus']} CPUs, load "
                  f"average at start {context['machine']['load_at_start']}, "
                  f"{context['config']['duration_s']:g} s x {context['config']['repeats']} "
                  f"per scenario, wrk -t{WRK_THREADS}", soft_wrap=True)
    for key, got in results.items():
        m = got["model"]
        console.print(f"\n[bold]{m['title']}[/] ({key}): {m['name']} version {m['version']}, "
                      f"{m['estimator']}, {m['task']}; registered fast path: "
                      f"{m['fast_path']}; agreement at registration: {m['agreement']}",
                      soft_wrap=True, markup=True)
        for s in got["servers"].values():
            console.print(f"  {s['title']}: workers {s['workers']}, {s['processes']} "
                          f"processes" + (f" - {s['note']}" if s["note"] else ""),
                          soft_wrap=True, markup=False)
        table = Table(title_justify="left")
        for column in ("scenario", "server", "req/s", "rows/s", "p50 ms", "p99 ms", "errors",
                       "ours / MLflow", "ours / ceiling"):
            table.add_column(column, justify="left" if column in ("scenario", "server")
                             else "right")
        for rows, connections in SCENARIOS:
            scenario = scenario_key(rows, connections)
            for server, per in got["summary"].items():
                s = per[scenario]
                ratio = got["ratios"][scenario] if server == "shipyard" else {}
                table.add_row(f"{rows} row(s) x {connections}", server, f"{s['rps']:,.1f}",
                              f"{s['rows_per_s']:,.0f}", f"{s['p50_ms']:.2f}",
                              f"{s['p99_ms']:.2f}", f"{s['errors']:,}",
                              _ratio(ratio.get("vs_mlflow")), _ratio(ratio.get("vs_ceiling")))
        console.print(table)
    if landings:
        import serve_history

        for got in landings.values():
            serve_history.report(console, got)
    table = Table(title="Targets", title_justify="left")
    for column in ("model", "target", "wanted", "actual", "verdict"):
        table.add_column(column, justify="right" if column in ("wanted", "actual") else "left")
    for got in [*results.values(), *landings.values()]:
        for v in got["targets"]:
            style = "green" if v["verdict"] == "met" else "red" if "NOT" in v["verdict"] else ""
            table.add_row(v["model"], v["target"], f"{v['op']} {v['value']:,g}",
                          _number(v["actual"]),
                          f"[{style}]{v['verdict']}[/]" if style else v["verdict"])
    console.print(table)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}x"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("shipyard", "mlflow", "uvicorn", "lightgbm", "scikit-learn"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "?"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    out["wrk"] = (wrk.stdout or wrk.stderr).split("Copyright")[0].strip()
    return out


# --- main -------------------------------------------------------------------------------------



# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = [*MODELS, *STATEFUL]
    parser.add_argument("--model", default=",".join(known),
                        help=f"models to measure (default: {','.join(known)})")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds per measurement (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 s per measurement, once")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--workdir", type=Path,
                        help="keep the projects here and reuse their registered models")
    parser.add_argument("--only", default="mlflow,shipyard,ceiling",
                        help="servers to measure (default: mlflow,shipyard,ceiling)")
    args = parser.parse_args()
    duration, repeats = (3.0, 1) if args.quick else (args.duration, args.repeats)
    warmup = 1.0 if args.quick else 3.0
    only = set(args.only.split(","))
    if unknown := only - {"mlflow", "shipyard", "ceiling"}:
        parser.error(f"unknown servers in --only: {', '.join(sorted(unknown))}")
    models = [m for m in args.model.split(",") if m]
    if unknown := set(models) - set(known):
        parser.error(f"unknown models in --model: {', '.join(sorted(unknown))} "
                     f"(known: {', '.join(known)})")
    try:
        subprocess.run(["wrk", "--version"], capture_output=True)
    except FileNotFoundError:
        say("wrk is not installed (apt-get install wrk)")
        return 2
    # SIGTERM (a CI timeout) must still run the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    keep = args.workdir is not None
    workdir = args.workdir.resolve() if keep else Path(tempfile.mkdtemp(prefix="serve-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, models, workdir, duration, repeats, warmup, only, load_at_start)
    except BenchError as exc:
        say(f"\nBenchmark failed: {exc}")
        return 2
    finally:
        if not keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def run(args, models: list[str], workdir: Path, duration: float, repeats: int, warmup: float,
        only: set[str], load_at_start: str) -> int:
    from shipyard.serve.background import free_port

    context = {
        "machine": {"cpus": os.cpu_count(), "load_at_start": load_at_start,
                    "platform": platform.platform()},
        "versions": versions(),
        "config": {"duration_s": duration, "repeats": repeats, "warmup_s": warmup,
                   "wrk": f"wrk -t{WRK_THREADS} -c<conns> -d{duration:g}s "
                          f"--timeout={WRK_TIMEOUT} --latency -s bench/wrk/post.lua",
                   "scenarios": [{"rows": r, "connections": c} for r, c in SCENARIOS]},
    }
    registered = [build(key, workdir, say) for key in models]  # all trained before measuring
    results, landings = {}, {}
    for model in registered:
        if model.key in STATEFUL:
            import serve_history

            say(f"\n[{model.key}] {model.name} version {model.version} ({model.estimator})")
            landings[model.key] = serve_history.measure(model, workdir, only, duration,
                                                        repeats, warmup)
            continue
        say(f"\n[{model.key}] {model.name} version {model.version} ({model.estimator})")
        servers = make_servers(model, only)
        bodies: dict[str, dict[int, Path]] = {}
        for server in servers:
            bodies[server.key] = {}
            for n, body in server.bodies.items():
                path = workdir / f"body-{model.key}-{server.key}-{n}.json"
                path.write_bytes(body)
                bodies[server.key][n] = path
        raw: dict[str, dict[str, list[dict]]] = {}
        for server in servers:
            port = free_port()
            log = workdir / f"{model.key}-{server.key}.log"
            with running(server, port, server_env(model.tracking_uri), log):
                check(server, port, model)
                warm_up(server, port, bodies[server.key], warmup)
                raw[server.key] = measure(server, port, bodies[server.key], duration, repeats)
        summary = {key: {scenario_key(r, c): summarise(runs[scenario_key(r, c)], r)
                         for r, c in SCENARIOS} for key, runs in raw.items()}
        ratio = ratios(summary)
        results[model.key] = {
            "model": {"title": model.title, "name": model.name, "version": model.version,
                      "task": model.task, "estimator": model.estimator,
                      "fast_path": model.fast_path, "agreement": model.agreement,
                      "training_s": round(model.seconds, 1)},
            "servers": {s.key: {"title": s.title, "workers": s.workers, "note": s.note,
                                "processes": s.processes, "ready_s": s.ready_s,
                                "command": [x.replace("{port}", str(s.port))
                                            for x in s.command],
                                "checks": s.checks} for s in servers},
            "runs": raw, "summary": summary, "ratios": ratio,
            "targets": judge(model.key, summary, ratio)}
    report(results, context, landings)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**context, "models": {**results, **landings}},
                                        indent=2) + "\n")
        say(f"Results written to {args.json}")
    verdicts = [v for got in [*results.values(), *landings.values()] for v in got["targets"]]
    return 1 if any("NOT" in v["verdict"] for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
