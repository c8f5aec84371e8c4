"""Serving throughput and latency: `shipyard serve` against `mlflow models serve` and a ceiling.

    .venv/bin/python bench/serve.py [--quick] [--duration 20] [--repeats 3] [--json PATH]

One model is built and registered through Shipyard (`shipyard run` on a generated
Adult-like data set: imputation, one-hot encoding and a 200-tree LightGBM), and three
servers answer the same requests, measured with wrk (it must be on PATH), one server
running at a time:

1. `mlflow models serve -m models:/<name>/<version> --env-manager local`, on the
   project's own MLflow store, with MLflow's default worker count (one);
2. `shipyard serve <project> --workers 2`;
3. bench/serve_ceiling.py, a bare ASGI hello-world on the same uvicorn stack
   (httptools, uvloop, two workers): what HTTP alone costs on this machine.

Scenarios: 1-row and 100-row requests, at 16 and 64 connections (`--duration` s each,
`--repeats` times; `--quick` is a smoke run, 3 s once). Before measuring, each server's
answers are checked: HTTP 200, and the same predictions as the registered model.

Tables per scenario give requests/s, rows/s, p50, p99 and errors (medians over the
repetitions; errors summed), then ratios and the targets. Exit status: 0 when every
target is met, 1 when one is not, 2 when the benchmark itself failed (a server did not
start or answered wrongly).

Other options: `--workdir DIR` keeps the project and its registered model in DIR and
reuses them on the next run (training takes a minute or two); `--only shipyard,ceiling`
skips servers (MLflow's takes ~15 s to start and is slow to measure).
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: shipyard, mlflow and uvicorn live here
POST_LUA = ROOT / "bench" / "wrk" / "post.lua"
NAME = "serve-bench"  # the project: MLflow experiment and registered model
POSITIVE = ">50K"
WRK_THREADS = 2
# Generous: MLflow's server queues 64 connections behind ~30 req/s, i.e. seconds of
# latency; with wrk's default of 2 s those requests would count as errors, not latency.
WRK_TIMEOUT = "30s"
SHIPYARD_WORKERS = 2
AGREEMENT = 1e-5  # largest difference allowed between two servers' probabilities

SCENARIOS = [(1, 16), (1, 64), (100, 16), (100, 64)]  # (rows per request, connections)


# --- the data: an Adult-like census extract with a real signal ---------------------------

NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
TEXT = ["workclass", "education", "marital_status", "occupation", "relationship", "race",
        "sex", "native_country"]
FEATURES = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
            "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
            "hours_per_week", "native_country"]  # Adult's column order

# Shares roughly as in the 1994 census extract; effects are log-odds of earning >50K.
WORKCLASS = {"Private": (0.697, 0.0), "Self-emp-not-inc": (0.078, -0.2),
             "Local-gov": (0.064, 0.1), "State-gov": (0.040, 0.0),
             "Self-emp-inc": (0.034, 0.7), "Federal-gov": (0.029, 0.5),
             "Without-pay": (0.0005, -2.0), "Never-worked": (0.0003, -2.0)}
EDUCATION = {"Preschool": (1, 0.002), "1st-4th": (2, 0.005), "5th-6th": (3, 0.010),
             "7th-8th": (4, 0.020), "9th": (5, 0.016), "10th": (6, 0.029),
             "11th": (7, 0.036), "12th": (8, 0.013), "HS-grad": (9, 0.322),
             "Some-college": (10, 0.224), "Assoc-voc": (11, 0.042), "Assoc-acdm": (12, 0.033),
             "Bachelors": (13, 0.164), "Masters": (14, 0.053), "Prof-school": (15, 0.018),
             "Doctorate": (16, 0.013)}
MARITAL = {"Married-civ-spouse": 0.46, "Never-married": 0.33, "Divorced": 0.136,
           "Separated": 0.031, "Widowed": 0.030, "Married-spouse-absent": 0.013,
           "Married-AF-spouse": 0.001}
OCCUPATION = {"Prof-specialty": (0.134, 0.6), "Craft-repair": (0.133, 0.0),
              "Exec-managerial": (0.132, 0.8), "Adm-clerical": (0.122, -0.1),
              "Sales": (0.119, 0.2), "Other-service": (0.107, -1.2),
              "Machine-op-inspct": (0.065, -0.4), "Transport-moving": (0.052, -0.2),
              "Handlers-cleaners": (0.045, -0.9), "Farming-fishing": (0.032, -0.8),
              "Tech-support": (0.030, 0.4), "Protective-serv": (0.021, 0.3),
              "Priv-house-serv": (0.005, -2.0), "Armed-Forces": (0.0003, 0.0)}
RACE = {"White": 0.854, "Black": 0.096, "Asian-Pac-Islander": 0.032,
        "Amer-Indian-Eskimo": 0.010, "Other": 0.008}
COUNTRIES = ["Mexico", "Philippines", "Germany", "Canada", "Puerto-Rico", "El-Salvador",
             "India", "Cuba", "England", "Jamaica", "South", "China", "Italy",
             "Dominican-Republic", "Vietnam", "Guatemala", "Japan", "Poland", "Columbia",
             "Taiwan", "Haiti", "Iran", "Portugal", "Nicaragua", "Peru", "Greece", "France",
             "Ecuador", "Ireland", "Hong", "Trinadad&Tobago", "Cambodia", "Laos", "Thailand",
             "Yugoslavia", "Outlying-US(Guam-USVI-etc)", "Hungary", "Honduras", "Scotland",
             "Holand-Netherlands"]


def adult_like(n: int = 30_000, seed: int = 0) -> pd.DataFrame:
    """``n`` census-like rows with Adult's 14 features and an ``income`` label.

    Missing values as in Adult (workclass and occupation together, native country)
    plus a few missing working hours, so both imputers have work to do."""
    rng = np.random.default_rng(seed)

    def pick(table: dict, size: int = n) -> np.ndarray:
        names = list(table)
        shares = np.array([v[0] if isinstance(v, tuple) else v for v in table.values()])
        return rng.choice(np.array(names, dtype=object), size=size, p=shares / shares.sum())

    age = np.clip(17 + rng.gamma(2.2, 9.5, n), 17, 90).astype(int)
    sex = np.where(rng.random(n) < 0.67, "Male", "Female").astype(object)
    education = rng.choice(np.array(list(EDUCATION), dtype=object), size=n,
                           p=_normalised([p for _, p in EDUCATION.values()]))
    education_num = np.array([EDUCATION[e][0] for e in education])
    # The young are mostly single; everyone else follows the census shares.
    marital = pick(MARITAL)
    young = age < 25
    marital[young] = np.where(rng.random(young.sum()) < 0.85, "Never-married",
                              pick(MARITAL, young.sum()))
    married = np.isin(marital, ["Married-civ-spouse", "Married-AF-spouse"])
    relationship = _relationship(rng, marital, married, sex, age)
    # Graduates lean to professional and managerial work.
    occupation = pick(OCCUPATION)
    graduate = (education_num >= 13) & (rng.random(n) < 0.5)
    occupation[graduate] = rng.choice(np.array(["Prof-specialty", "Exec-managerial"],
                                               dtype=object), size=graduate.sum())
    workclass = pick(WORKCLASS)
    race = pick(RACE)
    # Mexico first, then ever rarer countries, as in the census.
    abroad = rng.choice(np.array(COUNTRIES, dtype=object), size=n,
                        p=_normalised(1 / np.arange(1, len(COUNTRIES) + 1)))
    country = np.where(rng.random(n) < 0.912, "United-States", abroad).astype(object)
    hours = np.clip(np.round(rng.normal(40, 12, n)), 1, 99)
    gain = np.where(rng.random(n) < 0.08,
                    np.clip(np.round(rng.lognormal(8.3, 1.0, n)), 100, 99_999), 0)
    loss = np.where(rng.random(n) < 0.047, np.round(rng.normal(1900, 350, n)).clip(150), 0)
    fnlwgt = np.round(rng.lognormal(np.log(178_000), 0.5, n))  # a sampling weight: no signal

    centred = age - 40
    logit = (0.35 * (education_num - 10) + 2.2 * married + 0.05 * centred
             - 0.0012 * centred ** 2 + 0.03 * (hours - 40) + 0.35 * (sex == "Male")
             + np.array([OCCUPATION[o][1] for o in occupation])
             + np.array([WORKCLASS[w][1] for w in workclass])
             + 2.5 * (gain > 5000) + 0.6 * (loss > 1500))
    # The intercept that makes about 24% earn >50K, as in Adult.
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if np.mean(_sigmoid(logit + mid)) < 0.24 else (low, mid)
    income = np.where(rng.random(n) < _sigmoid(logit + low), ">50K", "<=50K")

    frame = pd.DataFrame({
        "age": age, "workclass": workclass, "fnlwgt": fnlwgt.astype(int),
        "education": education, "education_num": education_num,
        "marital_status": marital, "occupation": occupation, "relationship": relationship,
        "race": race, "sex": sex, "capital_gain": gain.astype(int),
        "capital_loss": loss.astype(int), "hours_per_week": hours, "native_country": country,
        "income": income})
    unemployed = rng.random(n) < 0.056
    frame.loc[unemployed, ["workclass", "occupation"]] = None
    frame.loc[rng.random(n) < 0.018, "native_country"] = None
    frame.loc[rng.random(n) < 0.01, "hours_per_week"] = np.nan
    frame["hours_per_week"] = frame["hours_per_week"].astype("Int64")
    return frame


def _relationship(rng, marital, married, sex, age) -> np.ndarray:
    n = len(marital)
    out = np.empty(n, dtype=object)
    out[married] = np.where(sex[married] == "Male", "Husband", "Wife")
    single = ~married
    child = single & (age < 25) & (rng.random(n) < 0.6)
    out[child] = "Own-child"
    rest = single & ~child
    out[rest] = rng.choice(np.array(["Not-in-family", "Unmarried", "Other-relative",
                                     "Own-child"], dtype=object),
                           size=rest.sum(), p=[0.58, 0.30, 0.07, 0.05])
    return out


def _normalised(shares) -> np.ndarray:
    shares = np.asarray(shares, dtype=float)
    return shares / shares.sum()


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def request_rows(frame: pd.DataFrame, seed: int = 1) -> tuple[dict, list[dict]]:
    """One complete row, and 100 rows (some with missing values), as JSON records.

    A missing number is sent as null, a missing text value as "" (Shipyard's marker for
    missing text). MLflow's server cannot take null text for this model: its text
    imputer looks for "", so a null passes through it. In a 1-row request it becomes an
    unknown category and the answer is silently different (0.057 instead of 0.067 for
    one row here); in a request where a text column mixes strings and nulls, scikit-learn
    refuses the NaN and the server answers 400 for the whole request."""
    features = frame.drop(columns="income")
    gaps = features[features["hours_per_week"].isna()].sample(2, random_state=seed)
    rest = features.drop(index=gaps.index).sample(98, random_state=seed)
    sample = pd.concat([gaps, rest]).sample(frac=1, random_state=seed)
    rows = [_record(row) for row in sample.to_dict("records")]
    complete = features.dropna().iloc[0].to_dict()
    return _record(complete), rows


def _record(row: dict) -> dict:
    out = {}
    for name in FEATURES:
        value = row[name]
        if name in TEXT:
            out[name] = "" if pd.isna(value) else str(value)
        else:
            out[name] = None if pd.isna(value) else int(value)
    return out


# --- the project, trained and registered through Shipyard --------------------------------

PROJECT = f"""\
# Written by bench/serve.py: one fixed model for the serving benchmark.
name: {NAME}
source:
  files: {{adult: adult.csv}}
  query: SELECT * FROM adult
