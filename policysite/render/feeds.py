"""Site-wide files: Atom feeds, sitemap, robots.txt, policy.json, and (from
policysite.render.deploy) `_headers`, `_redirects` and the nginx example.

Everything here is a pure function of the Site, written with sorted iteration and no wall
clock, so the same sources and `--date` give the same bytes (docs/build-output.md).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from policysite.model import Site, SiteConfig, Version
from policysite.render import urls
from policysite.render.banner import banner_archive_path
from policysite.render.deploy import headers_file, nginx_conf, redirects_file
from policysite.render.i18n import LONG_DATE, long_date
from policysite.render.pages import (
    Page,
    changed_on,
    home_redirects,
    languages_of,
    site_index,
    site_pages,
    status,
)

if TYPE_CHECKING:
    from policysite.render.theme import Theme

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML = "http://www.w3.org/1999/xhtml"


def _tag_uri(config: SiteConfig, version: Version, language: str) -> str:
    """A stable Atom id for one version in one language (RFC 4151 tag URI)."""
    host = urlsplit(config.base_url).hostname or "localhost"
    return f"tag:{host},{version.date.isoformat()}:{version.document}/{language}"


def _midnight(config: SiteConfig, date: dt.date) -> str:
    """RFC 3339 start of `date` in the site's time zone: when a version takes effect."""
    moment = dt.datetime.combine(date, dt.time(), zoneinfo.ZoneInfo(config.timezone))
    return moment.isoformat()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _feed_versions(site: Site) -> list[Version]:
    """Published and upcoming versions (drafts too in a drafts build), newest first."""
    found = [v for doc in sorted(site.documents) for v in site.documents[doc].versions]
    return sorted(found, key=lambda v: (v.date, v.document), reverse=True)


def status_labels(gettext: Callable[[str], str]) -> dict[str, str]:
    """Readable names of the statuses (the history page's wording)."""
    return {
        "superseded": gettext("Replaced"),
        "in_force": gettext("In force"),
        "upcoming": gettext("Upcoming"),
        "draft": gettext("Draft"),
    }


def feed_home(site: Site, language: str) -> str:
    """The page a feed in `language` is the feed of: the document (in that language, else
    the default one) when there is one, else the home that lists them."""
    config = site.config
    if len(site.documents) != 1:
        return urls.language_root(config, language)
    (doc,) = site.documents
    lang = language if language in languages_of(site, doc) else config.default_language
    return urls.document_path(config, doc, lang)


def atom_feed(
    site: Site, language: str, gettext_for: Callable[[str], Callable[[str], str]]
) -> bytes:
    """The Atom feed of policy changes in `language`: one entry per version.

    An entry is dated (`updated`) by its version's last change of status, never after the
    build date: the day it took effect, or the day its successor did. An upcoming version
    is dated by the build date (the sources do not say when it was announced) and says in
    its summary when it takes effect. An entry without a text in `language` is in the
    default language, marked with `xml:lang`. `gettext_for(language)` gives the theme's
    wording in that language.
    """
    config = site.config
    today = _midnight(config, site.today)
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": language})
    entries = []
    for version in _feed_versions(site):
        lang = language if language in version.sources else config.default_language
        changed = changed_on(site, version)
        updated = _midnight(config, changed) if changed else today
        entries.append((updated, _entry(site, version, language, lang, updated, gettext_for)))
    self_url = urls.absolute(config, urls.feed_path(config, language))
    _sub(feed, "id", self_url)
    _sub(feed, "title", f"{config.name}: {gettext_for(language)('Policy changes')}")
    _sub(feed, "updated", max((updated for updated, _ in entries), default=today))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    home = urls.absolute(config, feed_home(site, language))
    _sub(feed, "link", rel="alternate", type="text/html", href=home)
    author = _sub(feed, "author")
    _sub(author, "name", config.name)
    feed.extend(entry for _, entry in entries)
    return _xml(feed)


