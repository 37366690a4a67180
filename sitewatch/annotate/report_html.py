"""One self-contained HTML page for a site: figures, progress, events, scenes, provenance.

Everything is inline (images as ``data:`` URIs, CSS and a few lines of script
in the page), so the file opens offline, can be mailed or archived, and loads
nothing from anywhere. The only script drives the before/after swipe; without
scripting the two images simply show side by side.

Examples
--------
>>> page = render_report(ReportPage(title="Test site", sections=[
...     Section("Numbers", table=Table(["a", "b"], [[1, "x<y"]]))]))
>>> "<td>x&lt;y</td>" in page and "http" not in page.split("<body>")[1]
True
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Image", "Table", "Section", "ReportPage", "render_report", "data_uri", "GENERATOR"]

#: In the head of every report: how ``sitewatch report --overwrite`` recognises its own files.
GENERATOR = '<meta name="generator" content="sitewatch">'


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for embedding."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass
class Image:
    """An embedded image with its caption and alt text."""

    data: bytes
    mime: str = "image/png"
    caption: str = ""
    alt: str = ""
    id: str = ""


@dataclass
class Table:
    """A plain table; cells are escaped, numbers right-aligned."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass
class Section:
    """A titled part of the report: text, images, a swipe pair, a table, JSON."""

    title: str
    text: str = ""
    images: list[Image] = field(default_factory=list)
    swipe: tuple[Image, Image] | None = None
    table: Table | None = None
    json_data: Any = None
    id: str = ""


@dataclass
class ReportPage:
    """The whole page."""

    title: str
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)


_CSS = """
:root{--ink:#1a1a1a;--muted:#555;--rule:#ddd;--accent:#0072B2}
*{box-sizing:border-box}
body{font:15px/1.5 "DejaVu Sans",system-ui,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1000px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px;
border-bottom:1px solid var(--rule);padding-bottom:4px}
.sub{color:var(--muted);margin:0 0 16px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
figure{margin:14px 0}figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid var(--rule);text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;color:var(--muted);padding-bottom:4px}
.swipe{position:relative;display:inline-block;max-width:100%;user-select:none}
.swipe img{display:block;max-width:100%;height:auto}
.swipe .top{position:absolute;inset:0;clip-path:inset(0 50% 0 0)}
.swipe .line{position:absolute;top:0;bottom:0;left:50%;width:2px;background:#fff;
box-shadow:0 0 3px #000;pointer-events:none}
.swipe input{width:100%;margin:6px 0 0}
.noscript-pair{display:none}
pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px;max-height:420px}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--rule);
padding-top:8px}
"""

_JS = """
document.querySelectorAll('.swipe').forEach(function (box) {
  var top = box.querySelector('.top'), line = box.querySelector('.line'),
      input = box.querySelector('input');
  function set(v) { top.style.clipPath = 'inset(0 ' + (100 - v) + '% 0 0)';
                    line.style.left = v + '%'; }
  input.addEventListener('input', function () { set(Number(input.value)); });
  set(Number(input.value));
});
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return f"<td>{'' if v is None else _esc(v)}</td>"
    if isinstance(v, int):
        return f'<td class="num">{v:,}</td>'
    if isinstance(v, float):
        return f'<td class="num">{v:,.1f}</td>' if abs(v) >= 100 else \
            f'<td class="num">{v:.3g}</td>'
    return f"<td>{_esc(v)}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{_esc(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(img: Image) -> str:
    ident = f' id="{_esc(img.id)}"' if img.id else ""
    cap = f"<figcaption>{_esc(img.caption)}</figcaption>" if img.caption else ""
    return (f'<figure{ident}><img src="{data_uri(img.data, img.mime)}" '
            f'alt="{_esc(img.alt or img.caption)}">{cap}</figure>')


def _swipe(pair: tuple[Image, Image]) -> str:
    a, b = pair
    return (f'<figure><div class="swipe"><img src="{data_uri(a.data, a.mime)}" '
            f'alt="{_esc(a.alt or a.caption)}"><img class="top" '
            f'src="{data_uri(b.data, b.mime)}" alt="{_esc(b.alt or b.caption)}">'
            f'<div class="line"></div><input type="range" min="0" max="100" value="50" '
            f'aria-label="swipe between {_esc(a.caption)} and {_esc(b.caption)}"></div>'
            f"<figcaption>Drag the slider: left of the line {_esc(b.caption)}, right of it "
            f"{_esc(a.caption)}.</figcaption></figure>")


def render_report(page: ReportPage) -> str:
    """The page as one HTML string (UTF-8, no external references)."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">', GENERATOR,
             f"<title>{_esc(page.title)}</title>", f"<style>{_CSS}</style></head><body><main>",
             f"<h1>{_esc(page.title)}</h1>"]
    if page.subtitle:
        parts.append(f'<p class="sub">{_esc(page.subtitle)}</p>')
    if page.facts:
        parts.append('<dl class="facts">' + "".join(
            f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in page.facts) + "</dl>")
    for s in page.sections:
        ident = f' id="{_esc(s.id)}"' if s.id else ""
        parts.append(f"<section{ident}><h2>{_esc(s.title)}</h2>")
        if s.text:
            parts += [f"<p>{_esc(p)}</p>" for p in s.text.split("\n\n")]
        if s.swipe:
            parts.append(_swipe(s.swipe))
        parts += [_image(i) for i in s.images]
        if s.table is not None:
            parts.append(_table(s.table))
        if s.json_data is not None:
            text = json.dumps(s.json_data, indent=2, ensure_ascii=False, default=str)
            parts.append(f"<details><summary>Show JSON</summary><pre>{_esc(text)}</pre>"
                         "</details>")
        parts.append("</section>")
    if page.footer:
        parts.append("<footer>" + "<br>".join(_esc(f) for f in page.footer) + "</footer>")
    parts.append(f"</main><script>{_JS}</script></body></html>")
    return "\n".join(parts)
