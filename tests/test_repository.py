"""The repository explains itself: nothing cites a document outside it; every docs link resolves.

What code and tests rely on is written in `docs/` (docs/ARCHITECTURE.md lists the pages), so a
reader never needs a file that is not in the checkout or an issue tracker to follow a comment.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from sites import ROOT, checkout_files

# References to what lives outside the repository: the product specification by its section
# sign or file name, its folder beside the checkout, and issue or pull-request numbers.
# (The patterns are written so that this file does not match them.)
OUTSIDE_REFERENCES = re.compile(
    r"\bSPEC\s*§"  # a section of the specification
    r"|\bSPEC\b(?!\()"  # the specification by name, unless called like a function
    r"|\bSPEC\.md\b"
    r"|\.\./shared\b"
    r"|\b[Tt]he spec\b"
    r"|\b[Ii]ssues?\s+#?\d+\b"  # an issue by number, with or without #
    r"|\b(?:PR|[Pp]ull request)\s+#?\d+\b"
)
# A GitHub-style reference in brackets. Not looked for in stylesheets and images, where a
# colour written in brackets after a hash would look the same.
BRACKETED_NUMBER = re.compile(r"\(#\d{1,6}\)")
COLOUR_FILES = (".css", ".scss", ".svg")

# `docs/<page>.md` as a reader would cite it, not as a path inside a larger path or string.
DOCS_CITATION = re.compile(r"(?<![\w/.\"'-])docs/([\w.-]+\.md)\b")
# A citation of a section: docs/<page>.md, *Heading* (the heading's text in italics).
SECTION_CITATION = re.compile(r"(?<![\w/.\"'-])docs/([\w.-]+\.md), \*([^*\n]+)\*")
# Inline links and images, [text](target) and ![alt](target), and reference definitions.
MARKDOWN_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _text(name: str) -> str | None:
    """The file's text, or None for a binary file (a NUL byte, or not UTF-8)."""
    data = (ROOT / name).read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_files() -> dict[str, str]:
    return {name: text for name in checkout_files() if (text := _text(name)) is not None}


def _without_code(markdown: str, *, inline: bool = True) -> str:
    """Markdown with fenced code blocks (and inline code) blanked, lines kept in place."""
    lines, fence = [], None
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            lines.append("")
        elif fence is not None:
            if stripped.startswith(fence):
                fence = None
            lines.append("")
        else:
            lines.append(re.sub(r"`[^`]*`", "``", line) if inline else line)
    return "\n".join(lines)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _plain(heading: str) -> str:
    """A heading's text without code marks: *`--jobs N`* cites the heading ## `--jobs N`."""
    return heading.replace("`", "").strip()


def _headings(markdown: str) -> set[str]:
    """A page's heading texts, plain (lines in code blocks are not headings)."""
    prose = _without_code(markdown, inline=False)
    return {_plain(match.group(1)) for match in HEADING.finditer(prose)}


def test_repository_cites_no_document_outside_it() -> None:
    files = _text_files()
    assert "README.md" in files and "docs/ARCHITECTURE.md" in files
    found = []
    for name, text in files.items():
        matches = [*OUTSIDE_REFERENCES.finditer(text)]
        if not name.endswith(COLOUR_FILES):
            matches += BRACKETED_NUMBER.finditer(text)
        found += [f"{name}:{_line(text, m.start())}: {m.group(0)!r}" for m in matches]
    assert not found, (
        "cite the docs/ page that holds the contract instead "
        "(or state the reason plainly):\n" + "\n".join(found)
    )


def test_markdown_links_in_readme_and_docs_point_to_files_in_the_repository() -> None:
    files = set(checkout_files())
    folders = {str(parent) for name in files for parent in Path(name).parents}
    pages = ["README.md", *sorted(name for name in files if re.fullmatch(r"docs/[^/]+\.md", name))]
    broken = []
    for page in pages:
        text = _without_code((ROOT / page).read_text(encoding="utf-8"))
        targets = [*MARKDOWN_LINK.finditer(text), *REFERENCE_DEFINITION.finditer(text)]
        for match in targets:
            target = match.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
                continue  # a URL, an anchor on the same page, or a path of the built site
            path = target.split("#")[0].split("?")[0]
            where = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
            if where not in files and where not in folders:
                broken.append(f"{page}:{_line(text, match.start())}: {target}")
    assert "docs/ARCHITECTURE.md" in pages
    assert not broken, "links to files that are not in the repository:\n" + "\n".join(broken)


def test_docs_pages_cited_anywhere_exist_with_the_cited_section() -> None:
    files = _text_files()
    missing = []
    for name, text in files.items():
        for match in DOCS_CITATION.finditer(text):
            if f"docs/{match.group(1)}" not in files:
                missing.append(f"{name}:{_line(text, match.start())}: docs/{match.group(1)}")
        for match in SECTION_CITATION.finditer(text):
            page, heading = f"docs/{match.group(1)}", _plain(match.group(2))
            if page in files and heading not in _headings(files[page]):
                missing.append(
                    f"{name}:{_line(text, match.start())}: {page} has no heading {heading!r}"
                )
    assert not missing, "cited docs pages or sections that do not exist:\n" + "\n".join(missing)
