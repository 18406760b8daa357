"""policysite.render.html: what each page kind says and links to, in vi and in en."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup

from policysite.build.pipeline import build

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
VI, EN = "chinh-sach-bao-mat", "en/privacy-policy"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("render")
    shutil.copytree(ROOT / "tests/fixtures/multiversion/content", root / "content")
    build(root / "content", THEME, root / "dist", date=dt.date(2026, 11, 25), drafts=False)
    return root / "dist"


def page(dist: Path, path: str) -> BeautifulSoup:
    file = dist / path if path.endswith(".html") else dist / path / "index.html"
    return BeautifulSoup(file.read_text(), "lxml")


def text(soup, selector: str) -> str:
    return " ".join(soup.select_one(selector).get_text().split())


@pytest.mark.parametrize(
    ("path", "lang"),
    [(VI, "vi"), (f"{VI}/history", "vi"), (f"{VI}/2026-06-01/diff.html", "vi"), (EN, "en")],
)
def test_every_page_has_lang_canonical_alternates_toc_and_chrome(dist, path, lang):
    soup = page(dist, path)
    assert soup.html["lang"] == lang
    url = f"https://ximgo.com/{path}" + ("" if path.endswith(".html") else "/")
    assert soup.find("link", rel="canonical")["href"] == url
    hreflangs = {link["hreflang"] for link in soup.find_all("link", hreflang=True)}
    assert {"vi", "en", "x-default"} <= hreflangs
    assert soup.select_one("a.skip-link")["href"] == "#main"
    assert soup.find("main", id="main")
    toc = soup.find("nav", attrs={"aria-labelledby": "toc-title"})
    targets = [a["href"][1:] for a in toc.find_all("a")]
    assert targets and all(soup.find(id=t) for t in targets)
    settings = soup.find("a", attrs={"data-consent-open": True})
    assert settings.get_text() == {"vi": "Cài đặt cookie", "en": "Cookie settings"}[lang]
    assert settings["href"].endswith("#cookie-settings")
    assert soup.find("script", src="/consent.js").has_attr("defer")
    assert soup.find("link", rel="stylesheet", href="/consent.css")


def test_language_switcher_links_to_the_same_page_in_the_other_language(dist):
    vi = page(dist, f"{VI}/history").find("nav", attrs={"aria-label": "Ngôn ngữ"})
    assert vi.find("a", hreflang="en")["href"] == "/en/privacy-policy/history/"
    # 2026-11-24 has no English text: the switcher falls back to the English page in force.
    vi_only = page(dist, f"{VI}/2026-11-24").find("nav", attrs={"aria-label": "Ngôn ngữ"})
    assert vi_only.find("a", hreflang="en")["href"] == "/en/privacy-policy/"


def test_headings_have_ascii_vietnamese_ids_and_permalinks(dist):
    soup = page(dist, f"{VI}/2026-01-01")
    assert soup.find("h2", id="dieu-khoan")
    heading = soup.find("h2", id="thu-thap-thong-tin-nguoi-dung")
    assert heading.find("a", class_="heading-anchor")["href"] == "#thu-thap-thong-tin-nguoi-dung"
    assert heading.get_text() == heading["aria-label"] == "2. Thu thập thông tin người dùng"
    label = heading.find("span", role="img")["aria-label"]
    assert label == "Liên kết tới mục này: 2. Thu thập thông tin người dùng"


def test_current_page_announces_the_upcoming_version(dist):
    soup = page(dist, VI)
    notice = soup.select_one(".notice-upcoming")
    assert "Có hiệu lực từ ngày 15 tháng 12 năm 2026" in " ".join(notice.get_text().split())
    assert notice.find("a")["href"] == "/chinh-sach-bao-mat/2026-12-15/"
    assert "Có hiệu lực từ ngày 24 tháng 11 năm 2026" in text(soup, ".policy-meta")
    en = page(dist, EN).select_one(".notice-upcoming")
    assert "Takes effect on December 15, 2026" in " ".join(en.get_text().split())


def test_lagging_translation_shows_newest_english_with_a_notice(dist):
    soup = page(dist, EN)
    assert "Effective from June 1, 2026" in text(soup, ".policy-meta")
    notice = soup.select_one(".notice-lagging")
    assert "A newer Vietnamese version has been in force since November 24, 2026" in " ".join(
        notice.get_text().split()
    )
    link = notice.find("a", hreflang="vi")
    assert link["href"] == "/chinh-sach-bao-mat/2026-11-24/"


def test_stale_translation_says_the_vietnamese_text_prevails(dist):
    notice = text(page(dist, f"{EN}/2026-12-15"), ".notice-lagging")
    assert "The Vietnamese text of this version changed after this translation" in notice


def test_upcoming_and_superseded_version_pages_say_so(dist):
    upcoming = page(dist, f"{VI}/2026-12-15")
    assert "Phiên bản này chưa có hiệu lực" in text(upcoming, ".notice-upcoming")
    old = page(dist, f"{EN}/2026-01-01")
    assert "This version was replaced on June 1, 2026." in text(old, ".notice-replaced")
    assert old.select_one(".notice-replaced a")["href"] == "/en/privacy-policy/"


def test_history_lists_versions_with_dates_summaries_and_links(dist):
    soup = page(dist, f"{VI}/history")
    entries = soup.select(".history-entry")
    assert [e.h2.get_text() for e in entries] == [
        "Ngày 15 tháng 12 năm 2026",
        "Ngày 24 tháng 11 năm 2026",
        "Ngày 1 tháng 6 năm 2026",
        "Ngày 1 tháng 1 năm 2026",
    ]
    statuses = [e.select_one(".status").get_text(strip=True) for e in entries]
    assert statuses == [
        "Sắp có hiệu lực",
        "Đang có hiệu lực",
        "Đã được thay thế",
        "Đã được thay thế",
    ]
    assert entries[0].select_one(".reconsent")  # 2026-12-15 has reconsent: true
    assert not entries[1].select_one(".reconsent")
    links = [a["href"] for a in entries[1].select(".entry-links a")]
    assert links == ["/chinh-sach-bao-mat/2026-11-24/", "/chinh-sach-bao-mat/2026-11-24/diff.html"]
    assert entries[-1].find("p", string="Phiên bản đầu tiên.")


def test_english_history_links_untranslated_versions_to_vietnamese(dist):
    soup = page(dist, f"{EN}/history")
    entry = soup.find("section", attrs={"aria-labelledby": "v2026-11-24"})
    link = entry.select_one(".entry-links a")
    assert link["href"] == "/chinh-sach-bao-mat/2026-11-24/" and link["hreflang"] == "vi"
    assert "(Vietnamese)" in entry.select_one(".entry-links").get_text()


def test_diff_page_marks_words_with_a_legend(dist):
    soup = page(dist, f"{VI}/2026-06-01/diff.html")
    assert soup.select_one(".diff-legend ins") and soup.select_one(".diff-legend del")
    body = soup.select_one(".diff-text")
    assert body.find("ins") or body.find("del")
    for mark in body.find_all(["ins", "del"]):
        label = mark.find("span", class_="visually-hidden").get_text()
        assert label.strip() in {"Đã thêm:", "Đã xoá:"}
    intro = soup.select_one("main p").get_text(" ")
    assert " ".join(intro.split()) == (
        "Phiên bản ngày 1 tháng 6 năm 2026 so với phiên bản ngày 1 tháng 1 năm 2026 ."
    )


def test_cookie_table_marker_renders_the_declared_cookies(dist):
    soup = page(dist, f"{VI}/2026-11-24")
    table = soup.select_one(".policy-text table.cookie-table")
    assert table.caption.get_text() == "Các cookie trang này có thể đặt"
    names = [code.get_text() for code in table.find_all("code")]
    assert names == ["ximgo_consent", "_ga", "_ga_*", "_gcl_au", "_fbp"]
    assert [th["scope"] for th in table.thead.find_all("th")] == ["col"] * 4
    # The text already has the table, so the cookie-settings section does not repeat it.
    assert not soup.select_one("#cookie-settings table")


def test_strings_are_translated_per_language(dist):
    vi, en = page(dist, VI), page(dist, EN)
    assert vi.select_one("a.skip-link").get_text() == "Chuyển đến nội dung chính"
    assert en.select_one("a.skip-link").get_text() == "Skip to content"
    assert vi.find(id="toc-title").get_text() == "Mục lục"
    assert en.find(id="toc-title").get_text() == "Contents"


def test_404_page_speaks_both_languages_and_links_home(dist):
    soup = BeautifulSoup((dist / "404.html").read_text(), "lxml")
    sections = soup.select("section.not-found")
    assert [s["lang"] for s in sections] == ["vi", "en"]
    assert sections[0].h1.get_text() == "Không tìm thấy trang"
    assert sections[1].h2.get_text() == "Page not found"
    hrefs = {a["href"] for a in soup.select("section.not-found a")}
    assert {"/chinh-sach-bao-mat/", "/en/privacy-policy/", "/", "/en/"} <= hrefs


def test_message_catalogs_are_complete_and_up_to_date():
    """Every msgid the templates and render.py use is in messages.pot and translated in vi."""
    with (THEME / "babel.cfg").open() as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    method_map = [(pattern, method) for pattern, method in method_map if method != "javascript"]
    used = {
        (m[2] if isinstance(m[2], str) else m[2][0])
        for m in extract_from_dir(ROOT, method_map, options_map)
    }
    with (THEME / "locale" / "messages.pot").open("rb") as fp:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fp) if m.id}
    assert used == template, "run pybabel extract as babel.cfg says"
    with (THEME / "locale" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        vi = read_po(fp)
    untranslated = [
        m.id
        for m in vi
        if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    assert untranslated == []
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in vi if m.id} == template


def test_every_policy_page_names_the_controller_and_how_to_reach_them(dist):
    vi_page, en_page = page(dist, VI), page(dist, f"{EN}/2026-06-01")
    for soup, heading, name in (
        (vi_page, "Liên hệ", "Công ty TNHH XIMGO"),
        (en_page, "Contact", "XIMGO Company Limited"),
    ):
        block = soup.select_one("section#data-controller")
        assert block.h2.get_text() == heading
        assert block.p.get_text().startswith(name + " ")
        assert block.select_one(".contact-card a[href='mailto:privacy@ximgo.com']")
        assert soup.select_one("nav.toc a[href='#data-controller']").get_text() == heading
        footer = " ".join(soup.select_one(".footer-controller").get_text().split())
        assert footer == f"© {name} · privacy@ximgo.com"
    assert [dt.get_text() for dt in vi_page.select(".contact-list dt")] == ["Địa chỉ", "Email"]


def test_dates_in_running_text_take_each_languages_legal_form(dist):
    assert text(page(dist, VI), ".policy-meta").startswith(
        "Có hiệu lực từ ngày 24 tháng 11 năm 2026"
    )
    assert text(page(dist, f"{EN}/2026-06-01"), ".policy-meta").startswith(
        "Effective from June 1, 2026"
    )
