"""The HTML monitoring report: the latest pass, the history of passes, the
retraining decisions and the model versions, on one self-contained page built
with the run report's blocks so that both look alike.

Everything comes in as plain data (pass and decision dicts as the prediction
log keeps them, version dicts from the registry), so the report renders the
same from a live store, a test or an archive.
"""

from __future__ import annotations

import time

import pandas as pd
from markupsafe import escape

from shipyard import report
from shipyard.monitor import history, plots
from shipyard.monitor.history import metric_title, ranked, when
from shipyard.monitor.reference import PREDICTION, Reference

MAX_DISTRIBUTIONS = 6  # the most drifted features get a plot; the table has them all
MAX_PSI_LINES = 6
BAND_TONES = {"stable": "good", "moderate": "warn", "major": "bad"}
PSI_BANDS = (0.1, 0.25)
QUALITY_COLUMNS = {"missing_share": "missing", "reference_missing_share": "missing in reference",
                   "unseen": "unseen categories", "unseen_share": "unseen share",
                   "unseen_examples": "examples", "out_of_range": "out of range",
                   "reference_range": "reference range"}


def render(project_name: str, passes: list[dict], decisions: list[dict], versions: list[dict],
           reference: Reference | None, current: pd.DataFrame | None,
           latest: dict | None = None, *, drift_share: float | None = None) -> str:
    """The monitoring report of ``project_name`` as one HTML page. ``passes`` and
    ``decisions`` are oldest first; ``latest`` is the pass the page is about
    (default: the last of ``passes``); ``reference`` and ``current`` (the window's
    logged rows) feed the distribution plots and may be None; ``drift_share`` (the
    project's ``monitor.drift.share``) draws the dataset-drift line."""
    passes = list(passes or [])
    decisions = list(decisions or [])
    if latest is None and passes:
        latest = passes[-1]
    elif latest is not None and (not passes or passes[-1].get("at") != latest.get("at")):
        passes.append(latest)  # a pass not saved yet still belongs on the time lines
    title = f"Monitoring: {project_name}"
    if latest is None:
        sections = [report.Section("No monitoring pass yet", _nothing_yet())]
        sections += history.sections(decisions, versions or [])
        return report.render(title, sections, subtitle="No monitoring pass has run yet",
                             facts={"project": project_name, "generated": when(time.time())})
    sections = [report.Section("Summary", _summary(latest))]
    drift = latest.get("drift")
    if latest.get("empty") or not drift:
        sections.append(report.Section("Latest window", _empty_window(latest)))
    else:
        sections.append(report.Section("Drift by feature", _feature_table(latest)))
        shown = _distributions(drift, reference, current, latest)
        if shown:
            sections.append(report.Section("Distributions: reference vs current", shown))
    over_time = _over_time(passes, drift_share)
    if over_time:
        sections.append(report.Section("Drift over time", over_time))
    sections.append(report.Section("Performance", _performance(passes, latest)))
    if latest.get("quality"):
        sections.append(report.Section("Data quality", _quality(latest["quality"])))
    sections += history.sections(decisions, versions or [])
    facts = {"project": project_name, "champion version": latest.get("version") or "–",
             "window": f"{when(latest.get('since'))} to {when(latest.get('until'))}",
             "rows in window": report.number(latest.get("rows")),
             "pass at": when(latest.get("at")), "passes": report.number(len(passes)),
             "generated": when(time.time())}
    subtitle = f"Latest pass on {report.number(latest.get('rows'))} logged predictions"
    return report.render(title, sections, subtitle=subtitle, facts=facts)


def _nothing_yet() -> str:
    return ("<p>There is no monitoring pass to show yet. A pass needs logged predictions: "
            "serve the champion with <code>shipyard serve</code>, send it requests, then run "
            "<code>shipyard monitor</code> (the server also runs one every "
            "<code>monitor.interval</code> seconds).</p>")


def _empty_window(p: dict) -> str:
    return (f"<p><strong>The window had no data.</strong> No predictions were logged between "
            f"{escape(when(p.get('since')))} and {escape(when(p.get('until')))}, so there is "
            "no drift, data quality or live performance to report for it.</p>")


def _summary(p: dict) -> str:
    drift = p.get("drift") or {}
    metric = p.get("metric")
    name = metric_title(metric)
    live = ((p.get("live") or {}).get("metrics") or {}).get(metric)
    reference = (p.get("reference") or {}).get(metric)
    estimated = (p.get("estimated") or {}).get(metric)
    problems = (p.get("quality") or {}).get("problems") or []
    features = drift.get("features") or []
    drifted = [f["feature"] for f in ranked(features) if f.get("drifted")]
    values: dict[str, object] = {
        "dataset drift": "–" if not drift else ("yes" if drift.get("dataset_drift") else "no"),
        "drifted share": report.share(drift.get("share")) if drift else "–",
        "drifted features": f"{len(drifted)} of {len(features)}" if drift else "–",
        "their weight": report.share(drift["weighted"])
        if drift.get("rule") == "weighted" else "–",
        f"live {name}": live if live is not None else "–",
        f"estimated {name}": estimated if estimated is not None else "–",
        f"reference {name}": reference if reference is not None else "–",
        "quality problems": len(problems),
    }
    labelled = (p.get("live") or {}).get("rows")
    notes = {f"live {name}": f"{report.number(labelled)} labelled rows" if labelled else
             "no labels yet",
             f"reference {name}": "champion's holdout",
             f"estimated {name}": "without labels (CBPE or DLE)"}
    html = [report.cards(values, notes=notes)]
    if drifted:
        html.append(f"<p><strong>Drifted features:</strong> "
                    f"{escape(', '.join(map(str, drifted)))}.</p>")
    pred = p.get("prediction_drift")
    if pred:
        verdict = "drifted" if pred.get("drifted") else "did not drift"
        html.append(f"<p>The predictions' distribution {verdict} "
                    f"({escape(str(pred.get('method')))}: "
                    f"{escape(report.number(pred.get('statistic')))}, PSI "
                    f"{escape(report.number(pred.get('psi')))}).</p>")
    findings = [("quality", "warn", x) for x in problems] + \
        [("note", "info", x) for x in p.get("notes") or []]
    if findings:
        items = "".join(f"<li>{report.badge(what, tone)}{escape(str(x))}</li>"
                        for what, tone, x in findings)
        html.append(f'<ul class="findings">{items}</ul>')
    return "".join(html)


