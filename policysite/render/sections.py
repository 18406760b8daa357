"""Render a text section by section, so versions that share text share the work.

docs/fast-builds.md, *What happens when you build*, says what it buys and how it is tested.

Successive versions of a policy differ by a few paragraphs. Cut into sections, a new version is
mostly sections already rendered for an earlier one, and each section's HTML is memoised by
content hash (policysite.render.cache). The result must be exactly what rendering the whole text
gives, so `split` only cuts where Python-Markdown's block parser starts a block that depends
on nothing before it, and gives up (None: render the whole text) on anything with
document-wide effects:

* it cuts before a line that follows an empty line and starts with `#` (a heading) or with a
  letter (a paragraph or a setext heading). Such a block is one the parser starts afresh: only
  list items, quotes and indented code continue a previous block, and none of them starts
  with a letter or `#` at column 0. Nothing before a block looks at the blocks after it,
  except that blank lines after indented code join the code: `join` gives up on a section
  that ends in code;
* reference definitions (`[x]: url`, footnotes `[^x]:`) are document-wide: no split;
* raw HTML (`<`) is parsed across blocks, attribute lists (`{: #id}`) set ids by hand, fences
  may hold `#` lines: no split (the `{{ cookie_table }}` line is a block of its own and fine);
* heading ids are unique across the whole text (`_1`, `_2`… on repeats), which `join` redoes
  over the sections in order, exactly as Python-Markdown's toc does.

tests/test_sections.py renders every fixture, the shipped content, the benchmark corpus and
random mixes of every construct both ways and asserts identical HTML, TOC, ids and links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

_UNSAFE = ("<", "]:", "[^", "```", "~~~")  # substring tests: far cheaper than one regex
_COOKIE_MARKER = re.compile(r"^[ \t]*\{\{\s*cookie_table\s*\}\}[ \t]*$")
_HEADING_TAG = re.compile(r'<h([1-6])([^>]*?) id="([^"]*)"')
_ANCHOR_TAG = re.compile(r'<a class="heading-anchor" href="#([^"]*)">')


class Piece(NamedTuple):
    """One rendered section: HTML, its TOC entries and every heading id in order (h1 too:
    Python-Markdown gives h1 ids, it just leaves them out of the TOC)."""

    html: str
    toc: tuple[tuple[int, str, str], ...]
    heading_ids: tuple[str, ...]


def split(text: str) -> list[str] | None:
    """Given a Markdown text, return its sections (cut before each heading or paragraph that
    starts a block), or None when only the whole text renders right."""
    if any(mark in text for mark in _UNSAFE):
        return None
    lines = text.split("\n")
    if "{" in text and not all(_COOKIE_MARKER.match(line) for line in lines if "{" in line):
        return None
    parts: list[str] = []
    start = 0
    for index in range(1, len(lines)):
        line = lines[index]
        if line and (line[0] == "#" or line[0].isalpha()) and lines[index - 1] == "":
            # The empty line between two sections belongs to neither: it only ends a block.
            parts.append("\n".join(lines[start : index - 1]))
            start = index
    parts.append("\n".join(lines[start:]))
    return parts


def join(parts: Sequence[str], pieces: Sequence[Piece]) -> tuple[str, list] | None:
    """Given the sections of a text and each one rendered alone, return the whole text's HTML
    and TOC, or None when they cannot be made equal to rendering the whole text."""
    used: set[str] = set()
    html_parts: list[str] = []
    toc: list[tuple[int, str, str]] = []
    last = len(pieces) - 1
    for index, (part, piece) in enumerate(zip(parts, pieces, strict=True)):
        if index < last and piece.html.endswith("</code></pre>"):
            return None
        renamed = _unique_ids(piece.heading_ids, used)
        if renamed is None:
            return None
        html = piece.html
        if renamed:
            if "{" in part:  # the cookie table's own HTML could hold the same strings
                return None
            html = _rename(html, renamed)
        toc += [(level, renamed.get(id_, id_), title) for level, id_, title in piece.toc]
        if html:
            html_parts.append(html)
    return "\n".join(html_parts), toc


def _unique_ids(ids: Sequence[str], used: set[str]) -> dict[str, str] | None:
    """Give a section's heading ids the names they get in the whole text: the slug, or the
    first free `slug_N` (Python-Markdown's `toc.unique`). Add them to `used`; return those
    that change. None if an id is not one our slugs make (slugs never hold `_`)."""
    renamed: dict[str, str] = {}
    for local in ids:
        base, _, count = local.partition("_")
        if not base or (count and not count.isdigit()):
            return None
        final, number = base, 0
        while final in used:
            number += 1
            final = f"{base}_{number}"
        used.add(final)
        if final != local:
            renamed[local] = final
    return renamed


def _rename(html: str, renamed: dict[str, str]) -> str:
    """Rename heading ids and their "#" links in one pass (a chain a→b, b→c stays right)."""

    def heading(match: re.Match[str]) -> str:
        return f'<h{match[1]}{match[2]} id="{renamed.get(match[3], match[3])}"'

    def anchor(match: re.Match[str]) -> str:
        return f'<a class="heading-anchor" href="#{renamed.get(match[1], match[1])}">'

    return _ANCHOR_TAG.sub(anchor, _HEADING_TAG.sub(heading, html))
