"""`check`: everything an editor should fix before publishing, without building.

docs/content-model.md, *`python build.py check`*, lists what it reports for editors.

Reports, each with the file, the line where there is one, and what to do:
errors — front matter, file names, site.toml, lock violations, broken internal links and
anchors, a missing theme; warnings — missing and stale translations, non-NFC text, drafts
without a summary. Drafts are checked too: they are what will be published next.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from collections.abc import Callable
from pathlib import Path

from policysite.content import lock
from policysite.content.frontmatter import front_matter_line
from policysite.content.sources import inspect_site
from policysite.errors import PolicyError, Problem
from policysite.model import Site, Source, Version
from policysite.render import urls
from policysite.render.markup import RESERVED_IDS, Rendered, render_markdown

SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
SITE_FILES = (
    "/",
    "/policy.json",
    "/sitemap.xml",
    "/robots.txt",
    "/consent.js",
    "/consent.css",
    "/404.html",
)
# What Markdown needs to make a link: [text](url), a reference definition, <url> or raw HTML.
LINK_MARKS = ("](", "]:", "<")

RenderedOf = Callable[[Source], Rendered]  # a source's text as HTML, however it is obtained


def check(content_dir: Path, theme_dir: Path, date: dt.date | None = None) -> list[Problem]:
    """Return every problem found in the content and theme (errors first, then warnings)."""
    problems = check_theme(theme_dir)
    # Problems exactly as a publishing build sees them; the site with drafts for the reports.
    problems += inspect_site(content_dir, date=date, drafts=False)[1]
    site, _ = inspect_site(content_dir, date=date, drafts=True)
    if site is not None:
        problems += site_problems(site)
    return sorted(problems, key=lambda p: p.severity != "error")


def site_problems(site: Site, rendered: RenderedOf | None = None) -> list[Problem]:
    """The checks of a loaded site that loading does not make: translations, links, anchors.
    `build` runs them too, on its own site and with the Markdown it rendered (`rendered`),
    so it reports exactly what `check` reports (docs/editing.md)."""
    rendered = rendered or _rendered_alone
    return missing_translations(site) + stale_translations(site) + broken_links(site, rendered)


def check_theme(theme_dir: Path) -> list[Problem]:
    if not theme_dir.is_dir():
        return [
            Problem(
                theme_dir,
                "theme folder not found",
                "pass --theme PATH to a theme with templates/ (the default is themes/default)",
            )
        ]
    if not (theme_dir / "templates").is_dir():
        return [
            Problem(
                theme_dir / "templates",
                "the theme has no templates folder",
                "pass --theme PATH to a complete theme (the default is themes/default)",
            )
        ]
    return []


# --- translations -------------------------------------------------------------------------


def missing_translations(site: Site) -> list[Problem]:
    """Warn for each language that lacks the version in force or an upcoming version.

    Superseded versions are not reported: readers never see them as current, and a language
    may start being translated at any version.
    """
    problems: list[Problem] = []
    for document in site.documents.values():
        versions = [v for v in document.versions if not v.draft]
        in_force = [v for v in versions if v.date <= site.today][-1:]
        relevant = in_force + [v for v in versions if v.date > site.today]
        for version in relevant:
            primary = version.primary
            status = "upcoming" if version.date > site.today else "in-force"
            for language in site.config.languages[1:]:
                if language in version.sources:  # even as a draft: it is on its way
                    continue
                missing = primary.path.with_name(f"{version.date.isoformat()}.{language}.md")
                if missing.exists():  # it failed to load, which is reported already
                    continue
                problems.append(
                    Problem(
                        missing,
                        f"missing translation: the {status} {version.date} version of "
                        f"{document.id!r} has no {language} text",
                        f"create {missing} translating {primary.path}, with "
                        f"`source_sha256: {primary.body_sha256}` in its front matter",
                        severity="warning",
                    )
                )
    return problems


def stale_translations(site: Site) -> list[Problem]:
    """Warn for translations whose source_sha256 is absent or not the current source's.

    Locked (published) translations are skipped: they can no longer change, so a warning
    would only repeat forever; the next version's translation is where to catch up.
    """
    problems: list[Problem] = []
    content_dir = site.config.content_dir
    try:
        locked = set(lock.read_lock(content_dir))
    except PolicyError:  # a broken lock file is reported by the loader
        locked = set()
    for document in site.documents.values():
        for version in document.versions:
            primary = version.primary
            wanted = primary.body_sha256
            for source in version.sources.values():
                relative = source.path.relative_to(content_dir).as_posix()
                if source is primary or relative in locked or source.source_sha256 == wanted:
                    continue
                line = _source_sha256_line(source)
                if source.source_sha256 is None:
                    message = (
                        f"translation does not record which {primary.language} text it "
                        f"translates (no source_sha256)"
                    )
                    hint = (
                        f"once it matches {primary.path}, add `source_sha256: {wanted}` "
                        "to its front matter"
                    )
                else:
                    message = (
                        f"stale translation: {primary.path} has changed since this was translated"
                    )
                    hint = (
                        f"update the translation to match {primary.path}, then set "
                        f"`source_sha256: {wanted}`"
                    )
                problems.append(Problem(source.path, message, hint, line, "warning"))
    return problems


@functools.lru_cache(maxsize=4096)
def _line_of_key(path: Path, sha256: str, key: str) -> int:
    """front_matter_line, read once per version of a file (`serve` checks on every save)."""
    return front_matter_line(path, key)


def _source_sha256_line(source: Source) -> int:
    return _line_of_key(source.path, source.sha256, "source_sha256")


# --- links and anchors --------------------------------------------------------------------


class _Page:
    """A path the build makes; the heading ids of the version it shows are read on first
    use, since only a link with an anchor to it needs them."""

    def __init__(self, source: Source | None = None, rendered: RenderedOf | None = None):
        self.source, self.rendered = source, rendered

    @functools.cached_property
    def ids(self) -> frozenset[str] | None:
        """The page's heading ids, or None when the page has no text to check."""
        if self.source is None or self.rendered is None:
            return None
        return frozenset(self.rendered(self.source).ids) | RESERVED_IDS


