"""The ONNX fast path against the Python pipeline on an Adult-like binary task.

Builds a seeded synthetic data set shaped like the UCI Adult census table (6
numeric and 8 text columns, with gaps), fits the pipeline as Shipyard builds it
(median imputation, scaling, one-hot encoding, a 200-tree LightGBM), compiles it
and prints one table: one-row latency, throughput on 1,000,000 rows, agreement.

    .venv/bin/python bench/fastpath.py [--rows 1000000] [--train 30000]

Runs in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from shipyard import spec
from shipyard.card import ModelCard
from shipyard.prepare import dataset, steps
from shipyard.serve.compiler import FastModel, batch_of, compile_pipeline, scores_python
from shipyard.serve.inputs import Batch
from shipyard.train.cv import make_pipeline

TEXT = {  # column: (values, most common first; share missing)
    "workclass": (["Private", "Self-emp-not-inc", "Local-gov", "State-gov", "Self-emp-inc",
                   "Federal-gov", "Without-pay", "Never-worked"], 0.05),
    "education": (["HS-grad", "Some-college", "Bachelors", "Masters", "Assoc-voc", "11th",
                   "Assoc-acdm", "10th", "7th-8th", "Prof-school", "9th", "12th", "Doctorate",
                   "5th-6th", "1st-4th", "Preschool"], 0.0),
    "marital_status": (["Married-civ-spouse", "Never-married", "Divorced", "Separated",
                        "Widowed", "Married-spouse-absent", "Married-AF-spouse"], 0.0),
    "occupation": (["Prof-specialty", "Craft-repair", "Exec-managerial", "Adm-clerical",
                    "Sales", "Other-service", "Machine-op-inspct", "Transport-moving",
                    "Handlers-cleaners", "Farming-fishing", "Tech-support", "Protective-serv",
                    "Priv-house-serv", "Armed-Forces"], 0.06),
    "relationship": (["Husband", "Not-in-family", "Own-child", "Unmarried", "Wife",
                      "Other-relative"], 0.0),
    "race": (["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"], 0.0),
    "sex": (["Male", "Female"], 0.0),
    "native_country": (["United-States", "Mexico", "Philippines", "Germany", "Canada", "India",
                        "England", "China", "Cuba", "Jamaica", "South", "Italy", "Poland",
                        "Vietnam", "Japan", "Columbia", "Guatemala", "Iran", "Taiwan", "Haiti",
                        "Portugal", "Greece", "Nicaragua", "Peru", "Ecuador", "France",
                        "Ireland", "Hong", "Thailand", "Cambodia", "Laos", "Yugoslavia",
                        "Scotland", "Honduras", "Hungary", "Holand-Netherlands"], 0.02),
}

PROJECT = """\
name: adult
source: {url: 'duckdb:///unused.duckdb', query: SELECT 1}
target: income
task: binary
models: [{name: lightgbm, params: {n_estimators: 200}}]
prepare: {encode: {max_onehot: 50}}
"""


def adult_like(n: int, seed: int) -> pd.DataFrame:
    """Rows with the Adult table's columns, skewed categories, gaps and a learnable label."""
    rng = np.random.default_rng(seed)
    data = {
        "age": rng.integers(17, 91, n).astype(float),
        "fnlwgt": np.round(rng.lognormal(12, 0.5, n)),
        "education_num": rng.integers(1, 17, n).astype(float),
        "capital_gain": np.where(rng.random(n) < 0.08, np.round(rng.lognormal(8, 1, n)), 0.0),
        "capital_loss": np.where(rng.random(n) < 0.05, np.round(rng.lognormal(7.5, 0.3, n)),
                                 0.0),
        "hours_per_week": np.clip(np.round(rng.normal(40, 12, n)), 1, 99),
    }
    for name in ("age", "hours_per_week"):
        data[name][rng.random(n) < 0.03] = np.nan
    for name, (values, missing) in TEXT.items():
        weights = 1.0 / np.arange(1, len(values) + 1) ** 1.3
        column = np.array(values, dtype=object)[rng.choice(len(values), n,
                                                           p=weights / weights.sum())]
        column[rng.random(n) < missing] = None
        data[name] = column
    frame = pd.DataFrame(data)
    logit = (0.04 * (frame["age"].fillna(40) - 40) + 0.25 * (frame["education_num"] - 10)
             + 0.0002 * frame["capital_gain"] + 1.2 * (frame["marital_status"] ==
                                                        "Married-civ-spouse")
             + 0.5 * (frame["sex"] == "Male") + 0.03 * (frame["hours_per_week"].fillna(40) - 40)
             + 0.6 * frame["occupation"].isin(["Exec-managerial", "Prof-specialty"]) - 1.5)
    frame["income"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K")
    return frame


def fitted(train_rows: int):
    """The pipeline Shipyard would train for this project, and its card."""
    project = spec.parse(PROJECT)
    ds = dataset(adult_like(train_rows, seed=0), project)
    pipeline = make_pipeline(steps(ds, project), "lightgbm", "binary",
                             {"n_estimators": 200}, project.seed)
    pipeline.fit(ds.X, ds.y)
    card = ModelCard(name="adult", task="binary", target="income", schema=ds.schema,
                     classes=ds.classes, positive_class=ds.positive)
    return pipeline, card


def rows_of(batch: Batch, i: int) -> Batch:
    return Batch({k: v[i:i + 1] for k, v in batch.columns.items()}, 1)


def latency(score, batch: Batch, calls: int) -> tuple[float, float]:
    """Median and p99 seconds of scoring one row, rows taken in turn from ``batch``."""
    singles = [rows_of(batch, i) for i in range(min(calls, batch.n_rows))]
    score(singles[0])
    times = np.empty(calls)
    for i in range(calls):
        one = singles[i % len(singles)]
        started = time.perf_counter()
        score(one)
        times[i] = time.perf_counter() - started
    return float(np.median(times)), float(np.quantile(times, 0.99))


def throughput(score, batch: Batch) -> tuple[float, object]:
    started = time.perf_counter()
    out = score(batch)
    return batch.n_rows / (time.perf_counter() - started), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train", type=int, default=30_000)
    args = parser.parse_args()

    started = time.perf_counter()
    pipeline, card = fitted(args.train)
    fit_s = time.perf_counter() - started
    sample = card.schema.model_frame(adult_like(2_000, seed=1))
    started = time.perf_counter()
    onnx = compile_pipeline(pipeline, card, sample).onnx
    compile_s = time.perf_counter() - started
    one, two = FastModel(onnx, card, threads=1), FastModel(onnx, card, threads=2)
    big = batch_of(card.schema.model_frame(adult_like(args.rows, seed=2)), card)

    fast_one = latency(one.scores, big, 5_000)
    python_one = latency(lambda b: scores_python(pipeline, card, b), big, 300)
    python_rate, expected = throughput(lambda b: scores_python(pipeline, card, b), big)
    rate_1, got_1 = throughput(one.scores, big)
    rate_2, got_2 = throughput(two.scores, big)
    gap = max(float(np.abs(got_1.proba - expected.proba).max()),
              float(np.abs(got_2.proba - expected.proba).max()))

    print(f"Adult-like binary task: {len(card.schema.columns)} columns, "
          f"{pipeline[:-1].transform(sample.head(1)).shape[1]} features after preparation, "
          f"200-tree LightGBM; fitted on {args.train:,} rows in {fit_s:.1f} s, "
          f"compiled in {compile_s:.1f} s ({len(onnx) / 1e6:.1f} MB)")
    print()
    print(f"{'':34}{'Python pipeline':>18}{'FastModel':>14}{'FastModel':>14}")
    print(f"{'':34}{'':>18}{'threads=1':>14}{'threads=2':>14}")
    print(f"{'one row, median':34}{_us(python_one[0]):>18}{_us(fast_one[0]):>14}{'':>14}")
    print(f"{'one row, p99':34}{_us(python_one[1]):>18}{_us(fast_one[1]):>14}{'':>14}")
    print(f"{f'{args.rows:,} rows, rows/s':34}{python_rate:>18,.0f}{rate_1:>14,.0f}"
          f"{rate_2:>14,.0f}")
    print(f"{f'agreement on {args.rows:,} rows':34}{'max |Δp| = ' + f'{gap:.1e}':>46}")
    print(f"\n(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end: "
          "other processes slow every figure above)")


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


if __name__ == "__main__":
    main()
