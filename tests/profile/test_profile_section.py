import re

import numpy as np
import pandas as pd
import pytest

from shipyard import report
from shipyard.profile import grid, plots, profile, section

IMG = '<img class="plot" src="data:image/png;base64,'


def _frame(n=400):
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "<script>": [f"u{i}" for i in range(n)],
        "temp": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "site": rng.choice(["north", "<b>south</b>"], n),
        "label": np.where(rng.random(n) < 0.1, "fail", "ok"),
        "rul": rng.gamma(2.0, 30.0, n),
        "flag": np.r_[np.zeros(n - 1), 1.0],
    })


def _alts(html):
    return re.findall(r'<img class="plot" src="data:image/png;base64,[^"]+" alt="([^"]*)"', html)


@pytest.fixture(scope="module")
def classification():
    p = profile(_frame(), target="label", task="binary")
    return p, section(p)


def test_classification_section_has_overview_findings_plots_and_columns(classification):
    p, s = classification
    assert isinstance(s, report.Section) and s.title == "Data profile"
    alts = _alts(s.html)
    assert len(alts) == s.html.count(IMG) == 5
    assert alts[0].startswith("Target: label (imbalance ")
    assert alts[1] == "Each column alone predicting label"
    assert alts[2].startswith("Distributions: &lt;script&gt;, temp, site, label")
    assert alts[3] == "Correlation between numeric columns (clustered)"
    assert alts[4] == "Missing values by column"
    assert s.html.count('class="card"') >= 3
    findings = s.html.split("<h3>Findings</h3>")[1].split("<h3>")[0]
    assert re.findall(r"badge-(\w+)", findings) == ["warn", "warn", "info"]  # by severity
    assert s.html.count("<tr>") >= 1 + len(p.columns)
    assert "&lt;script&gt;" in s.html and "<script>" not in s.html
    assert "&lt;b&gt;south&lt;/b&gt;" in s.html and "<b>" not in s.html


def test_identifiers_are_marked_not_a_feature(classification):
    s = classification[1].html
    callout = s.split("<h3>Findings</h3>")[0]
    assert "badge-neutral" in callout and "not a feature" in callout
    assert "<strong>&lt;script&gt;</strong>" in callout
    assert "leakage suspects" not in s


def test_leakage_is_called_out_above_the_findings():
    frame = _frame().assign(outcome=lambda f: np.where(f["label"] == "fail", 1.0, 0.0))
    s = section(profile(frame, target="label", task="binary")).html
    callout = s.split("<h3>Findings</h3>")[0]
    assert 'badge-bad">leakage suspects</span> <strong>outcome</strong>' in callout
    findings = s.split("<h3>Findings</h3>")[1].split("<h3>")[0]
    assert re.findall(r"badge-(\w+)", findings)[0] == "bad"
    table = s.split("<h3>Columns</h3>")[1]
    assert table.count("leakage suspect") == 1 and table.count(">target<") == 1


def test_regression_section_without_missing_values():
    frame = _frame().drop(columns="temp")
    s = section(profile(frame, target="rul", task="regression")).html
    alts = _alts(s)
    assert len(alts) == 4 and "Missing values by column" not in alts
    assert alts[0] == "Target: rul"
    assert "Missing values</h3>" not in s
    assert "alone (R²)" in s


def test_wide_frames_stay_light():
    n, k = 1000, 40
    local = np.random.default_rng(1)
    frame = pd.DataFrame(local.gamma(2.0, 1.0, (n, k)) * np.arange(1, k + 1),
                         columns=[f"sensor_{i}" for i in range(k)])
    frame["y"] = local.integers(0, 2, n)
    s = section(profile(frame, target="y", task="binary")).html
    alts = _alts(s)
    assert sum(a.startswith("Distributions: ") for a in alts) == 2  # 32 panels an image
    assert "Correlation between numeric columns (clustered) (30 of 41, largest variance)" in alts
    assert len(s.encode()) < 2_000_000


def test_panels_beyond_the_cap_are_noted(monkeypatch):
    monkeypatch.setattr(grid, "MAX_PANELS", 4)
    s = section(profile(_frame(), target="label", task="binary")).html
    distributions = [a for a in _alts(s) if a.startswith("Distributions: ")]
    assert distributions == ["Distributions: &lt;script&gt;, temp, site, label"]
    assert "The first 4 of 6 columns are drawn" in s


def test_dollar_signs_in_names_are_not_formulas():
    # matplotlib reads text between two dollar signs as a formula; "$x_{1$" would not parse
    assert plots.label("a$b$c") == r"a\$b\$c"
    assert plots.label("x" * 30, 10) == "x" * 9 + "…"
    names = {"temp": "$x_{1$", "rul": "cost ($)", "site": "a$b$c"}
    s = section(profile(_frame().rename(columns=names), target="label", task="binary")).html
    assert s.count(IMG) == 5


def test_section_renders_into_a_page(classification):
    html = report.render("Profile", [classification[1]])
    assert html.count(IMG) == 5 and "<script>" not in html
