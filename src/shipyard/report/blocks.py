"""Small pieces of markup for sections: tables, key-figure cards, badges.

Everything that comes from data or users is escaped here, so a section built
from these helpers is safe to mark as trusted in the page template.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping

from markupsafe import Markup, escape

TONES = ("good", "bad", "warn", "info", "neutral")
Format = str | Callable[[object], str]


def share(value) -> str:
    """A share as a percentage that never rounds a non-zero share to 0%."""
    if value is None or math.isnan(value):
        return "–"
    if value == 0:
        return "0%"
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value:.1%}"


def number(value) -> str:
    """A number as people read it: thousands separated, about four significant
    digits, no float noise; NaN and None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    x = float(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    magnitude = abs(x)
    if x == 0:
        return "0"
    if magnitude >= 1e15 or magnitude < 1e-4:
        return f"{x:.3e}"
    if magnitude >= 1e4:
        return f"{x:,.0f}"
    if magnitude >= 100:
        return f"{x:,.1f}"
    return f"{x:.4g}"


def _cell(value, spec: Format | None) -> tuple[str, bool]:
    """The cell's markup and whether it is a number (right-aligned)."""
    if isinstance(value, Markup):
        return str(value), False
    is_number = isinstance(value, numbers.Number) and not isinstance(value, bool)
    if callable(spec):
        text = spec(value)
    elif spec is not None and value is not None:
        text = spec.format(value) if "{" in spec else format(value, spec)
    elif is_number or value is None or isinstance(value, bool):
        text = number(value)
    else:
        text = str(value)
    return str(escape(text)), is_number


def table(
    rows: list[dict],
    columns: list[str] | None = None,
    *,
    formats: dict[str, Format] | None = None,
    highlight: Iterable[int] = (),
) -> str:
    """An HTML table of ``rows`` (dicts), with ``columns`` in order (default: keys
    in order of first appearance). ``formats`` maps a column to a format spec
    (``".3f"``, ``".1%"``, ``"{:,} rows"``) or a function of the value that
    returns text; other numbers are formatted by
    :func:`number`. Values are escaped unless they are ``Markup``. Rows whose
    index is in ``highlight`` are emphasised."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    formats = formats or {}
    marked = set(highlight)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for col in columns:
            text, is_number = _cell(row.get(col), formats.get(col))
            cells.append(f'<td class="num">{text}</td>' if is_number else f"<td>{text}</td>")
        attr = ' class="highlight"' if i in marked else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    if not rows:
        body.append(f'<tr><td class="empty" colspan="{max(len(columns), 1)}">none</td></tr>')
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def cards(values: Mapping[str, object], *, notes: Mapping[str, str] | None = None) -> str:
    """A row of key figures: label -> value (numbers formatted), each with an
    optional note under it (``notes`` by the same label)."""
    notes = notes or {}
    items = []
    for label, value in values.items():
        shown = value if isinstance(value, str) else number(value)
        note = notes.get(label)
        note_html = f'<div class="card-note">{escape(note)}</div>' if note else ""
        items.append(
            f'<div class="card"><div class="card-label">{escape(label)}</div>'
            f'<div class="card-value">{escape(shown)}</div>{note_html}</div>'
        )
    return f'<div class="cards">{"".join(items)}</div>'


def badge(text: str, tone: str = "neutral") -> Markup:
    """A small coloured label (``good``, ``bad``, ``warn``, ``info``, ``neutral``),
    as Markup so that :func:`table` keeps it."""
    if tone not in TONES:
        raise ValueError(f"The 'tone' of a badge must be one of {TONES}. Got {tone!r} instead.")
    return Markup('<span class="badge badge-{}">{}</span>').format(tone, text)


def gallery(images: list[str]) -> str:
    """Plots (from :func:`shipyard.report.figure`) side by side, wrapping on narrow screens."""
    return f'<div class="gallery">{"".join(images)}</div>'
