"""The tour's page: Item and Section records and the writer of one self-contained index.html (no server, no network).

Every picture is a PNG file beside the page, referenced by a relative path, so the
folder can be opened straight from disk (file://) or zipped and mailed. The style
sheet is inline; nothing is fetched.
"""

import dataclasses
import html
import os
import time

OK, UNAVAILABLE, FAILED = "ok", "unavailable", "failed"


@dataclasses.dataclass
class Item:
    """One result of the tour: a paragraph in the course's words, pictures, tables, and the command that reproduces it."""

    title: str
    paragraph: str = ""
    images: list = dataclasses.field(default_factory=list)   # [(file name beside index.html, caption)]
    tables: list = dataclasses.field(default_factory=list)   # [(caption, header [str], rows [[str]])]
    facts: list = dataclasses.field(default_factory=list)    # short "name: value" lines shown in bold
    command: str = ""
    status: str = OK
    reason: str = ""                                          # why it could not run (UNAVAILABLE, FAILED)
    seconds: float = 0.0


@dataclasses.dataclass
class Section:
    """A part of the course (Foundations, Case studies, ...) and its items, in order."""

    key: str
    title: str
    intro: str
    items: list = dataclasses.field(default_factory=list)


STYLE = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em 4em; color: #222; background: #fff; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; margin-top: 2em; }
h3 { margin-bottom: 0.3em; }
nav a { margin-right: 1em; }
.meta, .caption { color: #666; font-size: 0.9em; }
.item { margin: 1.2em 0 2em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; background: #fff; }
pre, code { font: 14px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: #f4f4f4; }
pre { padding: 0.5em 0.8em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.fact { font-weight: 600; }
.unavailable { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
.failed { background: #fdecea; border-left: 4px solid #d93025; padding: 0.5em 1em; }
"""


def _e(text):
    return html.escape(str(text), quote=True)


def render_item(item):
    parts = [f'<div class="item" id="{_e(_slug(item.title))}">', f"<h3>{_e(item.title)}</h3>"]
    if item.paragraph:
        parts.append(f"<p>{_e(item.paragraph)}</p>")
    if item.status != OK:
        what = "Could not run here" if item.status == UNAVAILABLE else "This part failed"
        parts.append(f'<p class="{item.status}"><b>{what}:</b> {_e(item.reason)}</p>')
    for fact in item.facts:
        parts.append(f'<p class="fact">{_e(fact)}</p>')
    for name, caption in item.images:
        parts.append(f'<figure><img src="{_e(name)}" alt="{_e(caption)}">'
                     f'<figcaption class="caption">{_e(caption)}</figcaption></figure>')
    for caption, header, rows in item.tables:
        parts.append("<table>" + (f'<caption class="caption">{_e(caption)}</caption>' if caption else ""))
        parts.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    if item.command:
        parts.append(f'<p class="caption">Reproduce it alone ({item.seconds:.1f} s here):</p>'
                     f"<pre>{_e(item.command)}</pre>")
    parts.append("</div>")
    return "\n".join(parts)


def _slug(text):
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def render_page(sections, meta):
    """The whole page as a string: a title, a table of contents, then each section with its items."""
    nav = " ".join(f'<a href="#{_e(s.key)}">{_e(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        body.append(f'<section id="{_e(s.key)}"><h2>{_e(s.title)}</h2><p>{_e(s.intro)}</p>')
        body.extend(render_item(item) for item in s.items)
        body.append("</section>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>minigrad tour</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>minigrad tour</h1>",
        "<p>The deeplearning.ai convolutional networks course, run end to end on minigrad: a small autograd "
        "engine with Numba kernels. Every number and picture below was computed on this machine by the "
        "command under it.</p>",
        f'<p class="meta">{_e(meta)}</p>', f"<nav>{nav}</nav>",
        *body, "</body></html>",
    ])


def write_page(sections, out_dir, meta):
    """Write ``out_dir/index.html`` atomically (a temp file renamed into place); return its path."""
    path = os.path.join(out_dir, "index.html")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_page(sections, meta))
    os.replace(tmp, path)
    return path


def timestamp():
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
