"""Shared pieces of the monitoring views: times, metric names, the ranking of
drifted features, and the retraining decisions and model versions as report
sections (the HTML report shows them; the dashboard draws its own)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from shipyard import report
from shipyard.metrics import METRICS
from shipyard.monitor import plots


def when(ts) -> str:
    """An epoch time as UTC text; a dash when there is none."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return "–"
    if isinstance(ts, str):
        return ts
    seconds = float(ts) / 1000 if float(ts) > 1e11 else float(ts)  # MLflow keeps milliseconds
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def metric_title(name: str | None) -> str:
    return METRICS[name].title if name in METRICS else str(name or "metric")


def ranked(features: list[dict]) -> list[dict]:
    """Drifted features first, then by PSI: PSI is comparable across methods."""
    return sorted(features, key=lambda f: (not f.get("drifted"), -number(f.get("psi"))))


def number(value) -> float:
    """``value`` as a float for sorting: 0 when it is missing or not a number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(x) else x


def sections(decisions: list[dict], versions: list[dict]) -> list[report.Section]:
    """The retraining decisions (newest first) and, when known, the model versions."""
    found = [report.Section("Retraining decisions", _decisions(decisions))]
    if versions:
        found.append(report.Section("Model versions", _versions(versions)))
    return found


def _decisions(decisions: list[dict]) -> str:
    if not decisions:
        return "<p>No retraining decision has been recorded yet.</p>"
    rows = []
    for d in reversed(decisions):  # newest first
        outcome = d.get("outcome") or ("promoted" if d.get("promoted") else "–")
        tone = "good" if d.get("promoted") else "bad" if str(outcome).startswith("failed") \
            else "neutral"
        rows.append({
            "when": when(d.get("at")),
            "triggered": "yes" if d.get("triggered") else "no",
            "reasons": "; ".join(map(str, d.get("reasons") or [])) or "–",
            "champion": d.get("champion") or "–", "challenger": d.get("challenger") or "–",
            "metric": metric_title(d.get("metric")) if d.get("metric") else "–",
            "champion score": d.get("champion_score"),
            "challenger score": d.get("challenger_score"),
            "outcome": report.badge(str(outcome), tone),
        })
    image = plots.decisions(decisions, metric_title(decisions[-1].get("metric")))
    return report.table(rows) + (image or "")


def _versions(versions: list[dict]) -> str:
    rows = []
    for v in sorted(versions, key=lambda v: number(v.get("version")), reverse=True):
        aliases = v.get("aliases") or []
        rows.append({
            "version": str(v.get("version")),
            "created": when(v.get("created")),
            "aliases": report.badge(", ".join(aliases), "info") if aliases else "–",
            "metrics": metrics_text(v.get("metrics") or {}),
            "history": "; ".join(notes(v)) or "–",
        })
    return report.table(rows)


def metrics_text(metrics: dict) -> str:
    return ", ".join(f"{metric_title(k)} {report.number(x)}" for k, x in metrics.items()) or "–"


def notes(v: dict) -> list[str]:
    """What happened to a version (``registry.versions``' promotion, replaced,
    rollback and restored_at), as sentences, oldest first."""
    found = []
    if v.get("parent"):
        found.append(f"challenger of version {v['parent']}")
    promoted = v.get("promotion")
    if promoted:
        replaced = f", replacing version {promoted['replaced']}" if promoted.get("replaced") \
            else ""
        found.append(f"promoted {when(promoted.get('at'))}{replaced}"
                     + (f": {promoted['reason']}" if promoted.get("reason") else ""))
    if v.get("replaced"):
        found.append(f"replaced by version {v['replaced'].get('by')} "
                     f"{when(v['replaced'].get('at'))}")
    rollback = v.get("rollback")
    if rollback:
        found.append(f"rolled back {when(rollback.get('at'))} to version {rollback.get('to')}"
                     + (f": {rollback['reason']}" if rollback.get("reason") else ""))
    if v.get("restored_at"):
        found.append(f"champion again {when(v['restored_at'])} (rollback)")
    return found
