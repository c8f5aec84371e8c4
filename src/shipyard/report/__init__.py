"""The run report: one self-contained HTML page that explains a run.

Every stage that has something to show (the data profile, the holdout
evaluation, the candidates, the gates) returns a :class:`Section`; ``render``
puts them on one page with a header, a facts table and a table of contents.
The page needs no network: CSS is inline and plots are PNG data URIs, so it can
be mailed, archived with the run, or opened years later.

Building blocks for sections:

- ``table(rows)``: an escaped HTML table; cells that are ``markupsafe.Markup``
  (such as ``badge(...)``) are kept as markup.
- ``new_figure()`` / ``figure(fig)``: matplotlib without pyplot or a backend
  switch, turned into an inline ``<img>``.
- ``cards({...})``: a row of key figures; ``gallery([...])``: plots side by side.
- ``number(x)`` / ``share(x)``: numbers and percentages as the tables show them.
- ``write(path, html)``: an atomic write of the page.
"""

from shipyard.report.blocks import badge, cards, gallery, number, share, table
from shipyard.report.page import Section, render, write
from shipyard.report.plots import INK, MUTED, PALETTE, figure, new_figure

__all__ = [
    "INK", "MUTED", "PALETTE", "Section", "badge", "cards", "figure", "gallery", "new_figure",
    "number", "render", "share", "table", "write",
]
