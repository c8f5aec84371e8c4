import base64
import re

from shipyard import report

PNG = b"\x89PNG\r\n\x1a\n"


def _png(html):
    match = re.fullmatch(r'<img class="plot" src="data:image/png;base64,([A-Za-z0-9+/=]+)" '
                         r'alt="([^"]*)">', html)
    assert match, html[:120]
    return base64.b64decode(match.group(1)), match.group(2)


def test_figure_is_an_inline_png_with_alt_text():
    fig, ax = report.new_figure(4, 3)
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title("Loss <by> epoch")
    data, alt = _png(report.figure(fig))
    assert data.startswith(PNG)
    assert alt == "Loss &lt;by&gt; epoch"
    assert fig.axes == []  # cleared, so its memory can go


def test_figure_alt_can_be_given():
    fig, ax = report.new_figure()
    ax.bar(["a", "b"], [1, 2])
    assert _png(report.figure(fig, alt="bars"))[1] == "bars"


def test_new_figure_has_the_report_look():
    fig, ax = report.new_figure(5, 2)
    assert tuple(fig.get_size_inches()) == (5, 2)
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    report.figure(fig)


def test_figure_closes_a_pyplot_figure():
    from matplotlib import pyplot

    fig = pyplot.figure()
    fig.add_subplot().plot([1, 2])
    number = fig.number
    report.figure(fig)
    assert not pyplot.fignum_exists(number)
