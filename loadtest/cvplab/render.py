"""The report's blocks (headings, paragraphs, lists, tables, images), rendered to Markdown and HTML.

The report is built as a list of blocks and rendered twice: report.md with the PNGs
beside it, and a self-contained report.html that refers to the same PNGs.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


@dataclass
class Block:
    kind: str  # h1, h2, h3, p, ul, table, img
    text: str = ""
    items: list | None = None  # ul: strings; table: rows (first row is the header)
    id: str = ""  # table: its HTML id, for a reader's link and the browser test


def h(level: int, text: str) -> Block:
    return Block(f"h{level}", text)


def p(text: str) -> Block:
    return Block("p", text)


def ul(items: list[str]) -> Block:
    return Block("ul", items=items)


def table(header: list[str], rows: list[list[str]], id: str = "") -> Block:
    return Block("table", items=[header, *rows], id=id)


def img(path: str, alt: str) -> Block:
    return Block("img", path, [alt])


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind.startswith("h"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "ul":
            out.append("\n".join(f"- {i}" for i in b.items))
        elif b.kind == "table":
            header, *rows = b.items
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
        elif b.kind == "img":
            out.append(f"![{b.items[0]}]({b.text})")
    return "\n\n".join(out) + "\n"


HTML_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
code {{ background: #f3f3f3; padding: 0 3px; }}
#verdict td:nth-child(2) {{ text-align: left; }} #verdict td:nth-child(n+3) {{ white-space: nowrap; }}
</style></head><body>
"""


def _inline(text: str) -> str:
    """Escapes text and renders `code` spans and, outside them, **bold**."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{s}</code>" if i % 2 else re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
                   for i, s in enumerate(parts))


def to_html(blocks: list[Block], title: str) -> str:
    out = [HTML_HEAD.format(title=html.escape(title))]
    for b in blocks:
        if b.kind.startswith("h"):
            out.append(f"<{b.kind}>{_inline(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            header, *rows = b.items
            opening = f'<table id="{html.escape(b.id)}">' if b.id else "<table>"
            out.append(opening + "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in header) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in r) + "</tr>" for r in rows)
                       + "</table>")
        elif b.kind == "img":
            out.append(f'<p><img src="{html.escape(b.text)}" alt="{html.escape(b.items[0])}"></p>')
    out.append("</body></html>\n")
    return "\n".join(out)


