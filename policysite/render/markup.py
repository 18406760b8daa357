"""Markdown → HTML for one version's text: heading ids, table of contents, `{{ cookie_table }}`.

Heading ids are ASCII slugs of the Vietnamese title: "Thu thập thông tin người dùng" →
`thu-thap-thong-tin-nguoi-dung`, "Điều khoản" → `dieu-khoan`
(docs/build-output.md, *Heading links*). A leading section number ("1. ", "2.3 ", "IV) "; not
a bare "2026 ") is left out of the id, so renumbering sections in a new version keeps every
old link to a section working. Ids the page templates use themselves (`RESERVED_IDS`) get a
`-section` suffix, and repeated titles get `_1`, `_2`… (Python-Markdown's toc rule).
"""

from __future__ import annotations

import functools
import html
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from xml.etree import ElementTree as etree

import markdown
from markdown.extensions import Extension
from markdown.extensions.attr_list import AttrListExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension
from markdown.extensions.toc import TocExtension
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor

from policysite.render.sections import Piece

# Ids of the page chrome (templates): a heading must never take one of them.
RESERVED_IDS = frozenset(
    {"main", "toc", "toc-title", "cookie-settings", "notices", "top", "data-controller"}
)

_SECTION_NUMBER = re.compile(r"^\s*(?:\d+(?:\.\d+)*[.)]|\d+(?:\.\d+)+|[IVX]+[.)])\s+(?=\S)")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_COOKIE_MARKER = re.compile(r"^[ \t]*\{\{\s*cookie_table\s*\}\}[ \t]*$")
ANCHOR_CLASS = "heading-anchor"
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True)
class Rendered:
    """One version's text as HTML, with what `check` and the templates need to know of it.

    `ids` and `links` are read back from the HTML on first use: only `check` needs them, and
    a cached text (policysite.render.cache) then holds just `html` and `toc`.
    """

    html: str
    toc: list[tuple[int, str, str]] = field(default_factory=list)  # (level, id, plain title)

    @functools.cached_property
    def ids(self) -> set[str]:
        """Every id= in the HTML (raw HTML blocks included)."""
        return self._inventory.ids

    @functools.cached_property
    def links(self) -> list[str]:
        """Every <a href> in document order, heading anchors left out."""
        return self._inventory.links

    @functools.cached_property
    def _inventory(self) -> _Inventory:
        inventory = _Inventory()
        inventory.feed(self.html)
        inventory.close()
        return inventory


def slugify(text: str) -> str:
    """Given a heading, return its ASCII id: no section number, no diacritics, đ → d."""
    text = _SECTION_NUMBER.sub("", text, count=1)
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug or "section"


def _heading_id(value: str, _separator: str) -> str:
    slug = slugify(value)
    return f"{slug}-section" if slug in RESERVED_IDS else slug


class _CookieTable(Preprocessor):
    """Replace a line holding only `{{ cookie_table }}` with the table's HTML, as its own block."""

    def __init__(self, md: markdown.Markdown) -> None:
        super().__init__(md)
        self.table_html = ""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            if _COOKIE_MARKER.match(line):
                # Blank lines around the placeholder make it a block of its own, so the
                # table is never wrapped in <p>.
                out.extend(["", self.md.htmlStash.store(self.table_html), ""])
            else:
                out.append(line)
        return out


class _Permalinks(Treeprocessor):
    """After toc has set ids: add a "#" link to each heading, named for screen readers.

    The heading's accessible name is its title once (its own aria-label), and the link holds
    no text: its "#" is drawn by CSS and its name is an aria-label, so neither is read as part
    of the heading nor copied with the title.
    """

    def __init__(self, md: markdown.Markdown) -> None:
        super().__init__(md)
        self.label = "Link to this section"
        self.ids: list[str] = []  # every heading id in order, h1 too (policysite.render.sections)

    def run(self, root: etree.Element) -> None:
        self.ids = [h.attrib["id"] for h in root.iter() if h.tag in _HEADINGS and "id" in h.attrib]
        for heading in root.iter():
            if heading.tag in {"h2", "h3", "h4", "h5", "h6"} and "id" in heading.attrib:
                title = " ".join("".join(heading.itertext()).split())
                heading.set("aria-label", title)
                link = etree.SubElement(heading, "a", {"class": ANCHOR_CLASS})
                link.set("href", f"#{heading.attrib['id']}")
                etree.SubElement(
                    link, "span", {"role": "img", "aria-label": f"{self.label}: {title}"}
                )


# Python-Markdown tries every inline pattern on every run of text, and that is most of its
# time on plain prose. Each pattern below can only match where one of these strings occurs
# (its regular expression starts with or requires it), so a text without any of them gives
# the same HTML without the pattern. Patterns not listed (other extensions) always run.
_TRIGGERS = {
    "backtick": ("`",),
    "escape": ("\\",),
    "reference": ("[",),
    "link": ("[",),
    "image_link": ("[",),
    "image_reference": ("[",),
    "short_reference": ("[",),
    "short_image_ref": ("[",),
    "autolink": ("<",),
    "automail": ("<",),
    "html": ("<",),
    "entity": ("&",),
    "linebreak": ("  \n",),
    "em_strong": ("*", "_"),
    "em_strong2": ("*", "_"),
    "not_strong": ("*", "_"),
    "strong_em": ("*", "_"),
}


