"""Matplotlib figures for the report, without pyplot.

``matplotlib.figure.Figure`` renders through the Agg canvas when saved, so no
backend is selected and no global state changes: this is safe inside a
server, a notebook or a test run that uses another backend.
"""

from __future__ import annotations

import base64
import io
import sys

from markupsafe import escape
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# colour-blind-friendly (Okabe-Ito), first the colour the page uses for accents
PALETTE = ("#3b5bdb", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442",
           "#000000")
INK = "#343a40"
MUTED = "#868e96"


def new_figure(width: float = 6.0, height: float = 4.0) -> tuple[Figure, Axes]:
    """A figure with one axes in the report's look: light grid, no top/right frame."""
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    style(ax)
    return fig, ax


def style(ax: Axes) -> None:
    """Apply the report's look to axes made some other way."""
    ax.set_prop_cycle(color=list(PALETTE))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#adb5bd")
    ax.tick_params(colors=INK, labelsize=9)
    ax.grid(True, color="#e9ecef", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.title.set_fontsize(11)
    ax.title.set_color(INK)


def _alt(fig: Figure) -> str:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    return suptitle or "; ".join(titles) or "plot"


def figure(fig: Figure, *, alt: str | None = None, dpi: int = 100) -> str:
    """``fig`` as an inline PNG ``<img>``; the figure is closed and cleared, so
    its memory is released. ``alt`` defaults to the axes' titles."""
    text = alt if alt is not None else _alt(fig)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        # a figure made by pyplot stays registered there until closed; ours never is
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)
        fig.clear()
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" src="data:image/png;base64,{data}" alt="{escape(text)}">'
