"""Rendered HTML cut into blocks, and blocks into words: what the diff compares (diff.py).

A block is a heading, a paragraph, a list item, a table row (its cells joined by " · "), a
definition or a caption, as (kind, text): the text a reader sees, without nested blocks or
the headings' "#" links. Blocks and their tokens are cached: successive versions share most
of their sections, and each block is compared several times while blocks are paired.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from lxml import html as lxml_html

from policysite.render.markup import ANCHOR_CLASS

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_LEAVES = HEADINGS | {"p", "li", "pre", "dt", "dd", "caption"}
_CONTAINERS = {"ul", "ol", "table", "thead", "tbody", "blockquote", "div", "section", "dl", "p"}
_WORDS = re.compile(r"\w+|[^\w\s]|\s+")
_SOLID = re.compile(r"\w+|[^\w\s]")  # _WORDS without the runs of space
_SPACE_RUNS = re.compile(r"\s+")


def _own_text(element) -> str:
    """An element's text without nested blocks (a list inside an item) or heading anchors."""
    parts = [element.text or ""]
    for child in element:
        if not isinstance(child.tag, str):
            parts.append(child.tail or "")
            continue
        if child.tag not in _CONTAINERS and child.get("class") != ANCHOR_CLASS:
            parts.append(child.text_content())
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def blocks(rendered_html: str) -> list[tuple[str, str]]:
    """Given rendered HTML, return its blocks in reading order as (kind, text)."""
    return list(_blocks(rendered_html))


def blocks_of(parts: Sequence[str]) -> list[tuple[str, str]]:
    """The blocks of a text rendered in sections (policysite.render.sections): each section's, in
    order. Sections hold whole top-level elements, so this equals `blocks` of the joined HTML,
    and a section that many versions share is parsed once."""
    found: list[tuple[str, str]] = []
    for part in parts:
        found += _blocks(part)
    return found


# Diff pages compare v1→v2, v2→v3…, and versions share most sections: each section is
# parsed once per process.
@functools.lru_cache(maxsize=8192)
def _blocks(rendered_html: str) -> tuple[tuple[str, str], ...]:
    if not rendered_html.strip():
        return ()
    root = lxml_html.fragment_fromstring(rendered_html, create_parent="div")
    found: list[tuple[str, str]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "tr":
            cells = [" ".join(c.text_content().split()) for c in element if c.tag in {"td", "th"}]
            found.append(("row", " · ".join(cells)))
        elif element.tag in _LEAVES:
            kind, parent = element.tag, element.getparent()
            if kind == "li":
                kind = f"li-{parent.tag}"
            elif kind == "p" and parent.tag == "li":  # a loose list's item
                kind = f"li-{parent.getparent().tag}"
            text = _own_text(element)
            if text:
                found.append((kind, text))
    return tuple(found)


@functools.lru_cache(maxsize=8192)
def tokens(text: str) -> tuple[str, ...]:
    """A block's words, punctuation and (as one " ") runs of space; one block is tokenised
    for several comparisons while blocks are paired."""
    return tuple(_WORDS.findall(_SPACE_RUNS.sub(" ", text)))  # each run of space: one " "


@functools.lru_cache(maxsize=8192)
def solid(text: str) -> tuple[str, ...]:
    """`tokens` without the spaces: the words and punctuation that similarity counts."""
    return tuple(_SOLID.findall(text))
