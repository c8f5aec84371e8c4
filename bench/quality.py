"""Model quality on real public data, against published figures.

    SHIPYARD_DATA=../shared/data .venv/bin/python bench/quality.py [--only adult,telco]

Each example project in examples/ runs with its own default settings through the
same code as `shipyard run` (in a throwaway workspace), and the table shows the
holdout figure of each protocol next to the target and the published reference,
with the wall time on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    metric: str
    op: str  # "<=" or ">="
    value: float

    def met(self, actual: float) -> bool:
        return actual <= self.value if self.op == "<=" else actual >= self.value


@dataclass(frozen=True)
class Example:
    key: str
    dataset: str
    project: str
    protocol: str
    targets: tuple[Target, ...]
    published: str
    also: tuple[str, ...] = ()  # further metrics to print


EXAMPLES = (
    Example("fd001", "C-MAPSS FD001", "examples/cmapss/fd001.yaml",
            "last cycle of each test engine vs RUL_FD001; RUL capped at 125 for training",
            (Target("rmse", "<=", 12.0),),
            "DCNN 12.61; LSTM 16.14; gradient boosting 15.67", ("phm08",)),
    Example("fd003", "C-MAPSS FD003", "examples/cmapss/fd003.yaml",
            "last cycle of each test engine vs RUL_FD003; RUL capped at 125 for training",
            (Target("rmse", "<=", 12.0),), "DCNN 12.64; LSTM 16.18", ("phm08",)),
    Example("adult", "UCI Adult", "examples/adult/shipyard.yaml",
            "train adult.data, test adult.test",
            (Target("roc_auc", ">=", 0.929), Target("accuracy", ">=", 0.872)),
            "AutoML benchmark, 4 h: auto-sklearn 0.928, H2O 0.930"),
    Example("telco", "Telco churn", "examples/telco/shipyard.yaml",
            "stratified 80/20 holdout, seed fixed", (Target("roc_auc", ">=", 0.845),),
            "published 0.83-0.85"),
)


def run(example: Example):
    from shipyard import spec
    from shipyard.lifecycle import run_project
    from shipyard.progress import Bars

    project = spec.load(ROOT / example.project)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        project = project.model_copy(update={"workspace": tmp})
        started = time.perf_counter()
        with Bars(Console(stderr=True)) as bars:
            outcome = run_project(project, bars)
        return outcome, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated keys: " + ", ".join(
        e.key for e in EXAMPLES))
    args = parser.parse_args()
    os.environ.setdefault("SHIPYARD_DATA", str(ROOT.parent / "shared" / "data"))
    chosen = [e for e in EXAMPLES if not args.only or e.key in args.only.split(",")]
    table = Table(title="Shipyard model quality on public data (holdout of each protocol)")
    for column in ("dataset", "protocol", "metric", "ours", "target", "met", "published",
                   "model", "wall time"):
        table.add_column(column)
    missed = 0
    for example in chosen:
        outcome, seconds = run(example)
        metrics = outcome.evaluation.metrics
        for i, target in enumerate(example.targets):
            actual = metrics[target.metric]
            ok = target.met(actual)
            missed += not ok
            table.add_row(example.dataset if i == 0 else "", example.protocol if i == 0 else "",
                          target.metric, f"{actual:.4f}", f"{target.op} {target.value}",
                          "yes" if ok else f"NO (by {abs(actual - target.value):.4f})",
                          example.published if i == 0 else "",
                          outcome.training.best.name if i == 0 else "",
                          f"{seconds / 60:.1f} min" if i == 0 else "")
        for name in example.also:
            table.add_row("", "", name, f"{metrics[name]:.1f}", "", "", "", "", "")
    Console(width=max(Console().width, 160)).print(table)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