def _feature_table(p: dict) -> str:
    drift = p["drift"]
    rows = []
    features = ranked(drift.get("features") or [])
    if p.get("prediction_drift"):
        features = [*features, {**p["prediction_drift"], "feature": "(prediction)"}]
    for f in features:
        band = f.get("psi_band")
        rows.append({
            "feature": f.get("feature"), "kind": f.get("kind"), "method": f.get("method"),
            "statistic": f.get("statistic"), "threshold": f.get("threshold"),
            "drifted": report.badge("drifted", "bad") if f.get("drifted")
            else report.badge("no", "good"),
            "PSI": f.get("psi"),
            "PSI band": report.badge(band, BAND_TONES.get(band, "neutral")) if band else "–",
        })
    method = drift.get("method")
    how = ("statistical tests: the statistic is a p-value, drift below the threshold"
           if method == "test" else
           "distances: drift at or above the threshold" if method == "distance" else "")
    note = (f'<p class="note">{report.number(drift.get("rows"))} current rows against '
            f'{report.number(drift.get("reference_rows"))} reference rows; {escape(how)}.</p>')
    return note + report.table(rows)


def _distributions(drift: dict, reference: Reference | None, current: pd.DataFrame | None,
                   p: dict) -> str:
    if reference is None or current is None or current.empty:
        return ""
    images = []
    for f in ranked(drift.get("features") or [])[:MAX_DISTRIBUTIONS]:
        name = f.get("feature")
        if name not in reference.train.columns or name not in current.columns:
            continue
        note = f" (drifted, PSI {report.number(f.get('psi'))})" if f.get("drifted") else \
            f" (PSI {report.number(f.get('psi'))})"
        image = plots.distribution(name, reference.train[name], current[name],
                                   f.get("kind") == "categorical", note)
        if image:
            images.append(image)
    if "prediction" in current.columns and PREDICTION in reference.holdout.columns:
        categorical = p.get("task") not in ("regression", None)
        image = plots.distribution("prediction", reference.holdout[PREDICTION],
                                   current["prediction"], categorical, " (served output)")
        if image:
            images.append(image)
    if not images:
        return ""
    return ('<p class="note">Share of rows per bin or category: the champion\'s training '
            'rows (reference) against the rows logged in the window (current); most drifted '
            'features first.</p>' + report.gallery(images))


def _over_time(passes: list[dict], threshold: float | None) -> str:
    with_drift = [p for p in passes if p.get("drift")]
    if not with_drift:
        return ""
    last = with_drift[-1]["drift"]
    names = [f["feature"] for f in ranked(last.get("features") or [])[:MAX_PSI_LINES]]
    images = [plots.drift_share(with_drift, threshold),
              plots.psi_over_time(with_drift, names, PSI_BANDS)]
    images = [i for i in images if i]
    return report.gallery(images) if images else ""


def _performance(passes: list[dict], p: dict) -> str:
    metric = p.get("metric")
    live = (p.get("live") or {}).get("metrics") or {}
    estimated = p.get("estimated") or {}
    reference = p.get("reference") or {}
    names = list(dict.fromkeys([*([metric] if metric else []), *reference, *live, *estimated]))
    rows = [{"metric": metric_title(n) + (" (primary)" if n == metric else ""),
             "live": live.get(n), "estimated": estimated.get(n),
             "champion's holdout": reference.get(n)} for n in names]
    labelled = (p.get("live") or {}).get("rows")
    html = [f'<p class="note">Live figures come from {report.number(labelled or 0)} predictions '
            'whose true outcome has arrived; estimates from the predicted probabilities alone '
            '(confidence-based, calibrated on the champion\'s holdout).</p>',
            report.table(rows, highlight=[0] if metric else [])]
    image = plots.performance(passes, metric, metric_title(metric)) if metric else None
    html.append(image or '<p class="note">No live or estimated figures yet.</p>')
    return "".join(html)


def _quality(quality: dict) -> str:
    problems = quality.get("problems") or []
    html = ["<p>No data quality problems in the window.</p>" if not problems else
            '<ul class="findings">' + "".join(
                f"<li>{report.badge('problem', 'warn')}{escape(str(x))}</li>" for x in problems)
            + "</ul>"]
    per_feature = quality.get("features")
    if isinstance(per_feature, dict):
        per_feature = [{"feature": k, **v} for k, v in per_feature.items()
                       if isinstance(v, dict)]
    if isinstance(per_feature, list) and per_feature:
        rows = [{QUALITY_COLUMNS.get(k, k): _cell(k, v) for k, v in row.items()
                 if not isinstance(v, dict)} for row in per_feature]
        shares = {k: report.share for k in rows[0] if "share" in k or "missing" in k
                  or k == "out of range"}
        html.append(report.table(rows, formats=shares))
    return "".join(html)


def _cell(key: str, value):
    if key == "reference_range" and isinstance(value, list) and len(value) == 2:
        return f"{report.number(value[0])} – {report.number(value[1])}"
    return ", ".join(map(str, value)) if isinstance(value, list) else value

