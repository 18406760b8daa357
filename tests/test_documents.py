"""The site's home, and a site of two documents (tests/fixtures/two-documents: privacy and
terms of use, each in vi and en, the terms with an upcoming version).

With one document the home at `/` (and `/en/`) sends visitors to it; with several it lists
them. Every site-wide file (policy.json, feeds, sitemap) lists every document, links between
the documents resolve, and `check` reads every document's text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree, html
from sites import SITE_TOML, en, vi, write_site

from policysite.build.pipeline import build

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
FIXTURES = ROOT / "tests" / "fixtures"
DATE = dt.date(2026, 11, 25)
ATOM = {"a": "http://www.w3.org/2005/Atom"}
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
CHECK = [
    sys.executable,
    str(ROOT / "build.py"),
    "check",
    "--theme",
    str(THEME),
    "--date",
    "2026-11-25",
]


def built(tmp_path: Path, fixture: str) -> Path:
    shutil.copytree(FIXTURES / fixture / "content", tmp_path / "content")
    build(tmp_path / "content", THEME, tmp_path / "dist", date=DATE, cache_dir=None, jobs=1)
    return tmp_path / "dist"


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    return built(tmp_path_factory.mktemp("two"), "two-documents")


# --- the home with one document: a redirect ----------------------------------------------------


def test_with_one_document_the_home_redirects_to_it_without_script(tmp_path):
    dist = built(tmp_path, "multiversion")
    page = (dist / "index.html").read_text()
    assert page.startswith('<!doctype html>\n<html lang="vi" dir="ltr">\n')
    assert '<meta http-equiv="refresh" content="0; url=/chinh-sach-bao-mat/">' in page
    assert "<title>Chính sách bảo mật · XIMGO</title>" in page
    assert '<link rel="canonical" href="https://ximgo.com/chinh-sach-bao-mat/">' in page
    assert '<h1><a href="/chinh-sach-bao-mat/">Chính sách bảo mật</a></h1>' in page
    assert "<script" not in page and "style=" not in page
    english = (dist / "en" / "index.html").read_text()
    assert '<html lang="en" dir="ltr">' in english
    assert '<meta http-equiv="refresh" content="0; url=/en/privacy-policy/">' in english
    assert '<link rel="canonical" href="https://ximgo.com/en/privacy-policy/">' in english


def test_a_language_without_texts_sends_its_root_to_the_default_language(tmp_path):
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": vi()})
    build(content, THEME, tmp_path / "dist", date=DATE, cache_dir=None, jobs=1)
    page = (tmp_path / "dist" / "en" / "index.html").read_text()
    assert '<meta http-equiv="refresh" content="0; url=/chinh-sach-bao-mat/">' in page
    assert '<a href="/chinh-sach-bao-mat/" hreflang="vi" lang="vi">Chính sách bảo mật</a>' in page
    # every page links its language's feed, so that language has one (in vi, marked so)
    feed = etree.parse(str(tmp_path / "dist" / "en" / "feed.xml"))
    (entry,) = feed.findall("a:entry", ATOM)
    assert entry.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"


def test_the_home_with_a_translation_redirects_each_language_to_its_text(tmp_path):
    content = write_site(
        tmp_path, {"privacy/2026-11-24.vi.md": vi(), "privacy/2026-11-24.en.md": en()}
    )
    build(content, THEME, tmp_path / "dist", date=DATE, cache_dir=None, jobs=1)
    page = (tmp_path / "dist" / "en" / "index.html").read_text()
    assert '<h1><a href="/en/privacy-policy/">Privacy policy</a></h1>' in page


# --- two documents -------------------------------------------------------------------------


def test_two_documents_each_get_their_pages(two):
    pages = sorted(p.relative_to(two).as_posix() for p in two.rglob("*.html"))
    assert pages == [
        "404.html",
        "chinh-sach-bao-mat/2026-11-24/index.html",
        "chinh-sach-bao-mat/history/index.html",
        "chinh-sach-bao-mat/index.html",
        "dieu-khoan-su-dung/2026-11-24/index.html",
        "dieu-khoan-su-dung/2027-01-01/diff.html",
        "dieu-khoan-su-dung/2027-01-01/index.html",
        "dieu-khoan-su-dung/history/index.html",
        "dieu-khoan-su-dung/index.html",
        "en/index.html",
        "en/privacy-policy/2026-11-24/index.html",
        "en/privacy-policy/history/index.html",
        "en/privacy-policy/index.html",
        "en/terms-of-use/2026-11-24/index.html",
        "en/terms-of-use/2027-01-01/diff.html",
        "en/terms-of-use/2027-01-01/index.html",
        "en/terms-of-use/history/index.html",
        "en/terms-of-use/index.html",
        "index.html",
    ]


def test_with_two_documents_the_home_lists_them_in_each_language(two):
    for file, expected in (
        (
            "index.html",
            [
                ("/chinh-sach-bao-mat/", "Chính sách bảo mật"),
                ("/dieu-khoan-su-dung/", "Điều khoản sử dụng"),
            ],
        ),
        (
            "en/index.html",
            [("/en/privacy-policy/", "Privacy policy"), ("/en/terms-of-use/", "Terms of use")],
        ),
    ):
        tree = html.parse(str(two / file))
        assert tree.xpath("//meta[@http-equiv]") == []  # a page of its own, not a redirect
        links = [(a.get("href"), a.text) for a in tree.xpath("//main//ul/li/a")]
        assert links == expected
        assert tree.xpath("//link[@rel='canonical']/@href") == [
            "https://ximgo.com/" + file.removesuffix("index.html")
        ]
    assert html.parse(str(two / "en/index.html")).findtext(".//h1") == "Policies"
    assert html.parse(str(two / "index.html")).findtext(".//h1") == "Các chính sách"


def test_links_between_the_documents_resolve(two):
    checks = {
        "chinh-sach-bao-mat/index.html": ("/dieu-khoan-su-dung/#tai-khoan", "dieu-khoan-su-dung"),
        "dieu-khoan-su-dung/index.html": (
            "/chinh-sach-bao-mat/#thu-thap-thong-tin-nguoi-dung",
            "chinh-sach-bao-mat",
        ),
        "en/privacy-policy/index.html": ("/en/terms-of-use/#accounts", "en/terms-of-use"),
        "en/terms-of-use/index.html": (
            "/en/privacy-policy/#collecting-user-information",
            "en/privacy-policy",
        ),
    }
    for page, (href, target) in checks.items():
        assert html.parse(str(two / page)).xpath(f"//main//a[@href='{href}']"), page
        anchor = href.partition("#")[2]
        assert html.parse(str(two / target / "index.html")).xpath(f"//*[@id='{anchor}']"), href


def test_policy_json_lists_both_documents(two):
    documents = json.loads((two / "policy.json").read_text())["documents"]
    assert list(documents) == ["privacy", "terms"]
    assert documents["terms"]["in_force"] == "2026-11-24"
    assert documents["terms"]["urls"] == {
        "vi": "https://ximgo.com/dieu-khoan-su-dung/",
        "en": "https://ximgo.com/en/terms-of-use/",
    }
    statuses = [(v["version"], v["status"]) for v in documents["terms"]["versions"]]
    assert statuses == [("2026-11-24", "in_force"), ("2027-01-01", "upcoming")]
    assert [v["status"] for v in documents["privacy"]["versions"]] == ["in_force"]


def test_feeds_list_both_documents_and_point_at_the_home(two):
    for file, language in (("feed.xml", "vi"), ("en/feed.xml", "en")):
        feed = etree.parse(str(two / file))
        ids = [e.findtext("a:id", namespaces=ATOM) for e in feed.findall("a:entry", ATOM)]
        assert ids == [
            f"tag:ximgo.com,2027-01-01:terms/{language}",
            f"tag:ximgo.com,2026-11-24:terms/{language}",
            f"tag:ximgo.com,2026-11-24:privacy/{language}",
        ]
        home = "https://ximgo.com/" if language == "vi" else "https://ximgo.com/en/"
        assert feed.xpath("a:link[@rel='alternate']/@href", namespaces=ATOM) == [home]


def test_the_sitemap_lists_both_documents_and_the_homes(two):
    sitemap = etree.parse(str(two / "sitemap.xml"))
    locs = sitemap.xpath("//s:loc/text()", namespaces=SITEMAP)
    assert locs[:2] == ["https://ximgo.com/", "https://ximgo.com/en/"]
    for document in (
        "chinh-sach-bao-mat",
        "dieu-khoan-su-dung",
        "en/privacy-policy",
        "en/terms-of-use",
    ):
        assert f"https://ximgo.com/{document}/" in locs
        assert f"https://ximgo.com/{document}/history/" in locs
    assert "https://ximgo.com/dieu-khoan-su-dung/2027-01-01/diff.html" in locs
    assert len(locs) == 18  # every page but the 404 page


def test_check_reports_a_broken_link_in_the_second_document(tmp_path):
    shutil.copytree(FIXTURES / "two-documents" / "content", tmp_path / "content")
    terms = tmp_path / "content" / "terms" / "2027-01-01.en.md"  # upcoming: not locked
    text = terms.read_text()
    terms.write_text(
        text.replace("(/en/privacy-policy/#collecting-user-information)", "(/en/privacy/)")
    )
    line = text[: text.index("/en/privacy-policy/#")].count("\n") + 1
    done = subprocess.run(
        [*CHECK, "--content", "content"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    problem = re.search(
        r"^content/terms/2027-01-01\.en\.md:(\d+): error: (.*)\n  → (.*)$", done.stderr, re.M
    )
    assert problem is not None, done.stderr
    assert problem.groups() == (
        str(line),
        "broken link '/en/privacy/': no such page on the site",
        "did you mean /en/privacy-policy/?",
    )


def test_check_is_clean_on_the_fixture():
    done = subprocess.run(
        [*CHECK, "--content", str(FIXTURES / "two-documents" / "content")],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (
        0,
        ["0 error(s), 0 warning(s)"],
    )


def test_the_home_says_when_a_document_not_yet_in_force_takes_effect(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "terms/2026-12-01.vi.md": '---\ntitle: "Điều khoản sử dụng"\n---\n\nNội dung.\n',
        },
        SITE_TOML + '\n[documents.terms]\nvi = "dieu-khoan-su-dung"\nen = "terms-of-use"\n',
    )
    build(content, THEME, tmp_path / "dist", date=DATE, cache_dir=None, jobs=1)
    items = html.parse(str(tmp_path / "dist" / "index.html")).xpath("//main//li")
    texts = [" ".join(item.text_content().split()) for item in items]
    assert texts == [
        "Chính sách bảo mật Có hiệu lực từ ngày 24 tháng 11 năm 2026",
        "Điều khoản sử dụng Có hiệu lực từ ngày 1 tháng 12 năm 2026",
    ]
