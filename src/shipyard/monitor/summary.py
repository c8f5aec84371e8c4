"""``shipyard monitor``: a pass, a summary table and the HTML monitoring report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from shipyard.errors import MonitorError
from shipyard.metrics import METRICS

TOP = 12  # features shown in the table, most drifted first
_SHORT = {"ks": "KS", "chi2": "chi²", "wasserstein": "Wasserstein", "jensenshannon": "JS"}
_BANDS = {"moderate": "yellow", "major": "red"}  # PSI bands; "stable" stays plain


@dataclass(frozen=True)
class Done:
    table: Table
    notes: list[str]
    report: Path
    result: dict  # the pass, as saved


def monitor(project, workspace, report: Path | None = None) -> Done:
    """Run a pass for the champion, save it, write the report; refuse an empty window."""
    from shipyard import monitor as monitoring
    from shipyard import registry
    from shipyard.monitor.store import LogStore

    model = registry.load(workspace, project.name)
    if model.reference is None:  # the pass would be empty whatever the log holds
        raise MonitorError(
            f"Version {model.card.version} of '{project.name}' has no monitoring reference to "
            "judge logged predictions against (it was registered before Shipyard kept one)",
            hint="retrain (shipyard run, or shipyard retrain --force): every version "
                 "registered now keeps its reference")
    store = LogStore.of(project, workspace)
    try:
        result = monitoring.check(project, workspace, store=store, model=model, save=False)
        if result.empty:
            raise MonitorError(
                f"No predictions of version {model.card.version} of '{project.name}' are in "
                f"the prediction log to monitor", details=result.notes,
                hint="serve the model (shipyard serve) and send it requests; predictions are "
                     "logged unless monitor.log is false")
        record = result.to_dict()
        store.save_pass(record)
        path = write_report(project, workspace, store, model, report)
    finally:
        store.close()
    return Done(table(record), list(result.notes), path, record)


def write_report(project, workspace, store, model, path: Path | None = None) -> Path:
    from shipyard import registry
    from shipyard.monitor import report
    from shipyard.monitor.reference import Reference

    path = path or workspace.reports / "monitoring.html"
    current = store.predictions(last=project.monitor.window, version=model.card.version)
    passes = [p for p in store.passes() if p.get("version") == model.card.version] or \
        store.passes()
    reference = Reference.from_files(model.reference) if model.reference else None
    page = report.render(project.name, passes, store.decisions(),
                         registry.versions(workspace, project.name), reference, current,
                         passes[-1], drift_share=project.monitor.drift.share_line)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _weight(drift: dict) -> str:
    if drift.get("rule") != "weighted":
        return ""
    return f", {drift.get('weighted', 0):.0%} of the weight by importance"


def table(record: dict) -> Table:
    drift = record["drift"] or {}
    features = sorted(drift.get("features", []),
                      key=lambda f: (not f["drifted"], -(f["psi"] or 0.0)))
    title = (f"Version {record['version']}: {record['rows']:,} logged rows; data set drift "
             f"{'YES' if drift.get('dataset_drift') else 'no'} "
             f"({drift.get('share', 0):.0%} of features drifted{_weight(drift)})")
    out = Table(title=title, min_width=60)
    for name, justify in (("feature", "left"), ("test", "left"), ("value", "right"),
                          ("limit", "right"), ("drift", "left"), ("PSI", "right")):
        out.add_column(name, justify=justify, no_wrap=True)
    for f in features[:TOP]:
        tone = _BANDS.get(f["psi_band"], "")
        psi = "-" if f["psi"] is None else f"[{tone}]{f['psi']:.3f}[/]" if tone else \
            f"{f['psi']:.3f}"
        out.add_row(f["feature"], _SHORT.get(f["method"], f["method"]), _figure(f["statistic"]),
                    f"{f['threshold']:.3g}", "[red]drift[/]" if f["drifted"] else "ok", psi)
    if len(features) > TOP:
        out.add_row(f"... {len(features) - TOP} more", "", "", "", "", "")
    out.caption = _performance(record)
    return out


def _figure(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _performance(record: dict) -> str:
    metric = record["metric"]
    title = METRICS[metric].title if metric in METRICS else metric
    reference = record["reference"].get(metric)
    parts = []
    live = record.get("live") or {}
    if live.get("metrics", {}).get(metric) is not None:
        parts.append(f"live {title} {live['metrics'][metric]:.4g} on {live['rows']:,} labelled "
                     "rows")
    elif live:
        parts.append(f"{live['rows']} labelled rows: too few for live metrics")
    else:
        parts.append("no ground truth yet")
    for name, value in (record.get("estimated") or {}).items():
        if name in ("f1", "roc_auc"):
            parts.append(f"estimated {name} {value:.3f}")
        elif name == metric:  # a regression's, from direct loss estimation (no labels)
            parts.append(f"estimated {title} {value:.4g} on all {record.get('rows', 0):,} rows "
                         "(no labels)")
    if reference is not None:
        parts.append(f"champion's holdout {title} {reference:.4g}")
    problems = (record.get("quality") or {}).get("problems", [])
    if problems:
        parts.append(f"{len(problems)} data quality problem(s): {'; '.join(problems[:3])}")
    return "; ".join(parts)
