"""The report page's HTML: one self-contained file, its script, style and data inlined.

The script and style are read from ``page.js`` and ``page.css`` beside this module; the data
(:func:`.sections.sweep_sections`) is inline JSON that escapes ``<``, ``>`` and ``&``, and
every stored string that reaches the HTML is escaped, so stored text stays inert. Left out:
reading the store (:mod:`.sections`) and writing files (:mod:`.writer`).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from ... import store
from ..fields import HEADER_ALIASES
from .facts import utc_span


def _json_for_script(value) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` survive unescaped, so
    ``</script>`` or ``<!--`` in stored text cannot end the block or start markup."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _figure_html(paths: list[str], note: str, version: str) -> str:
    if not paths:
        return f'<p class="note">No figures yet: {_e(note)}</p>'
    query = f"?v={version}" if version else ""
    items = "".join(
        f'<figure><a href="{_e(p)}"><img src="{_e(p + query)}" alt="{_e(Path(p).stem)}"></a>'
        f"<figcaption>{_e(Path(p).name)}</figcaption></figure>"
        for p in paths
    )
    return f'<div class="figures">{items}</div>'


def _section_html(i: int, section: dict, figures: list[str], note: str, version: str) -> str:
    facts = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in section["facts"])
    fixed = ", ".join(section["fixed"])
    parts = [
        f'<section class="sweep" id="sweep-{i}" data-index="{i}">',
        f'<h2 class="sweep-name">{_e(section["name"])}</h2>',
        f'<p class="description">{_e(section["description"])}</p>'
        if section["description"]
        else "",
        f'<p class="note">{_e(section["note"])}</p>' if section["note"] else "",
        f'<dl class="facts">{facts}</dl>',
        f'<p class="fixed">Every member: {_e(fixed)}</p>' if fixed else "",
        '<div class="explore"><div class="members">',
        '<div class="toolbar"><input type="search" class="filter" '
        'placeholder="filter: tanh, depth=2, lr&lt;0.01, diverged" aria-label="filter rows">',
        '<button type="button" class="more" hidden></button><span class="count"></span></div>',
        '<div class="table-wrap"><table><thead></thead><tbody></tbody></table></div></div>',
        '<div class="curves"><div class="curves-head"><h3>Training curves of the selected rows'
        '</h3><button type="button" class="clear">clear</button></div>',
        '<svg class="chart" viewBox="0 0 560 340" role="img" aria-label="training curves"></svg>',
        '<p class="hint">Click rows to add their curves. Solid: training loss (window means);'
        " dashed: validation loss at each evaluation.</p>",
        '<ul class="legend"></ul></div></div>',
        _figure_html(figures, note, version),
        "</section>",
    ]
    return "".join(parts)


def render(
    sections: list[dict],
    figures: dict[str, list[str]],
    notes: dict[str, str],
    title: str,
    stamp: str = "",
    watching: bool = False,
) -> str:
    """The page's HTML.

    Args:
      sections: :func:`.sections.sweep_sections`; figures: per sweep name, PNG paths relative to the
        page; notes: per sweep name, why it has no figures.
      title: shown at the top (the store's file name); stamp: this version of the page.
      watching: poll ``stamp.js`` and reload when it changes.
    """
    nav = "".join(f'<a href="#sweep-{i}">{_e(s["name"])}</a>' for i, s in enumerate(sections))
    body = (
        "".join(
            _section_html(
                i,
                s,
                figures.get(s["name"], []),
                notes.get(s["name"], ""),
                stamp if watching else "",
            )
            for i, s in enumerate(sections)
        )
        or '<p class="note empty">The store holds no sweeps yet.</p>'
    )
    boot = {"stamp": stamp, "watching": watching, "aliases": HEADER_ALIASES, "sweeps": sections}
    status = (
        '<p class="watching">Watching the store: this page reloads itself as groups finish.</p>'
        if watching
        else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - jaxnet sweep report</title>"
        f"<style>{_asset('page.css')}</style></head><body>"
        f'<header><h1>{_e(title)}</h1><p class="sub">jaxnet sweep report, written '
        f"{_e(utc_span(store.now(), store.now()))}</p>{status}<nav>{nav}</nav></header>"
        f"<main>{body}</main>"
        f'<script type="application/json" id="jaxnet-data">{_json_for_script(boot)}</script>'
        f"<script>{_asset('page.js')}</script></body></html>\n"
    )