def _entry(
    site: Site,
    version: Version,
    language: str,
    lang: str,
    updated: str,
    gettext_for: Callable[[str], Callable[[str], str]],
) -> ET.Element:
    """One version's entry in the feed in `language`, worded in `lang` (its text's)."""
    config, gettext = site.config, gettext_for(lang)
    source = version.sources[lang]
    entry = ET.Element("entry", {"xml:lang": lang} if lang != language else {})
    _sub(entry, "id", _tag_uri(config, version, language))
    date = long_date(version.date, lang, gettext(LONG_DATE))  # the theme's running-text form
    _sub(entry, "title", f"{source.title} ({date})")
    _sub(entry, "updated", updated)
    if version.date <= site.today:
        _sub(entry, "published", _midnight(config, version.date))
    page = urls.version_path(config, version.document, lang, version.date)
    href = urls.absolute(config, page)
    _sub(entry, "link", rel="alternate", type="text/html", href=href, hreflang=lang)
    kind = status(site, version)
    parts = [f"{status_labels(gettext)[kind]}."]
    if version.date > site.today:
        when = gettext("Takes effect on %(date)s") % {"date": date}
        parts.append(f"{when}.")
    parts.append(source.summary or version.summary or gettext("First version."))
    _sub(entry, "summary", " ".join(parts))
    _sub(entry, "category", term=kind)
    if version.reconsent:
        _sub(entry, "category", term="reconsent")
    return entry


def lastmod(site: Site, page: Page) -> dt.date | None:
    """The day a page last changed, from the effective dates of the versions it shows (no
    build timestamp, so the sitemap is the same bytes for the same sources and date). None
    for a page of an upcoming version or a draft: the sources do not say."""
    index = site_index(site)
    if page.kind == "home":
        dates = [v.date for v in index.in_force.values() if v is not None]
        return max(dates, default=None)
    if page.kind in {"current", "history"}:
        in_force = index.in_force[page.document]
        return in_force.date if in_force is not None else None
    versions = site.documents[page.document].versions
    return changed_on(site, versions[index.positions[page.document][page.version]])


def sitemap(site: Site, pages: list[tuple[str, str, dict[str, str]]]) -> bytes:
    """sitemap.xml with hreflang and x-default alternates and each page's `lastmod`.
    `pages`: (kind, path, {language: path}). A home that only redirects is left out."""
    config = site.config
    known = {page.path: page for page in site_pages(site)}
    root = ET.Element("urlset", {"xmlns": SITEMAP, "xmlns:xhtml": XHTML})
    for kind, path, alternates in pages:
        if kind == "home" and home_redirects(site):
            continue
        url = _sub(root, "url")
        _sub(url, "loc", urls.absolute(config, path))
        changed = lastmod(site, known[path]) if path in known else None
        if changed is not None:
            _sub(url, "lastmod", changed.isoformat())
        links = [(language, alternates[language]) for language in sorted(alternates)]
        if config.default_language in alternates:
            links.append(("x-default", alternates[config.default_language]))
        for hreflang, href in links:
            _sub(
                url,
                "xhtml:link",
                rel="alternate",
                hreflang=hreflang,
                href=urls.absolute(config, href),
            )
    return _xml(root)


def robots_txt(config: SiteConfig) -> bytes:
    """robots.txt: every page may be crawled; the sitemap lists them (an absolute URL, as
    the robots.txt standard, RFC 9309, and the sitemaps protocol ask)."""
    sitemap_url = urls.absolute(config, "/sitemap.xml")
    return f"User-agent: *\nAllow: /\n\nSitemap: {sitemap_url}\n".encode()


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def policy_index(site: Site, banner: str | None = None) -> dict[str, Any]:
    """policy.json as docs/ARCHITECTURE.md documents it; `banner` is the sha256 of the
    banner texts the widget shows (render/widget.py), whose archive it names."""
    config, consent = site.config, site.config.consent
    documents: dict[str, Any] = {}
    for doc in sorted(site.documents):
        in_force = site.in_force(doc)
        versions = []
        for version in site.documents[doc].versions:
            languages = {}
            for lang in config.languages:
                if lang in version.sources:
                    source = version.sources[lang]
                    path = urls.version_path(config, doc, lang, version.date)
                    languages[lang] = {
                        "url": urls.absolute(config, path),
                        "title": source.title,
                        "sha256": source.sha256,
                    }
            versions.append(
                {
                    "version": version.date.isoformat(),
                    "effective": version.date.isoformat(),
                    "status": status(site, version),
                    "summary": version.summary,
                    "reconsent": version.reconsent,
                    "languages": languages,
                }
            )
        documents[doc] = {
            "in_force": in_force.date.isoformat() if in_force else None,
            "urls": {
                lang: urls.absolute(config, urls.document_path(config, doc, lang))
                for lang in languages_of(site, doc)
            },
            "versions": versions,
        }
    return {
        "site": {
            "name": config.name,
            "base_url": config.base_url,
            "default_language": config.default_language,
            "languages": list(config.languages),
        },
        "consent": {
            "categories": [{"id": c.id, "required": c.required} for c in consent.categories],
            "remember_days": consent.remember_days,
            "collector_url": consent.collector_url,
            "allowed_origins": list(consent.allowed_origins),
            "log_public_key": consent.log_public_key,
            "banner_sha256": banner,
            "banner_url": urls.absolute(config, "/" + banner_archive_path(banner))
            if banner
            else None,
        },
        "documents": documents,
    }


