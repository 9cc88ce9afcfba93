"""The report page: ``index.html``, one offline web page with every sweep of a results store.

Per sweep the page shows what the store knows about the run (configs, groups, timings, device,
versions), a table of every trained member that sorts by a header click and narrows to a typed
filter (``tanh``, ``depth=2``, ``lr<0.01``), the PNG figures of
:func:`jaxnet.sweep.draw_figures` drawn beside the page, and the training curves of the rows
the reader selects, drawn in the page as SVG from the stored downsampled curves. Everything is
read from the store alone.

The page is one file: its script and style are inlined from ``page.js`` and ``page.css`` in
this package, its data is inline JSON; only the PNGs are separate files in the same folder. No
network, no CDN, no vendored library: a sortable table and a line chart are a few hundred lines.

Nothing in the store is trusted: names, descriptions and config strings are HTML-escaped in
text and attributes, the inline JSON escapes ``<``, ``>`` and ``&`` so no ``</script>`` can
close it, and the script puts stored strings into the page only as text (``textContent``).

:func:`watch` rewrites the page whenever a running sweep commits a group; the page polls a tiny
``stamp.js`` beside it and reloads itself when the stamp changes, keeping its sort, filter and
selection in the address's ``#`` part.

The package, one concept a file: :mod:`.facts` (a sweep's header), :mod:`.members` (its
table), :mod:`.sections` (both, per sweep), :mod:`.markup` (the HTML), :mod:`.writer`
(:func:`write_page`: PNGs, page and stamp on disk) and :mod:`.watching` (:func:`watch`).

Left out: a server (the folder is the page), comparing sweeps against each other, and curves of
members that are not selected (the PNGs show the pooled picture).
"""

from .markup import render as render
from .sections import sweep_sections as sweep_sections
from .watching import store_state as store_state
from .watching import watch as watch
from .writer import PAGE as PAGE
from .writer import STAMP as STAMP
from .writer import ReportFiles as ReportFiles
from .writer import write_page as write_page
from .writer import write_report as write_report

__all__ = [
    "PAGE",
    "STAMP",
    "ReportFiles",
    "sweep_sections",
    "render",
    "write_page",
    "write_report",
    "store_state",
    "watch",
]