target: income
task: binary
positive_class: "{POSITIVE}"
features:
  include: [{", ".join(FEATURES)}]
split: {{holdout: 0.2, folds: 3, strategy: stratified}}
prepare:
  impute: {{numeric: median, text: constant}}
  encode: {{text: onehot, max_onehot: 50}}   # every column one-hot, native_country too
  scale: none
models:
  - name: lightgbm
    params: {{n_estimators: 200}}
tuning: {{early_stopping: null}}   # keep all 200 trees
evaluate: {{importance: false, learning_curves: false}}
metric: roc_auc
seed: 0
"""


@dataclass
class Registered:
    project: Path  # the shipyard.yaml
    tracking_uri: str
    version: str
    trees: int
    seconds: float  # training wall time; 0 when an earlier run's model was reused
    reference: np.ndarray  # P(>50K) of the registered model on the 100 benchmark rows
    reference_one: float  # ... and on the single row


def build_model(workdir: Path, rows: list[dict], one: dict, frame: pd.DataFrame) -> Registered:
    """Write the data and project file into ``workdir`` and run `shipyard run` on them,
    unless the workdir already holds a champion trained on exactly these; then load the
    registered version."""
    from shipyard import spec
    from shipyard.workspace import Workspace

    project, data = workdir / "shipyard.yaml", workdir / "adult.csv"
    csv = frame.to_csv(index=False)
    same = project.exists() and project.read_text() == PROJECT and data.exists() \
        and data.read_text() == csv
    if not same:
        project.write_text(PROJECT)
        data.write_text(csv)
    try:
        ws = Workspace.of(spec.load(project))
    except Exception as exc:  # e.g. this checkout's schema has changed under the project
        raise BenchError(f"the project file does not load: {exc}") from exc
    # No store yet means nothing registered; asking MLflow would build a store the slow way.
    version = champion(ws.tracking_uri) if same and (ws.root / "mlflow.db").exists() else None
    seconds = 0.0
    if version is None:
        say(f"Training and registering the model with `shipyard run {project}` ...")
        started = time.perf_counter()
        # The progress bars go to stderr so that stdout holds only the results.
        done = subprocess.run([str(BIN / "shipyard"), "run", str(project)], cwd=workdir,
                              stdout=sys.stderr, stderr=sys.stderr, env=server_env())
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise BenchError(f"`shipyard run` failed with exit status {done.returncode}")
        version = champion(ws.tracking_uri)
        if version is None:
            raise BenchError("`shipyard run` registered no champion")
    else:
        say(f"Reusing version {version} of {NAME} registered in {workdir} (same data and "
            "project file); a fresh --workdir trains anew")
    trees, reference = reference_probabilities(ws.tracking_uri, version, rows + [one])
    return Registered(project, ws.tracking_uri, version, trees, seconds, reference[:-1],
                      float(reference[-1]))


def champion(tracking_uri: str) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        return str(client.get_model_version_by_alias(NAME, "champion").version)
    except MlflowException:
        return None


def reference_probabilities(tracking_uri: str, version: str, rows: list[dict]):
    """The registered version's P(>50K) for ``rows``, computed the way MLflow's server
    computes its answers (its pyfunc loader and input schema enforcement), but asking
    for probabilities: the sklearn flavour's server answers only with labels."""
    import mlflow.pyfunc
    from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{NAME}/{version}")
    proba_model = mlflow.pyfunc.PyFuncModel(model_meta=loaded.metadata,
                                            model_impl=loaded._model_impl,
                                            predict_fn="predict_proba")
    pipeline = loaded.get_raw_model()
    classes = [str(c) for c in pipeline.classes_]
    # The server's own parsing of {"dataframe_records": rows}: it casts to the signature.
    frame = dataframe_from_parsed_json(rows, "records", loaded.metadata.get_input_schema())
    proba = np.asarray(proba_model.predict(frame))
    estimator = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    trees = estimator.booster_.num_trees() if hasattr(estimator, "booster_") else -1
    return trees, proba[:, classes.index(POSITIVE)]


