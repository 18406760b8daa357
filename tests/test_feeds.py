"""policysite.render.feeds: policy.json, Atom feeds, sitemap.xml, _headers and deploy/nginx.conf."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from policysite.build.pipeline import build
from policysite.content.config import load_config
from policysite.render.deploy import SECURITY_HEADERS, nginx_conf

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


def entries(path: Path) -> dict[str, etree._Element]:
    """A feed's entries by their id's version and language, e.g. "2026-12-15:privacy/vi"."""
    feed = etree.parse(str(path))
    return {e.findtext("a:id", namespaces=NS).split(",")[1]: e for e in feed.findall("a:entry", NS)}


def text(entry: etree._Element, tag: str) -> str | None:
    return entry.findtext(f"a:{tag}", namespaces=NS)


def test_atom_entries_are_dated_by_their_last_change_of_status_never_after_the_build(site):
    feed = etree.parse(str(site / "dist" / "feed.xml"))
    found = feed.findall("a:entry", NS)
    assert [(text(e, "id"), text(e, "updated"), text(e, "published")) for e in found] == [
        # upcoming: dated by the build (2026-11-25); it has not been published yet
        ("tag:ximgo.com,2026-12-15:privacy/vi", "2026-11-25T00:00:00+07:00", None),
        # in force since its date
        (
            "tag:ximgo.com,2026-11-24:privacy/vi",
            "2026-11-24T00:00:00+07:00",
            "2026-11-24T00:00:00+07:00",
        ),
        # superseded on the day the next version took effect
        (
            "tag:ximgo.com,2026-06-01:privacy/vi",
            "2026-11-24T00:00:00+07:00",
            "2026-06-01T00:00:00+07:00",
        ),
        (
            "tag:ximgo.com,2026-01-01:privacy/vi",
            "2026-06-01T00:00:00+07:00",
            "2026-01-01T00:00:00+07:00",
        ),
    ]
    assert feed.findtext("a:updated", namespaces=NS) == "2026-11-25T00:00:00+07:00"
    upcoming = found[0]
    assert upcoming.find("a:link", NS).attrib == {
        "rel": "alternate",
        "type": "text/html",
        "href": "https://ximgo.com/chinh-sach-bao-mat/2026-12-15/",
        "hreflang": "vi",
    }
    assert text(upcoming, "title") == "Chính sách bảo mật (ngày 15 tháng 12 năm 2026)"
    assert text(upcoming, "summary") == (
        "Sắp có hiệu lực. Có hiệu lực từ ngày 15 tháng 12 năm 2026. "
        "Chia sẻ mã cookie quảng cáo với đối tác; cần đồng ý lại."
    )
    assert {c.get("term") for c in upcoming.findall("a:category", NS)} == {"upcoming", "reconsent"}
    assert "xml:lang" not in etree.tostring(upcoming).decode()  # the feed's own language


def test_a_change_of_status_updates_the_entries(site, tmp_path):
    """On 2026-12-15 the upcoming version takes effect and replaces the one in force: both
    entries say so, dated that day."""
    shutil.copytree(site / "content", tmp_path / "content")
    build(
        tmp_path / "content", ROOT / "themes/default", tmp_path / "dist", date=dt.date(2026, 12, 15)
    )
    before, after = entries(site / "dist" / "feed.xml"), entries(tmp_path / "dist" / "feed.xml")
    new, old = after["2026-12-15:privacy/vi"], after["2026-11-24:privacy/vi"]
    assert (text(new, "updated"), new.find("a:category", NS).get("term")) == (
        "2026-12-15T00:00:00+07:00",
        "in_force",
    )
    assert text(new, "summary").startswith("Đang có hiệu lực. Chia sẻ")
    assert text(new, "published") == "2026-12-15T00:00:00+07:00"
    assert (text(old, "updated"), old.find("a:category", NS).get("term")) == (
        "2026-12-15T00:00:00+07:00",
        "superseded",
    )
    for unchanged in ("2026-06-01:privacy/vi", "2026-01-01:privacy/vi"):
        assert etree.tostring(after[unchanged]) == etree.tostring(before[unchanged])


def test_english_feed_gives_untranslated_versions_in_vietnamese_marked_as_such(site):
    feed = etree.parse(str(site / "dist" / "en" / "feed.xml"))
    assert feed.findtext("a:title", namespaces=NS) == "XIMGO: Policy changes"
    assert feed.getroot().get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    links = [link.attrib for link in feed.findall("a:link", NS)]
    assert links == [
        {"rel": "self", "type": "application/atom+xml", "href": "https://ximgo.com/en/feed.xml"},
        {"rel": "alternate", "type": "text/html", "href": "https://ximgo.com/en/privacy-policy/"},
    ]
    found = entries(site / "dist" / "en" / "feed.xml")
    vi_only = found["2026-11-24:privacy/en"]
    assert vi_only.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"
    assert text(vi_only, "title") == "Chính sách bảo mật (ngày 24 tháng 11 năm 2026)"
    assert text(found["2026-06-01:privacy/en"], "title") == "Privacy policy (June 1, 2026)"
    assert text(vi_only, "summary") == "Đang có hiệu lực. Bổ sung mục 4 về cookie."
    link = vi_only.find("a:link", NS)
    assert (link.get("href"), link.get("hreflang")) == (
        "https://ximgo.com/chinh-sach-bao-mat/2026-11-24/",
        "vi",
    )
    translated = found["2026-06-01:privacy/en"]
    assert translated.get("{http://www.w3.org/XML/1998/namespace}lang") is None
    assert text(translated, "summary") == "Replaced. Adds section 3 on users' rights."


def test_sitemap_has_hreflang_and_x_default_alternates_and_lastmod_from_effective_dates(site):
    sitemap = etree.parse(str(site / "dist" / "sitemap.xml"))
    urls = {u.findtext("s:loc", namespaces=NS): u for u in sitemap.findall("s:url", NS)}
    current = urls["https://ximgo.com/chinh-sach-bao-mat/"]
    alternates = [(x.get("hreflang"), x.get("href")) for x in current.findall("x:link", NS)]
    assert alternates == [
        ("en", "https://ximgo.com/en/privacy-policy/"),
        ("vi", "https://ximgo.com/chinh-sach-bao-mat/"),
        ("x-default", "https://ximgo.com/chinh-sach-bao-mat/"),
    ]
    lastmod = {loc: u.findtext("s:lastmod", namespaces=NS) for loc, u in urls.items()}
    assert lastmod["https://ximgo.com/chinh-sach-bao-mat/"] == "2026-11-24"  # in force since
    assert lastmod["https://ximgo.com/en/privacy-policy/"] == "2026-11-24"  # its notice since
    assert lastmod["https://ximgo.com/chinh-sach-bao-mat/history/"] == "2026-11-24"
    assert lastmod["https://ximgo.com/chinh-sach-bao-mat/2026-01-01/"] == "2026-06-01"  # replaced
    assert lastmod["https://ximgo.com/chinh-sach-bao-mat/2026-11-24/diff.html"] == "2026-11-24"
    assert lastmod["https://ximgo.com/chinh-sach-bao-mat/2026-12-15/"] is None  # upcoming
    assert "https://ximgo.com/chinh-sach-bao-mat/2026-11-24/diff.html" in urls
    assert not any("404" in loc for loc in urls)
    # One document: the home only redirects to it, so it is not a page of the sitemap.
    assert "https://ximgo.com/" not in urls and "https://ximgo.com/en/" not in urls


def test_robots_txt_points_at_the_sitemap(site):
    assert (site / "dist" / "robots.txt").read_bytes() == (
        b"User-agent: *\nAllow: /\n\nSitemap: https://ximgo.com/sitemap.xml\n"
    )


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
        "regenerate it: python -m policysite.render.deploy > deploy/nginx.conf"
    )
    for name, value in SECURITY_HEADERS:
        assert f'add_header {name} "{value}" always;' in committed
    assert "proxy_pass http://127.0.0.1:8001;" in committed
    assert "error_page 404 /404.html;" in committed


def test_feeds_and_index_are_byte_identical_across_builds(site, tmp_path):
    build(site / "content", ROOT / "themes/default", tmp_path / "again", date=dt.date(2026, 11, 25))
    names = ("feed.xml", "en/feed.xml", "sitemap.xml", "policy.json", "_headers", "robots.txt")
    for name in names:
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
