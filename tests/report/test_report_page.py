import re

import pytest

from shipyard import report


def _sections():
    return [
        report.Section("Data profile", "<p>first</p>"),
        report.Section("Holdout evaluation", report.table([{"metric": "rmse", "model": 1.5}])),
    ]


def test_render_is_one_standalone_document():
    html = report.render("Run 42", _sections(), subtitle="fleet RUL",
                         facts={"run id": "abc123", "data hash": "sha256:00ff"})
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert html.count("<html") == 1 and html.count("</html>") == 1
    assert "<style>" in html and "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    for text in ("Run 42", "fleet RUL", "abc123", "sha256:00ff", "<p>first</p>"):
        assert text in html


def test_sections_appear_in_order_with_a_table_of_contents():
    html = report.render("Run", _sections())
    ids = re.findall(r'<section class="panel section" id="([^"]+)"', html)
    assert len(ids) == 2 and len(set(ids)) == 2
    for anchor in ids:
        assert f'href="#{anchor}"' in html
    assert html.index("Data profile</h2>") < html.index("Holdout evaluation</h2>")


def test_same_titles_get_distinct_anchors():
    html = report.render("Run", [report.Section("Gates", "a"), report.Section("Gates", "b")])
    ids = re.findall(r'<section class="panel section" id="([^"]+)"', html)
    assert len(set(ids)) == 2


def test_user_strings_are_escaped_but_section_markup_is_kept():
    evil = "<script>alert(1)</script>"
    html = report.render(evil, [report.Section(evil, "<b>trusted</b>")], subtitle=evil,
                         facts={evil: evil})
    assert evil not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # title x2, subtitle, fact x2
    assert "<b>trusted</b>" in html


def test_render_without_sections_or_facts():
    html = report.render("Empty", [])
    assert "Empty" in html and "Contents" not in html


def test_write_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "runs" / "r1" / "report.html"
    html = report.render("Run ü", _sections())
    assert report.write(target, html) == target
    assert target.read_text(encoding="utf-8") == html
    report.write(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_failed_write_keeps_the_old_page(tmp_path):
    target = tmp_path / "report.html"
    report.write(target, "old")
    with pytest.raises(TypeError):
        report.write(target, b"not text")  # writing bytes to a text file fails mid-write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