class _SkipIdlePatterns(Preprocessor):
    """Last preprocessor: hand the inline step only the patterns the text can trigger.

    It sees the lines the block parser will get (tabs expanded, raw HTML stashed), and the
    inline step only ever sees pieces of those lines plus placeholders made of ASCII letters,
    digits, ':' and the STX/ETX controls, none of which is a trigger.
    """

    def run(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        inline = self.md.treeprocessors["inline"]
        names = [item.name for item in self.md.inlinePatterns._priority]
        inline.inlinePatterns = [
            self.md.inlinePatterns[name]
            for name in names
            if name not in _TRIGGERS or any(t in text for t in _TRIGGERS[name])
        ]
        return lines


class _TocIfHeadings(Treeprocessor):
    """Python-Markdown's toc step, run only on a tree that has a heading. Without one it
    changes nothing in the tree and finds no entries, yet it still builds and serializes an
    empty TOC (`md.toc`, which we never read): most sections (policysite.render.sections) are a
    paragraph or a list."""

    def __init__(self, md: markdown.Markdown, toc: Treeprocessor) -> None:
        super().__init__(md)
        self.toc = toc

    def run(self, root: etree.Element) -> None:
        if any(element.tag in _HEADINGS for element in root.iter()):
            self.toc.run(root)
        else:
            self.md.toc_tokens, self.md.toc = [], ""


class _PolicyExtension(Extension):
    def __init__(self, lean: bool = True) -> None:
        super().__init__()
        self.lean = lean

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.register(_CookieTable(md), "cookie_table", 25)
        if self.lean:  # the same HTML with less work; `lean=False` is the reference
            md.preprocessors.register(_SkipIdlePatterns(md), "skip_idle_patterns", 0)
            toc = md.treeprocessors["toc"]
            md.treeprocessors.register(_TocIfHeadings(md, toc), "toc", 5)
        # toc runs at priority 5; lower priorities run later, so ids exist by then.
        md.treeprocessors.register(_Permalinks(md), "permalinks", 4)


def _new_markdown(lean: bool = True) -> markdown.Markdown:
    # Extension objects rather than names: a name makes Python-Markdown look it up among
    # every installed package's entry points, which reads all their metadata (~20 ms).
    return markdown.Markdown(
        extensions=[
            TocExtension(slugify=_heading_id, marker="", toc_depth="2-6"),
            AttrListExtension(),
            TableExtension(),
            SaneListExtension(),
            _PolicyExtension(lean),
        ],
        output_format="html",
    )


# Building a Markdown instance (extensions, patterns) costs about as much as converting a
# short text, so each thread keeps one and resets it between texts.
_local = threading.local()
_conversions = 0


def _markdown() -> markdown.Markdown:
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _new_markdown()
    return md.reset()


def prepare() -> None:
    """Build this thread's Markdown instance now (its extensions import on first use), so
    that forked workers inherit it instead of each building their own."""
    _markdown()


def conversions() -> int:
    """How many texts this process has converted: tests use it to prove a cache hit."""
    return _conversions


class _Inventory(HTMLParser):
    """Collect ids and link targets from finished HTML (raw HTML blocks included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("href") and values.get("class") != ANCHOR_CLASS:
            self.links.append(values["href"])


def _flatten(tokens: list[dict]) -> list[tuple[int, str, str]]:
    flat: list[tuple[int, str, str]] = []
    for token in tokens:
        flat.append((token["level"], token["id"], _plain(token["name"])))
        flat.extend(_flatten(token["children"]))
    return flat


def _plain(name: str) -> str:
    """toc names are HTML-escaped text; the templates escape again, so undo it once."""
    return html.unescape(name)


def render_markdown(
    text: str, *, cookie_table: str = "", anchor_label: str = "Link to this section"
) -> Rendered:
    """Given a version's Markdown body, return its HTML, table of contents, ids and links.

    `cookie_table` is the HTML that replaces a `{{ cookie_table }}` line; `anchor_label` is
    the screen-reader name of the "#" links on headings, in the page's language.
    """
    piece = render_piece(text, cookie_table=cookie_table, anchor_label=anchor_label)
    return Rendered(html=piece.html, toc=list(piece.toc))


def render_piece(text: str, *, cookie_table: str, anchor_label: str) -> Piece:
    """`render_markdown` for a whole text or one section of it (policysite.render.sections), with
    every heading id in order."""
    global _conversions
    _conversions += 1
    md = _markdown()
    md.preprocessors["cookie_table"].table_html = cookie_table
    permalinks = md.treeprocessors["permalinks"]
    permalinks.label = anchor_label
    html_text = md.convert(text)
    ids = tuple(permalinks.ids) if html_text else ()
    return Piece(html_text, tuple(_flatten(md.toc_tokens)), ids)