# --- servers ------------------------------------------------------------------------------


class BenchError(Exception):
    """The benchmark could not run as intended (exit status 2)."""


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


def server_env(tracking_uri: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow runs `uvicorn` by name
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("MLFLOW_MODELS_WORKERS", None)  # MLflow's default worker count, whatever is set
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
        env["MLFLOW_REGISTRY_URI"] = tracking_uri
    return env


def make_servers(model: Registered, one: dict, rows: list[dict], only: set[str]) -> list[Server]:
    ours = {1: json.dumps(one).encode(), 100: json.dumps(rows).encode()}
    theirs = {1: json.dumps({"dataframe_records": [one]}).encode(),
              100: json.dumps({"dataframe_records": rows}).encode()}
    host = ["127.0.0.1"]
    shipyard = [str(BIN / "shipyard"), "serve", str(model.project), "--host", *host,
                "--port", "{port}", "--workers", str(SHIPYARD_WORKERS)]
    workers = str(SHIPYARD_WORKERS)
    servers = [
        Server("mlflow", "MLflow models serve", "1 (MLflow's default)",
               [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}/{model.version}",
                "--env-manager", "local", "-h", *host, "-p", "{port}"],
               "/ping", "/invocations", theirs),
        Server("shipyard", "shipyard serve", workers, shipyard, "/health", "/predict", ours),
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


# --- checks: every server must answer, and the two model servers with the same model -----


def check(server: Server, port: int, model: Registered, seen: dict[str, dict]) -> None:
    """Ask ``server`` both bodies and compare the answers with the registered model
    (and with the other model server's, once both have answered)."""
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
    labels, proba = [], []
    for n in (1, 100):
        got_labels, got_proba = read_predictions(server.key, answers_[n], n)
        labels += got_labels
        proba += got_proba
    expected = np.append(model.reference_one, model.reference)  # the 1-row body first
    expected_labels = np.where(expected >= 0.5, POSITIVE, "<=50K").tolist()
    if labels != expected_labels:
        wrong = sum(a != b for a, b in zip(labels, expected_labels, strict=True))
        raise BenchError(f"{server.title}: {wrong} of {len(labels)} labels differ from the "
                         f"registered model's")
    result = {"status": 200, "rows_checked": len(labels), "labels_agree": True}
    if proba:
        gap = float(np.max(np.abs(np.array(proba) - expected)))
        result["max_probability_gap_vs_registered"] = gap
        if gap > AGREEMENT:
            raise BenchError(f"{server.title}: probabilities differ from the registered "
                             f"model's by up to {gap:.2e} (allowed {AGREEMENT:g})")
    seen[server.key] = {"labels": labels, "proba": proba}
    other = seen.get("mlflow" if server.key == "shipyard" else "shipyard")
    if other is not None:
        if other["labels"] != labels:
            raise BenchError("MLflow's and Shipyard's servers disagree on labels")
        if other["proba"] and proba:
            gap = float(np.max(np.abs(np.array(other["proba"]) - np.array(proba))))
            result["max_probability_gap_between_servers"] = gap
            if gap > AGREEMENT:
                raise BenchError(f"MLflow's and Shipyard's probabilities differ by {gap:.2e}")
    server.checks = result
    say(f"  answers checked: {json.dumps(result)}")


def read_predictions(key: str, answer, n: int) -> tuple[list[str], list[float]]:
    """Labels and, when the server gives them, P(>50K), from one answer."""
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        raise BenchError(f"{key}: unexpected answer {str(answer)[:300]}")
    items = answer["predictions"]
    if len(items) != n:
        raise BenchError(f"{key}: {len(items)} predictions for {n} rows")
    if key == "shipyard":
        return [str(i["prediction"]) for i in items], [float(i["probability"]) for i in items]
    # MLflow's sklearn flavour answers predict(): one label per row. A model logged with
    # pyfunc_predict_fn="predict_proba" would answer [p(<=50K), p(>50K)] instead.
    if all(isinstance(i, list) for i in items):
        proba = [float(i[1]) for i in items]
        return [POSITIVE if p >= 0.5 else "<=50K" for p in proba], proba
    return [str(i) for i in items], []


# --- measuring ----------------------------------------------------------------------------


def run_wrk(url: str, body: Path, connections: int, seconds: float) -> dict:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds:g}s",
               f"--timeout={WRK_TIMEOUT}", "--latency", "-s", str(POST_LUA), url]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "WRK_BODY_FILE": str(body)},
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


