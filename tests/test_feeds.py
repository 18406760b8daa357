"""policysite.feeds: policy.json, Atom feeds, sitemap.xml, _headers and deploy/nginx.conf."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from policysite.config import load_config
from policysite.feeds import SECURITY_HEADERS, nginx_conf
from policysite.site import build

ROOT = Path(__file__).resolve().parent.parent
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "x": "http://www.w3.org/1999/xhtml",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("feeds")
    shutil.copytree(ROOT / "tests/fixtures/multiversion/content", root / "content")
    build(root / "content", ROOT / "themes/default", root / "dist", date=dt.date(2026, 11, 25))
    return root


def test_policy_json_follows_the_documented_contract(site):
    index = json.loads((site / "dist" / "policy.json").read_text())
    assert list(index) == ["site", "consent", "documents"]
    assert index["site"] == {
        "name": "XIMGO",
        "base_url": "https://ximgo.com",
        "default_language": "vi",
        "languages": ["vi", "en"],
    }
    assert [c["id"] for c in index["consent"]["categories"]] == [
        "necessary",
        "analytics",
        "advertising",
    ]
    assert index["consent"]["categories"][0]["required"] is True
    privacy = index["documents"]["privacy"]
    assert privacy["in_force"] == "2026-11-24"
    assert privacy["urls"] == {
        "vi": "https://ximgo.com/chinh-sach-bao-mat/",
        "en": "https://ximgo.com/en/privacy-policy/",
    }
    versions = {v["version"]: v for v in privacy["versions"]}
    assert list(versions) == ["2026-01-01", "2026-06-01", "2026-11-24", "2026-12-15"]
    assert [v["status"] for v in versions.values()] == [
        "superseded",
        "superseded",
        "in_force",
        "upcoming",
    ]
    assert versions["2026-12-15"]["reconsent"] is True
    assert versions["2026-01-01"]["summary"] is None
    assert set(versions["2026-11-24"]["languages"]) == {"vi"}
    vi = versions["2026-01-01"]["languages"]["vi"]
    assert vi["url"] == "https://ximgo.com/chinh-sach-bao-mat/2026-01-01/"
    source = site / "content" / "privacy" / "2026-01-01.vi.md"
    assert vi["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_atom_feed_has_one_entry_per_version_dated_by_effect(site):
    feed = etree.parse(str(site / "dist" / "feed.xml"))
    entries = feed.findall("a:entry", NS)
    assert [e.findtext("a:updated", namespaces=NS) for e in entries] == [
        "2026-12-15T00:00:00+07:00",
        "2026-11-24T00:00:00+07:00",
        "2026-06-01T00:00:00+07:00",
        "2026-01-01T00:00:00+07:00",
    ]
    assert feed.findtext("a:updated", namespaces=NS) == "2026-12-15T00:00:00+07:00"
    first = entries[0]
    assert first.findtext("a:id", namespaces=NS) == "tag:ximgo.com,2026-12-15:privacy/vi"
    assert (
        first.find("a:link", NS).get("href") == "https://ximgo.com/chinh-sach-bao-mat/2026-12-15/"
    )
    assert first.findtext("a:summary", namespaces=NS).startswith("Sắp có hiệu lực.")
    assert {c.get("term") for c in first.findall("a:category", NS)} == {"upcoming", "reconsent"}


def test_english_feed_links_untranslated_versions_to_vietnamese(site):
    feed = etree.parse(str(site / "dist" / "en" / "feed.xml"))
    entry = next(
        e
        for e in feed.findall("a:entry", NS)
        if e.findtext("a:id", namespaces=NS) == "tag:ximgo.com,2026-11-24:privacy/en"
    )
    link = entry.find("a:link", NS)
    assert (link.get("href"), link.get("hreflang")) == (
        "https://ximgo.com/chinh-sach-bao-mat/2026-11-24/",
        "vi",
    )
    assert feed.findtext("a:title", namespaces=NS) == "XIMGO: Policy changes"


def test_sitemap_lists_pages_with_hreflang_alternates(site):
    sitemap = etree.parse(str(site / "dist" / "sitemap.xml"))
    urls = {u.findtext("s:loc", namespaces=NS): u for u in sitemap.findall("s:url", NS)}
    current = urls["https://ximgo.com/chinh-sach-bao-mat/"]
    alternates = {x.get("hreflang"): x.get("href") for x in current.findall("x:link", NS)}
    assert alternates == {
        "vi": "https://ximgo.com/chinh-sach-bao-mat/",
        "en": "https://ximgo.com/en/privacy-policy/",
    }
    assert "https://ximgo.com/chinh-sach-bao-mat/2026-11-24/diff.html" in urls
    assert not any("404" in loc for loc in urls)


def test_headers_file_sets_security_headers_and_caching(site):
    text = (site / "dist" / "_headers").read_text()
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in text.strip().split("\n\n")}
    assert (
        "  Content-Security-Policy: default-src 'self'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'; object-src 'none'" in blocks["/*"]
    )
    assert "  X-Content-Type-Options: nosniff" in blocks["/*"]
    assert "  Referrer-Policy: strict-origin-when-cross-origin" in blocks["/*"]
    assert blocks["/assets/*"] == ["  Cache-Control: public, max-age=31536000, immutable"]
    assert not any(line.strip().startswith("Cache-Control") for line in blocks["/*"])


def test_nginx_example_is_generated_from_the_same_headers():
    committed = (ROOT / "deploy" / "nginx.conf").read_text()
    assert committed == nginx_conf(load_config(ROOT / "content")), (
        "regenerate it: python -m policysite.feeds > deploy/nginx.conf"
    )
    for name, value in SECURITY_HEADERS:
        assert f'add_header {name} "{value}" always;' in committed
    assert "proxy_pass http://127.0.0.1:8001;" in committed
    assert "error_page 404 /404.html;" in committed


def test_feeds_and_index_are_byte_identical_across_builds(site, tmp_path):
    build(site / "content", ROOT / "themes/default", tmp_path / "again", date=dt.date(2026, 11, 25))
    for name in ("feed.xml", "en/feed.xml", "sitemap.xml", "policy.json", "_headers"):
        assert (tmp_path / "again" / name).read_bytes() == (site / "dist" / name).read_bytes()


def test_build_ships_the_nginx_example_and_keeps_it_off_the_public_site(site):
    shipped = (site / "dist" / "deploy" / "nginx.conf").read_text()
    config = load_config(site / "content")
    assert shipped == nginx_conf(config)
    assert "location /deploy/ {\n        return 404;" in shipped
    assert "access_log off;" in shipped.split("location /api/ {")[1]


def test_redirects_file_hides_the_nginx_example_on_netlify(site):
    text = (site / "dist" / "_redirects").read_text()
    # `!` forces the rule: Netlify skips a rule when a file exists at the path (shadowing).
    assert text.splitlines()[1:] == ["/deploy/*  /404.html  404!"]
    assert text.startswith("# ")
    assert (site / "dist" / "deploy" / "nginx.conf").is_file()
