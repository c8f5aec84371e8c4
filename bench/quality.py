"""Model quality on real public data, against published figures.

    SHIPYARD_DATA=../shared/data .venv/bin/python bench/quality.py [--only adult,telco]
        [--defaults]

Each example project in examples/ runs with its own settings through the same
code as `shipyard run` (in a throwaway workspace), and the table shows the
holdout figure of each protocol next to the target and the published reference,
with the wall time on this machine.

``--defaults`` also runs each example as a new user would write it: the same
data, target, task, entity, time, label, split, metric and gates, and nothing
chosen for the data set: no models (the default candidates, each tuned over its
default space), no tuning, features or preparation settings, and
``prepare.series: auto`` where the hand-tuned file has window features. Both
rows are printed, the defaults' against the targets the issue set for them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
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
    defaults: tuple[Target, ...] = ()  # what the file without hand-chosen settings must reach


EXAMPLES = (
    Example("fd001", "C-MAPSS FD001", "examples/cmapss/fd001.yaml",
            "last cycle of each test engine vs RUL_FD001; RUL capped at 125 for training",
            (Target("rmse", "<=", 12.0),),
            "DCNN 12.61; LSTM 16.14; gradient boosting 15.67", ("phm08",),
            (Target("rmse", "<=", 12.5),)),
    Example("fd003", "C-MAPSS FD003", "examples/cmapss/fd003.yaml",
            "last cycle of each test engine vs RUL_FD003; RUL capped at 125 for training",
            (Target("rmse", "<=", 12.0),), "DCNN 12.64; LSTM 16.18", ("phm08",),
            (Target("rmse", "<=", 12.0),)),
    Example("adult", "UCI Adult", "examples/adult/shipyard.yaml",
            "train adult.data, test adult.test",
            (Target("roc_auc", ">=", 0.929), Target("accuracy", ">=", 0.872)),
            "AutoML benchmark, 4 h: auto-sklearn 0.928, H2O 0.930", (),
            (Target("roc_auc", ">=", 0.928),)),
    Example("telco", "Telco churn", "examples/telco/shipyard.yaml",
            "stratified 80/20 holdout, seed fixed", (Target("roc_auc", ">=", 0.845),),
            "published 0.83-0.85", (), (Target("roc_auc", ">=", 0.845),)),
)


# What a file without hand-chosen settings keeps of a hand-tuned one: what the data
# and the protocol are, not how to model them.
KEPT = ("name", "source", "target", "task", "positive_class", "entity", "time", "label",
        "split", "metric", "gates")


def without_tuning(text: str) -> str:
    """The project file ``text`` as a new user would write it (see KEPT)."""
    data = yaml.safe_load(text)
    out = {key: data[key] for key in KEPT if key in data}
    if (data.get("prepare") or {}).get("series") is not None:
        out["prepare"] = {"series": "auto"}
    return yaml.safe_dump(out, sort_keys=False)


def run(example: Example, defaults: bool = False):
    from shipyard import spec
    from shipyard.lifecycle import run_project
    from shipyard.progress import Bars

    path = ROOT / example.project
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        if defaults:  # beside the original, so that its relative paths still hold
            text = without_tuning(path.read_text())
            path = Path(tmp) / path.name
            path.write_text(text)
        project = spec.load(path).model_copy(update={"workspace": tmp})
        started = time.perf_counter()
        with Bars(Console(stderr=True)) as bars:
            outcome = run_project(project, bars)
        return outcome, time.perf_counter() - started


MINUTES = 10  # the wall time a run with the defaults may take


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated keys: " + ", ".join(
        e.key for e in EXAMPLES))
    parser.add_argument("--defaults", action="store_true",
                        help="also run each example without its hand-chosen settings")
    args = parser.parse_args()
    os.environ.setdefault("SHIPYARD_DATA", str(ROOT.parent / "shared" / "data"))
    chosen = [e for e in EXAMPLES if not args.only or e.key in args.only.split(",")]
    table = Table(title="Shipyard model quality on public data (holdout of each protocol)")
    for column in ("dataset", "settings", "metric", "ours", "target", "met", "published",
                   "model", "wall time"):
        table.add_column(column)
    missed = 0
    for example in chosen:
        for defaults in (False, True) if args.defaults else (False,):
            outcome, seconds = run(example, defaults)
            missed += _rows(table, example, defaults, outcome, seconds)
    Console(width=max(Console().width, 160)).print(table)
    for example in chosen:
        print(f"{example.dataset}: {example.protocol}")
    return 1 if missed else 0


def _rows(table: Table, example: Example, defaults: bool, outcome, seconds: float) -> int:
    """The example's rows; how many of its targets (and the time limit) it missed."""
    metrics, missed = outcome.evaluation.metrics, 0
    targets = example.defaults if defaults else example.targets
    slow = defaults and seconds > MINUTES * 60
    missed += slow
    for i, target in enumerate(targets):
        actual = metrics[target.metric]
        ok = target.met(actual)
        missed += not ok
        first = i == 0
        table.add_row(example.dataset if first and not defaults else "",
                      ("defaults" if defaults else "hand-tuned") if first else "",
                      target.metric, f"{actual:.4f}", f"{target.op} {target.value}",
                      "yes" if ok else f"NO (by {abs(actual - target.value):.4f})",
                      example.published if first and not defaults else "",
                      outcome.training.best.name if first else "",
                      (f"{seconds / 60:.1f} min" + (f" (over {MINUTES})" if slow else ""))
                      if first else "")
    for name in example.also:
        table.add_row("", "", name, f"{metrics[name]:.1f}", "", "", "", "", "")
    chosen = outcome.training.series
    if chosen is not None:
        series = chosen.series
        smooth = "none" if series.smooth is None else \
            f"{series.smooth.method} {series.smooth.window}"
        table.add_row("", "", "series", f"windows {list(series.windows)}",
                      f"stats {', '.join(series.stats)}", f"smoothing {smooth}", "", "", "")
    return missed


if __name__ == "__main__":
    sys.exit(main())
