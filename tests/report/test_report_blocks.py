import math

import numpy as np
import pytest
from markupsafe import Markup

from shipyard import report


def test_table_escapes_values_and_headers():
    html = report.table([{"<script>": "<img src=x onerror=alert(1)>"}])
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_table_columns_follow_first_appearance_or_the_given_order():
    rows = [{"b": 1, "a": 2}, {"a": 3, "c": 4}]
    assert _headers(report.table(rows)) == ["b", "a", "c"]
    assert _headers(report.table(rows, ["c", "a"])) == ["c", "a"]


def _headers(html):
    head = html.split("<thead>")[1].split("</thead>")[0]
    return [cell.split("</th>")[0] for cell in head.split("<th>")[1:]]


def test_table_formats_numbers():
    html = report.table(
        [{"n": 1234567, "x": 0.123456, "big": 123456.789, "nan": float("nan"), "share": 0.25,
          "np": np.float64(2.5), "none": None}],
        formats={"share": ".1%"},
    )
    for text in ("1,234,567", "0.1235", "123,457", "25.0%", "2.5"):
        assert f">{text}</td>" in html
    assert html.count(">–</td>") == 2  # NaN and None
    assert 'class="num"' in html


def test_table_formats_with_a_function_and_a_template():
    html = report.table([{"a": 3, "b": 0.5}], formats={"a": "{:,} rows", "b": lambda v: "half"})
    assert ">3 rows</td>" in html and ">half</td>" in html


def test_markup_cells_are_kept_and_rows_highlighted():
    html = report.table([{"gate": "quality", "verdict": report.badge("passed", "good")},
                         {"gate": "fairness", "verdict": "<b>"}], highlight=[1])
    assert '<span class="badge badge-good">passed</span>' in html
    assert "&lt;b&gt;" in html
    assert html.count('class="highlight"') == 1
    assert html.index('class="highlight"') > html.index("quality")


def test_empty_table_says_so():
    assert ">none</td>" in report.table([], ["a", "b"])


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (0.0, "0"), (12, "12"), (1.5, "1.5"), (0.98765, "0.9877"), (-0.0001234, "-0.0001234"),
    (1.2e-7, "1.200e-07"), (250.25, "250.2"), (98765.4, "98,765"), (None, "–"),
    (math.nan, "–"), (math.inf, "∞"), (True, "yes"),
])
def test_number(value, text):
    assert report.number(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0, "0%"), (0.0004, "<0.1%"), (0.25, "25.0%"), (1.0, "100.0%"), (None, "–"),
])
def test_share(value, text):
    assert report.share(value) == text


def test_cards_escape_and_format():
    html = report.cards({"rows": 120000, "<x>": "<y>"}, notes={"rows": "after dedup"})
    assert "120,000" in html and "after dedup" in html
    assert "&lt;x&gt;" in html and "&lt;y&gt;" in html and "<x>" not in html
    assert html.count('class="card"') == 2


def test_badge_rejects_an_unknown_tone():
    with pytest.raises(ValueError, match="tone"):
        report.badge("x", "purple")
    assert isinstance(report.badge("<ok>", "good"), Markup)
    assert "&lt;ok&gt;" in report.badge("<ok>", "good")