def _source_for(version: Version, language: str) -> Source:
    return version.sources.get(language, version.primary)


@functools.lru_cache(maxsize=1024)
def _rendered(body: str) -> Rendered:
    """Each text is rendered once per check, though pages and links both need it."""
    return render_markdown(body)


def _rendered_alone(source: Source) -> Rendered:
    return _rendered(source.body)


def site_pages(site: Site, *, drafts: bool, rendered: RenderedOf | None = None) -> dict[str, _Page]:
    """Every path a build makes, with the heading ids of the pages that show a version."""
    config = site.config
    rendered = rendered or _rendered_alone
    pages: dict[str, _Page] = {path: _Page() for path in SITE_FILES}
    for language in config.languages:
        pages[urls.language_root(config, language)] = _Page()
        pages[urls.feed_path(config, language)] = _Page()
    for document in site.documents.values():
        versions = [v for v in document.versions if drafts or not v.draft]
        for language in config.languages:
            pages[urls.history_path(config, document.id, language)] = _Page()
            shown = [
                v
                for v in versions
                if language in v.sources
                and (drafts or not v.sources[language].draft)
                and v.date <= site.today
            ]
            current = shown[-1] if shown else None
            if current is None:
                current = next((v for v in reversed(versions) if v.date <= site.today), None)
            if current is not None:
                page = _Page(_source_for(current, language), rendered)
                pages[urls.document_path(config, document.id, language)] = page
            for index, version in enumerate(versions):
                if language not in version.sources:
                    continue
                path = urls.version_path(config, document.id, language, version.date)
                pages[path] = _Page(version.sources[language], rendered)
                if index:
                    pages[urls.diff_path(config, document.id, language, version.date)] = _Page()
    return pages


def _link_line(source: Source, href: str) -> int:
    """The line of `href` in the Markdown: as a link target first, then anywhere."""
    lines = source.body.split("\n")
    forms = (f"({href})", f"({href} ", f"<{href}>", f"]: {href}", f'"{href}"', href)
    for form in forms:
        for number, line in enumerate(lines):
            if form in line:
                return source.body_line + number
    return source.body_line


def broken_links(site: Site, rendered: RenderedOf | None = None) -> list[Problem]:
    """Errors for links to site paths or anchors that a build would not have."""
    rendered = rendered or _rendered_alone
    problems: list[Problem] = []
    published = site_pages(site, drafts=False, rendered=rendered)
    with_drafts = site_pages(site, drafts=True, rendered=rendered)
    for document in site.documents.values():
        for version in document.versions:
            for source in version.sources.values():
                if not any(mark in source.body for mark in LINK_MARKS):
                    continue  # no link to check: its HTML need not even be read
                pages = with_drafts if version.draft or source.draft else published
                problems += _check_links(source, pages, rendered(source))
    return problems


def _check_links(source: Source, pages: dict[str, _Page], rendered: Rendered) -> list[Problem]:
    problems: list[Problem] = []
    own_ids = frozenset(rendered.ids) | RESERVED_IDS
    for href in rendered.links:
        if SCHEME_RE.match(href) or href.startswith("//"):
            continue
        line = _link_line(source, href)
        path, _, fragment = href.partition("#")
        path = path.partition("?")[0]
        if not path:
            if fragment and fragment not in own_ids:
                problems.append(_bad_anchor(source, href, fragment, own_ids, line))
            continue
        if not path.startswith("/"):
            problems.append(
                Problem(
                    source.path,
                    f"relative link {href!r}: it would point elsewhere from the current "
                    "page and from the permanent page of this version",
                    "write a site path that starts with '/', e.g. /chinh-sach-bao-mat/",
                    line,
                    "warning",
                )
            )
            continue
        page = pages.get(path)
        if page is None:
            problems.append(_bad_path(source, href, path, pages, line))
        elif fragment and page.ids is not None and fragment not in page.ids:
            problems.append(_bad_anchor(source, href, fragment, page.ids, line))
    return problems


def _bad_path(source: Source, href: str, path: str, pages: dict[str, _Page], line: int) -> Problem:
    if path + "/" in pages:
        hint = f"end the path with '/': {path}/"
    else:
        close = difflib.get_close_matches(path, list(pages), n=1)
        hint = f"did you mean {close[0]}?" if close else "link to a page the site has"
    return Problem(source.path, f"broken link {href!r}: no such page on the site", hint, line)


def _bad_anchor(
    source: Source, href: str, fragment: str, ids: frozenset[str], line: int
) -> Problem:
    candidates = sorted(ids - RESERVED_IDS)
    close = [i for i in candidates if i.startswith(fragment)] or difflib.get_close_matches(
        fragment, candidates, n=1
    )
    hint = (
        f"did you mean #{close[0]}?"
        if close
        else "link to a heading's id: its title in lowercase ASCII with dashes"
    )
    return Problem(
        source.path, f"broken anchor in {href!r}: the page has no heading #{fragment}", hint, line
    )
