"""Site-wide files: Atom feeds, sitemap, policy.json, `_headers`, `_redirects`, nginx example.

Everything here is a pure function of the Site, written with sorted iteration and no wall
clock, so the same sources and `--date` give the same bytes (SPEC §3). The security headers
live once, in `SECURITY_HEADERS` and `CACHE_RULES`; `_headers` and the nginx example are both
generated from them, so the two cannot drift (tests compare deploy/nginx.conf to `nginx_conf`).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from policysite import urls
from policysite.i18n import long_date
from policysite.model import Site, SiteConfig, Version
from policysite.pages import languages_of, status, texts

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML = "http://www.w3.org/1999/xhtml"

# Sent with every response of the static site (SPEC §3: the pages work under this CSP).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)

# Cache-Control per path pattern. HTML is left to the host's default (revalidate), because
# hosts join the values of every matching `_headers` rule, and a catch-all would collide.
CACHE_RULES: tuple[tuple[str, str], ...] = (
    ("/assets/*", "public, max-age=31536000, immutable"),  # names carry content hashes
    ("/consent.js", "public, max-age=600"),  # stable name: embedded by every XIMGO page
    ("/consent.css", "public, max-age=600"),
    ("/policy.json", "no-cache"),
    ("/sitemap.xml", "public, max-age=3600"),
)


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


def atom_feed(site: Site, language: str, gettext: Callable[[str], str]) -> bytes:
    """The Atom feed of policy changes in `language`: one entry per version."""
    config = site.config
    labels = status_labels(gettext)
    default = config.default_language
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": language})
    versions = _feed_versions(site)
    _sub(feed, "id", urls.absolute(config, urls.feed_path(config, language)))
    _sub(feed, "title", f"{config.name}: {gettext('Policy changes')}")
    newest = versions[0].date if versions else site.today
    _sub(feed, "updated", _midnight(config, newest))
    _sub(feed, "link", rel="self", href=urls.absolute(config, urls.feed_path(config, language)))
    author = _sub(feed, "author")
    _sub(author, "name", config.name)
    for version in versions:
        lang = language if language in version.sources else default
        source = version.sources[lang]
        page = urls.version_path(config, version.document, lang, version.date)
        entry = _sub(feed, "entry")
        _sub(entry, "id", _tag_uri(config, version, language))
        _sub(entry, "title", f"{source.title} ({long_date(version.date, language)})")
        _sub(entry, "updated", _midnight(config, version.date))
        _sub(entry, "published", _midnight(config, version.date))
        _sub(entry, "link", rel="alternate", href=urls.absolute(config, page), hreflang=lang)
        summary = source.summary or version.summary or gettext("First version.")
        kind = status(site, version)
        _sub(entry, "summary", f"{labels[kind]}. {summary}")
        _sub(entry, "category", term=kind)
        if version.reconsent:
            _sub(entry, "category", term="reconsent")
    return _xml(feed)


def sitemap(site: Site, pages: list[tuple[str, str, dict[str, str]]]) -> bytes:
    """sitemap.xml with hreflang alternates. `pages`: (kind, path, {language: path})."""
    config = site.config
    root = ET.Element("urlset", {"xmlns": SITEMAP, "xmlns:xhtml": XHTML})
    for _kind, path, alternates in pages:
        url = _sub(root, "url")
        _sub(url, "loc", urls.absolute(config, path))
        for language in sorted(alternates):
            _sub(
                url,
                "xhtml:link",
                rel="alternate",
                hreflang=language,
                href=urls.absolute(config, alternates[language]),
            )
    return _xml(root)


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def policy_index(site: Site) -> dict[str, Any]:
    """policy.json as docs/ARCHITECTURE.md documents it."""
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
        },
        "documents": documents,
    }


def policy_json(site: Site) -> bytes:
    return (json.dumps(policy_index(site), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def headers_file() -> bytes:
    """`_headers` for Netlify and Cloudflare Pages: security headers on every path, and
    Cache-Control only on paths no other rule matches."""
    lines = ["/*"] + [f"  {name}: {value}" for name, value in SECURITY_HEADERS]
    for pattern, cache in CACHE_RULES:
        lines += ["", pattern, f"  Cache-Control: {cache}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def redirects_file() -> bytes:
    """`_redirects` for Netlify: answer 404 (with 404.html) under /deploy/, where the nginx
    example ships. `!` forces the rule: without it Netlify serves a file that exists."""
    return (
        b"# Written by every build. deploy/ holds the nginx example: not a page of the site.\n"
        b"/deploy/*  /404.html  404!\n"
    )


def _nginx_headers(indent: str, cache: str | None) -> list[str]:
    # add_header in a location replaces the server's, so each location repeats them all.
    lines = [f'{indent}add_header {name} "{value}" always;' for name, value in SECURITY_HEADERS]
    if cache:
        lines.append(f'{indent}add_header Cache-Control "{cache}" always;')
    return lines


def nginx_conf(config: SiteConfig, root: str = "/srv/policysite/dist") -> str:
    """An example nginx server block: serves dist/, the same headers as `_headers`, the 404
    page, and the collector on 127.0.0.1:8001 under /api/."""
    host = urlsplit(config.base_url).hostname or "localhost"
    out = [
        "# Written by every build as dist/deploy/nginx.conf, and checked in as deploy/nginx.conf",
        "# (`python -m policysite.feeds > deploy/nginx.conf`); do not edit by hand.",
        "# Headers come from policysite/feeds.py, the same source as dist/_headers.",
        "# Add your TLS settings (listen 443 ssl; ssl_certificate …) as your setup requires.",
        "server {",
        "    listen 80;",
        f"    server_name {host};",
        f"    root {root};",
        "    index index.html;",
        "    charset utf-8;",
        "    error_page 404 /404.html;",
        "",
        "    location / {",
        "        try_files $uri $uri/ =404;",
        *_nginx_headers("        ", None),
        "    }",
    ]
    for pattern, cache in CACHE_RULES:
        if pattern.endswith("/*"):
            out += ["", f"    location {pattern[:-1]} {{"]
        else:
            out += ["", f"    location = {pattern} {{"]
        out += [*_nginx_headers("        ", cache), "    }"]
    out += [
        "",
        "    # This file itself ships in dist/deploy/: keep it off the public site.",
        "    location /deploy/ {",
        "        return 404;",
        "    }",
        "",
        "    location = /404.html {",
        "        internal;",
        *_nginx_headers("        ", None),
        "    }",
        "",
        "    # The consent collector (python build.py collector --port 8001).",
        "    location /api/ {",
        "        proxy_pass http://127.0.0.1:8001;",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        client_max_body_size 8k;  # the collector answers 413 itself above 4 KiB",
        "        access_log off;  # it would keep the raw client IPs the collector never stores",
        "    }",
        "}",
    ]
    return "\n".join(out) + "\n"


def site_files(
    site: Site,
    pages: list[tuple[str, str, dict[str, str]]],
    gettext_for: Callable[[str], Callable[[str], str]],
) -> dict[str, bytes]:
    """Every site-wide file: output file under dist/ → bytes. `gettext_for(language)` gives
    the theme's translations for the feed's wording."""
    files = {
        "sitemap.xml": sitemap(site, pages),
        "policy.json": policy_json(site),
        "_headers": headers_file(),
        "_redirects": redirects_file(),
        "deploy/nginx.conf": nginx_conf(site.config).encode(),
    }
    for language in site.config.languages:
        if any(texts(site, doc, language) for doc in site.documents):
            path = urls.output_file(urls.feed_path(site.config, language))
            files[path] = atom_feed(site, language, gettext_for(language))
    return files


if __name__ == "__main__":
    from pathlib import Path

    from policysite.config import load_config

    print(nginx_conf(load_config(Path("content"))), end="")
