import re

import numpy as np
import pandas as pd

from shipyard import report
from shipyard.profile import profile, section

IMG = '<img class="plot" src="data:image/png;base64,'
rng = np.random.default_rng(0)


def _frame(n=400):
    return pd.DataFrame({
        "<script>": [f"u{i}" for i in range(n)],
        "temp": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "site": rng.choice(["north", "south"], n),
        "label": np.where(rng.random(n) < 0.1, "fail", "ok"),
        "rul": rng.gamma(2.0, 30.0, n),
        "flag": np.r_[np.zeros(n - 1), 1.0],
    })


def test_classification_section_has_overview_findings_plots_and_columns():
    p = profile(_frame(), target="label", task="binary")
    s = section(p)
    assert isinstance(s, report.Section) and s.title == "Data profile"
    assert s.html.count(IMG) == 2  # class counts, missing share
    assert 'alt="Target: label"' in s.html and 'alt="Missing values by column"' in s.html
    assert s.html.count('class="card"') >= 3
    assert '<ul class="findings">' in s.html
    findings = s.html.split('<ul class="findings">')[1].split("</ul>")[0]
    assert re.findall(r"badge-(\w+)", findings) == ["warn", "warn", "info"]
    assert s.html.count("<tr>") >= 1 + len(p.columns)
    assert "&lt;script&gt;" in s.html and "<script>" not in s.html


def test_regression_section_without_missing_values_has_one_plot():
    frame = _frame().drop(columns="temp")
    s = section(profile(frame, target="rul", task="regression"))
    assert s.html.count(IMG) == 1
    assert 'alt="Target: rul"' in s.html
    assert "rul (target)" in s.html


def test_section_renders_into_a_page():
    html = report.render("Profile", [section(profile(_frame(), target="label", task="binary"))])
    assert html.count(IMG) == 2 and "<script>" not in html