def policy_json(site: Site, banner: str | None = None) -> bytes:
    text = json.dumps(policy_index(site, banner), ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")


Listed = list[tuple[str, str, dict[str, str]]]  # (kind, path, {language: path}) per page
GettextFor = Callable[[str], Callable[[str], str]]
Listings = Callable[[Site, Listed, GettextFor], dict[str, bytes]]


def listing_files(site: Site, pages: Listed, gettext_for: GettextFor) -> dict[str, bytes]:
    """The sitemap and the feeds: what lists the pages. They read the versions' dates, titles
    and summaries, never a text's body, so a rebuild after an edit of the text alone may
    reuse them (policysite.build.incremental does, keyed by `listing_inputs`)."""
    files = {"sitemap.xml": sitemap(site, pages)}
    # Every language has a feed, as every page links the feed of its language (the home of a
    # language without texts too); entries without a text in it are in the default language.
    for language in site.config.languages:
        path = urls.output_file(urls.feed_path(site.config, language))
        files[path] = atom_feed(site, language, gettext_for)
    return files


def listing_inputs(site: Site, pages: Listed) -> tuple:
    """Everything `listing_files` reads besides the site's settings and the theme, as plain
    data: equal inputs, equal files."""
    versions = tuple(
        (v.document, v.date, v.draft, v.reconsent, v.summary,
         tuple((s.language, s.title, s.summary) for s in v.sources.values()))
        for document in site.documents.values()
        for v in document.versions
    )  # fmt: skip
    return (
        site.today,
        versions,
        tuple((kind, path, tuple(sorted(alt.items()))) for kind, path, alt in pages),
    )


def site_files(
    site: Site, pages: Listed, gettext_for: GettextFor, listings: Listings = listing_files
) -> dict[str, bytes]:
    """Every site-wide file: output file under dist/ → bytes. `gettext_for(language)` gives
    the theme's translations for the feed's wording."""
    listing = dict(listings(site, pages, gettext_for))  # a memo's dict is not ours to change
    files = {
        "sitemap.xml": listing.pop("sitemap.xml"),
        "policy.json": policy_json(site),
        "_headers": headers_file(),
        "_redirects": redirects_file(),
        "robots.txt": robots_txt(site.config),
        "deploy/nginx.conf": nginx_conf(site.config).encode(),
    }
    files.update(listing)  # the feeds
    files.update((f"consent-log/{name}", data) for name, data in site.consent_log)
    return files


def site_wide_files(
    site: Site, theme: Theme, pages: list[Page], listings: Listings = listing_files
) -> dict[str, bytes]:
    """Feeds, sitemap, policy.json, _headers, the theme's static files and the widget.
    `listings` makes the sitemap and feeds (a memo of `listing_files` in `serve`)."""
    # Jinja2 and the widget's minifiers load only when a build has work to do.
    from policysite.render.pages import alternates
    from policysite.render.theme import translations
    from policysite.render.widget import build_widget

    # The sitemap lists every page but the 404 page and a draft's pages.
    drafts = {(d.id, v.date) for d in site.documents.values() for v in d.versions if v.draft}
    listed = [
        (p.kind, p.path, alternates(site, p))
        for p in pages
        if p.kind != "404" and (p.document, p.version) not in drafts
    ]
    files = site_files(site, listed, lambda lang: translations(theme, lang).gettext, listings)
    files.update(dict(theme.files))
    widget, banner = build_widget(site, theme.dir)
    files.update(widget)
    files["policy.json"] = policy_json(site, banner)  # it names the banner's archive
    return files
