"""Which pages a site has, and who has what: texts per language, the version each current
page shows, a version's status, and a page's translations (docs/build-output.md).

Each language's root (`/`, `/en/`) is the site's home: with one document it sends visitors
to that document (`home_redirects`), with several it lists them (docs/build-output.md).

Every page asks the same questions of one site, so the answers are worked out once per site
(`site_index`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from policysite.model import Site, Version
from policysite.render import urls


@dataclass(frozen=True)
class Page:
    kind: str  # "home" | "current" | "version" | "history" | "diff" | "404"
    path: str  # site path, e.g. "/chinh-sach-bao-mat/2026-11-24/"
    language: str
    document: str = ""
    version: dt.date | None = None


def texts(site: Site, document: str, language: str) -> list[Version]:
    """The versions of `document` that have a text in `language`, oldest first."""
    return list(site_index(site).texts[document, language])


def languages_of(site: Site, document: str) -> list[str]:
    return list(site_index(site).languages[document])


@dataclass(frozen=True)
class _Index:
    """Who has what in one site: every page asks, so it is worked out once per site."""

    texts: dict[tuple[str, str], tuple[Version, ...]]  # (document, language) -> versions
    dates: dict[tuple[str, str], dict[dt.date, int]]  # (document, language) -> date -> index
    languages: dict[str, tuple[str, ...]]  # document -> languages with a text
    positions: dict[str, dict[dt.date, int]]  # document -> date -> index in its versions
    in_force: dict[str, Version | None]  # document -> its version in force


_INDEXES: dict[int, tuple[Site, _Index]] = {}


def site_index(site: Site) -> _Index:
    """The site's index, worked out on first use and kept while the site object lives."""
    found = _INDEXES.get(id(site))
    if found is not None and found[0] is site:  # the same site, not a reused id
        return found[1]
    found_texts, dates, languages = {}, {}, {}
    positions = {
        name: {v.date: i for i, v in enumerate(document.versions)}
        for name, document in site.documents.items()
    }
    for name, document in site.documents.items():
        for lang in site.config.languages:
            versions = tuple(v for v in document.versions if lang in v.sources)
            found_texts[name, lang] = versions
            dates[name, lang] = {v.date: i for i, v in enumerate(versions)}
        languages[name] = tuple(lang for lang in site.config.languages if found_texts[name, lang])
    in_force = {name: site.in_force(name) for name in site.documents}
    index = _Index(found_texts, dates, languages, positions, in_force)
    if len(_INDEXES) > 8:
        _INDEXES.clear()
    _INDEXES[id(site)] = (site, index)
    return index


def shown(site: Site, document: str, language: str) -> Version:
    """The version the current page shows: the newest text in force, else the first upcoming."""
    available = texts(site, document, language)
    in_effect = [v for v in available if v.date <= site.today]
    return in_effect[-1] if in_effect else available[0]


def status(site: Site, version: Version) -> str:
    """superseded | in_force | upcoming | draft (as policy.json spells them)."""
    if version.draft:
        return "draft"
    if version.date > site.today:
        return "upcoming"
    return "in_force" if site_index(site).in_force[version.document] is version else "superseded"


def changed_on(site: Site, version: Version) -> dt.date | None:
    """The day the version's status last changed, as far as the sources tell: the day it
    took effect, or the day its successor did. None while it is upcoming or a draft: the
    sources do not say when it was announced, and a build date would change every day."""
    if version.draft or version.date > site.today:
        return None
    versions = site.documents[version.document].versions
    later = versions[site_index(site).positions[version.document][version.date] + 1 :]
    successor = next((v for v in later if not v.draft and v.date <= site.today), None)
    return successor.date if successor is not None else version.date


def home_redirects(site: Site) -> bool:
    """With one document the home sends visitors to it; with several it lists them."""
    return len(site.documents) == 1


def site_pages(site: Site) -> list[Page]:
    """Every HTML page of the site, in a stable order."""
    config = site.config
    pages = [Page("home", urls.language_root(config, lang), lang) for lang in config.languages]
    for document in sorted(site.documents):
        for lang in languages_of(site, document):
            versions = texts(site, document, lang)
            pages.append(
                Page(
                    "current",
                    urls.document_path(config, document, lang),
                    lang,
                    document,
                    shown(site, document, lang).date,
                )
            )
            pages.append(Page("history", urls.history_path(config, document, lang), lang, document))
            for index, version in enumerate(versions):
                path = urls.version_path(config, document, lang, version.date)
                pages.append(Page("version", path, lang, document, version.date))
                if index:
                    path = urls.diff_path(config, document, lang, version.date)
                    pages.append(Page("diff", path, lang, document, version.date))
    pages.append(Page("404", "/404.html", config.default_language))
    return pages


def alternates(site: Site, page: Page) -> dict[str, str]:
    """The same page in every language that has it (page's own language included)."""
    config, doc = site.config, page.document
    if page.kind == "404":
        return {}
    if page.kind == "home":
        return {lang: urls.language_root(config, lang) for lang in config.languages}
    if page.kind in {"current", "history"}:
        make = urls.document_path if page.kind == "current" else urls.history_path
        return {lang: make(config, doc, lang) for lang in languages_of(site, doc)}
    found = {}
    index = site_index(site)
    for lang in config.languages:
        position = index.dates[doc, lang].get(page.version)
        if position is not None and (page.kind == "version" or position > 0):
            make = urls.version_path if page.kind == "version" else urls.diff_path
            found[lang] = make(config, doc, lang, page.version)
    return found
