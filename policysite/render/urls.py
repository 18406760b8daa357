"""Where every page lives (docs/build-output.md). The one place that knows the URL scheme.

The default language is served at the root, the others under `/<lang>/`:

    /chinh-sach-bao-mat/                  version in force (vi)
    /chinh-sach-bao-mat/2026-11-24/       permanent page of one version
    /chinh-sach-bao-mat/history/          history of versions
    /chinh-sach-bao-mat/2026-12-01/diff.html  what changed since the previous version
    /en/privacy-policy/…                  the same for en
    /feed.xml, /en/feed.xml               Atom feed per language

Paths that end in `/` map to `<path>index.html` in dist/; the others (diff pages, feeds) are
files of that name.
"""

from __future__ import annotations

import datetime as dt

from policysite.model import SiteConfig


def language_root(config: SiteConfig, language: str) -> str:
    return "/" if language == config.default_language else f"/{language}/"


def document_path(config: SiteConfig, document: str, language: str) -> str:
    return f"{language_root(config, language)}{config.slugs[document][language]}/"


def version_path(config: SiteConfig, document: str, language: str, version: dt.date) -> str:
    return f"{document_path(config, document, language)}{version.isoformat()}/"


def history_path(config: SiteConfig, document: str, language: str) -> str:
    return f"{document_path(config, document, language)}history/"


def diff_path(config: SiteConfig, document: str, language: str, version: dt.date) -> str:
    # A file beside the version's page, not a folder of its own: a cold build makes ~300 fewer
    # folders, and on ext4 a folder costs as much as rendering a page (docs/fast-builds.md).
    return f"{version_path(config, document, language, version)}diff.html"


def feed_path(config: SiteConfig, language: str) -> str:
    return f"{language_root(config, language)}feed.xml"


def absolute(config: SiteConfig, path: str) -> str:
    """Given a site path, return the full URL under base_url (for feeds, sitemap, canonical)."""
    return config.base_url + path


def output_file(path: str) -> str:
    """Given a site path, return the file under dist/ that serves it."""
    relative = path.lstrip("/")
    return relative + "index.html" if path.endswith("/") else relative