TARGETS = [
    *(Target(f"1 row, {c} conns: our req/s / MLflow's", scenario_key(1, c), "vs_mlflow",
             ">=", 100) for c in (16, 64)),
    *(Target(f"1 row, {c} conns: our req/s / ceiling's", scenario_key(1, c), "vs_ceiling",
             ">=", 0.5) for c in (16, 64)),
    Target("1 row, 16 conns: our p99 (ms)", scenario_key(1, 16), "p99_ms", "<=", 10),
    *(Target(f"100 rows, {c} conns: our rows/s", scenario_key(100, c), "rows_per_s", ">=",
             200_000) for c in (16, 64)),
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


def judge(summary: dict, ratio: dict) -> list[dict]:
    verdicts = []
    for target in TARGETS:
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
        verdicts.append({"target": target.text, "op": target.op, "value": target.value,
                         "actual": actual, "verdict": verdict})
    return verdicts


# --- output ---------------------------------------------------------------------------------


def report(servers: list[Server], summary: dict, ratio: dict, verdicts: list[dict],
           context: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    console.print(f"\n[bold]Serving benchmark[/] - model {NAME} version "
                  f"{context['model']['version']} ({context['model']['trees']} trees), "
                  f"{context['machine']['cpus']} CPUs, load average at start "
                  f"{context['machine']['load_at_start']}, "
                  f"{context['config']['duration_s']:g} s x {context['config']['repeats']} "
                  f"per scenario, wrk -t{WRK_THREADS}", soft_wrap=True)
    for server in servers:
        line = (f"  {server.key:9} {server.title}: workers {server.workers}, "
                f"{server.processes} processes")
        console.print(line + (f" - {server.note}" if server.note else ""), soft_wrap=True,
                      markup=False)
    for rows, connections in SCENARIOS:
        key = scenario_key(rows, connections)
        table = Table(title=f"{rows} row(s) per request, {connections} connections "
                            f"(medians over {context['config']['repeats']}; errors summed)",
                      title_justify="left")
        for column in ("server", "req/s", "rows/s", "p50 ms", "p99 ms", "errors"):
            table.add_column(column, justify="left" if column == "server" else "right")
        for server in servers:
            got = summary.get(server.key, {}).get(key)
            if got is not None:
                table.add_row(server.title, f"{got['rps']:,.1f}", f"{got['rows_per_s']:,.0f}",
                              f"{got['p50_ms']:.2f}", f"{got['p99_ms']:.2f}",
                              f"{got['errors']:,}")
        console.print(table)
    table = Table(title="Ratios of requests/s", title_justify="left")
    for column in ("scenario", "ours / MLflow", "ours / ceiling"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for rows, connections in SCENARIOS:
        key = scenario_key(rows, connections)
        table.add_row(f"{rows} row(s), {connections} conns",
                      *(_ratio(ratio[key][m]) for m in ("vs_mlflow", "vs_ceiling")))
    console.print(table)
    table = Table(title="Targets", title_justify="left")
    for column in ("target", "wanted", "actual", "verdict"):
        table.add_column(column, justify="right" if column in ("wanted", "actual") else "left")
    for v in verdicts:
        style = "green" if v["verdict"] == "met" else "red" if "NOT" in v["verdict"] else ""
        table.add_row(v["target"], f"{v['op']} {v['value']:,g}", _number(v["actual"]),
                      f"[{style}]{v['verdict']}[/]" if style else v["verdict"])
    console.print(table)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}x"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds per measurement (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 s per measurement, once")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--workdir", type=Path,
                        help="keep the project here and reuse its registered model")
    parser.add_argument("--only", default="mlflow,shipyard,ceiling",
                        help="servers to measure (default: mlflow,shipyard,ceiling)")
    args = parser.parse_args()
    duration, repeats = (3.0, 1) if args.quick else (args.duration, args.repeats)
    warmup = 1.0 if args.quick else 3.0
    only = set(args.only.split(","))
    if unknown := only - {"mlflow", "shipyard", "ceiling"}:
        parser.error(f"unknown servers in --only: {', '.join(sorted(unknown))}")
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
        return run(args, workdir, duration, repeats, warmup, only, load_at_start)
    except BenchError as exc:
        say(f"\nBenchmark failed: {exc}")
        return 2
    finally:
        if not keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path, duration: float, repeats: int, warmup: float, only: set[str],
        load_at_start: str) -> int:
    from shipyard.serve.background import free_port

    frame = adult_like()
    one, rows = request_rows(frame)
    model = build_model(workdir, rows, one, frame)
    say(f"Model {NAME} version {model.version}: {model.trees} trees")
    servers = make_servers(model, one, rows, only)
    bodies: dict[str, dict[int, Path]] = {}
    for server in servers:
        bodies[server.key] = {}
        for n, body in server.bodies.items():
            path = workdir / f"body-{server.key}-{n}.json"
            path.write_bytes(body)
            bodies[server.key][n] = path
    env = server_env(model.tracking_uri)
    raw: dict[str, dict[str, list[dict]]] = {}
    seen: dict[str, dict] = {}
    for server in servers:
        port = free_port()
        log = workdir / f"{server.key}.log"
        with running(server, port, env, log):
            check(server, port, model, seen)
            warm_up(server, port, bodies[server.key], warmup)
            raw[server.key] = measure(server, port, bodies[server.key], duration, repeats)
    summary = {key: {scenario_key(r, c): summarise(runs[scenario_key(r, c)], r)
                     for r, c in SCENARIOS} for key, runs in raw.items()}
    ratio = ratios(summary)
    verdicts = judge(summary, ratio)
    context = {
        "machine": {"cpus": os.cpu_count(), "load_at_start": load_at_start,
                    "platform": platform.platform()},
        "versions": versions(),
        "config": {"duration_s": duration, "repeats": repeats, "warmup_s": warmup,
                   "wrk": f"wrk -t{WRK_THREADS} -c<conns> -d{duration:g}s "
                          f"--timeout={WRK_TIMEOUT} --latency -s bench/wrk/post.lua",
                   "scenarios": [{"rows": r, "connections": c} for r, c in SCENARIOS]},
        "model": {"name": NAME, "version": model.version, "trees": model.trees,
                  "training_s": round(model.seconds, 1)},
    }
    report(servers, summary, ratio, verdicts, context)
    results = {**context,
               "servers": {s.key: {"title": s.title, "workers": s.workers, "note": s.note,
                                   "processes": s.processes, "ready_s": s.ready_s,
                                   "command": [x.replace("{port}", str(s.port))
                                               for x in s.command],
                                   "checks": s.checks} for s in servers},
               "runs": raw, "summary": summary, "ratios": ratio, "targets": verdicts}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        say(f"Results written to {args.json}")
    return 1 if any("NOT" in v["verdict"] for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
