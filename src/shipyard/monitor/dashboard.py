"""The live dashboard: its JSON (:func:`data`) and its page (:func:`page`).

The page is one self-contained HTML file (inline CSS and script, no network)
that fetches the JSON every few seconds and draws the charts itself, so
everything it shows comes from :func:`data`: plain numbers and strings, times
as epoch seconds. Each chart is a generic spec (series of [time, value] points,
an optional reference line and bands) so the script needs one drawing routine.
"""

from __future__ import annotations

import math
import time
from functools import cache
from importlib import resources

import jinja2
import pandas as pd
from markupsafe import Markup

from shipyard.metrics import DEFAULT_METRIC, METRICS
from shipyard.monitor.history import metric_title, notes, ranked

REFRESH_S = 5.0  # how often the page asks for new data
TOP_FEATURES = 5  # PSI lines drawn: the features that drift most in the latest pass
TABLE_ROWS = 10  # decisions and versions listed
PSI_BANDS = [0.1, 0.25]


def plain(value):
    """A JSON-safe scalar: numpy numbers as Python ones, NaN and infinity as None."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _points(pairs) -> list[list]:
    return [[plain(float(t)), plain(v)] for t, v in pairs if plain(v) is not None]


def _chart(title: str, kind: str, unit: str, series: dict[str, list], **extra) -> dict:
    """A chart spec; ``last`` is the first series' latest value (what the page
    prints beside the title), ``points`` its number of points."""
    shown = [{"name": name, "points": _points(points)} for name, points in series.items()]
    first = shown[0]["points"] if shown else []
    return {"title": title, "kind": kind, "unit": unit, "series": shown,
            "points": len(first), "last": first[-1][1] if first else None, **extra}


def _traffic(traffic: pd.DataFrame | None, bucket_s: float) -> tuple[dict, dict]:
    frame = traffic if traffic is not None else pd.DataFrame(
        columns=["ts", "requests", "latency_p50_ms", "latency_p99_ms"])
    ts = frame["ts"].tolist()
    per = f"{bucket_s:g} s" if bucket_s < 60 else f"{bucket_s / 60:g} min"
    requests = _chart(f"Requests per {per}", "bar", "requests",
                      {"requests": zip(ts, frame["requests"].tolist(), strict=True)},
                      total=int(frame["requests"].sum()) if len(frame) else 0,
                      bucket_s=bucket_s)
    latency = _chart("Latency (ms)", "line", "ms", {
        "p99": zip(ts, frame["latency_p99_ms"].tolist(), strict=True),
        "p50": zip(ts, frame["latency_p50_ms"].tolist(), strict=True)})
    return requests, latency


def _drift(passes: list[dict], share: float | None) -> tuple[dict, dict, list[dict]]:
    judged = [p for p in passes if p.get("drift")]
    chart = _chart("Drifted share of features", "line", "share",
                   {"drifted share": [(p["at"], p["drift"].get("share")) for p in judged]},
                   reference=share, reference_label="dataset drift at")
    latest = ranked((judged[-1]["drift"].get("features") or []) if judged else [])
    names = [f["feature"] for f in latest[:TOP_FEATURES]]
    series = {name: [] for name in names}
    for p in judged:
        for f in p["drift"].get("features") or []:
            if f.get("feature") in series:
                series[f["feature"]].append((p["at"], f.get("psi")))
    features = _chart("PSI of the most drifted features", "line", "PSI",
                      series or {"PSI": []}, bands=PSI_BANDS)
    table = [{k: plain(f.get(k)) for k in ("feature", "method", "statistic", "threshold",
                                            "drifted", "psi", "psi_band")} for f in latest]
    return chart, features, table


def _performance(passes: list[dict], champion: dict | None) -> dict:
    latest = passes[-1] if passes else {}
    champion = champion or {}
    metric = latest.get("metric") or champion.get("metric") or DEFAULT_METRIC.get(
        champion.get("task"))
    reference = (latest.get("reference") or champion.get("metrics") or {}).get(metric)
    title = metric_title(metric)
    live = [(p["at"], ((p.get("live") or {}).get("metrics") or {}).get(metric)) for p in passes]
    estimated = [(p["at"], (p.get("estimated") or {}).get(metric)) for p in passes]
    spec = METRICS.get(metric)
    return _chart(f"{title}: live and estimated", "line", title,
                  {"live": live, "estimated": estimated}, metric=metric,
                  reference=plain(reference), reference_label="champion's holdout",
                  higher_is_better=None if spec is None else spec.greater_is_better)


def _summary(passes: list[dict], traffic: dict) -> dict:
    latest = passes[-1] if passes else {}
    drift = latest.get("drift") or {}
    return {
        "passes": len(passes), "last_pass": plain(latest.get("at")),
        "window_rows": plain(latest.get("rows")), "empty": bool(latest.get("empty")),
        "requests": traffic["total"],
        "dataset_drift": drift.get("dataset_drift") if drift else None,
        "drift_share": plain(drift.get("share")), "drifted": list(drift.get("drifted") or []),
        "labelled": plain((latest.get("live") or {}).get("rows")),
        "problems": list((latest.get("quality") or {}).get("problems") or []),
        "notes": list(latest.get("notes") or []),
    }


def data(project_name: str, passes: list[dict], decisions: list[dict],
         traffic: pd.DataFrame | None, *, champion: dict | None = None,
         served: list[dict] | None = None, versions: list[dict] | None = None,
         bucket_s: float = 60.0, drift_share: float | None = None,
         now: float | None = None, errors: list[str] | None = None) -> dict:
    """Everything the dashboard page shows, as JSON-ready data. ``passes`` and
    ``decisions`` oldest first (as the log store gives them); ``traffic`` is
    ``LogStore.traffic``'s frame; ``champion`` describes the served model (name,
    version, task, estimator, metrics, path); ``served`` is the server's list of
    versions served, ``versions`` the registry's (``registry.versions``); ``errors``
    says what could not be read."""
    requests, latency = _traffic(traffic, bucket_s)
    share, features, table = _drift(passes, drift_share)
    return {
        "project": project_name, "generated": time.time() if now is None else now,
        "refresh_s": REFRESH_S, "champion": champion, "errors": list(errors or []),
        "summary": _summary(passes, requests),
        "charts": {"traffic": requests, "latency": latency, "drift": share,
                   "features": features, "performance": _performance(passes, champion)},
        "features": table,
        "decisions": [_decision(d) for d in reversed(decisions[-TABLE_ROWS:])],
        "served": [{k: plain(v) for k, v in s.items() if not isinstance(v, dict | list)}
                   for s in reversed((served or [])[-TABLE_ROWS:])],
        "versions": [_version(v) for v in (versions or [])[:TABLE_ROWS]],
    }


def _decision(d: dict) -> dict:
    keys = ("at", "triggered", "champion", "challenger", "metric", "champion_score",
            "challenger_score", "promoted", "outcome")
    return {**{k: plain(d.get(k)) for k in keys},
            "reasons": [str(r) for r in d.get("reasons") or []]}


def _version(v: dict) -> dict:
    return {"version": str(v.get("version")), "created": plain(v.get("created")),
            "aliases": list(v.get("aliases") or []),
            "metrics": {k: plain(x) for k, x in (v.get("metrics") or {}).items()},
            "notes": notes(v)}


@cache
def _parts() -> tuple[jinja2.Template, Markup, Markup]:
    folder = resources.files("shipyard.monitor") / "templates"
    environment = jinja2.Environment(loader=jinja2.PackageLoader("shipyard.monitor", "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    # The style and the script are ours and go in as they are, not through Jinja.
    return (environment.get_template("dashboard.html.j2"),
            Markup((folder / "dashboard.css").read_text(encoding="utf-8")),
            Markup((folder / "dashboard.js").read_text(encoding="utf-8")))


def page(project_name: str) -> str:
    """The dashboard page: the shell its script fills from ``<page URL>/data``."""
    template, css, script = _parts()
    return template.render(project=project_name, css=css, script=script)
