"""policysite.render.markup: Vietnamese heading slugs, TOC, permalinks, the cookie table marker."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from policysite.render.markup import render_markdown, slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Thu thập thông tin người dùng", "thu-thap-thong-tin-nguoi-dung"),
        ("Điều khoản", "dieu-khoan"),
        ("1. Thu thập thông tin người dùng", "thu-thap-thong-tin-nguoi-dung"),
        ("2.3 Cookie & quảng cáo", "cookie-quang-cao"),
        ("IV) Quyền của bạn", "quyen-cua-ban"),
        ("2026 plans", "2026-plans"),
        ("Chính Sách Bảo Mật", "chinh-sach-bao-mat"),
        ("Ưu đãi ĐẶC BIỆT", "uu-dai-dac-biet"),
        ("  —  ", "section"),
    ],
)
def test_slugify_makes_ascii_vietnamese_ids(title, slug):
    assert slugify(title) == slug


def test_render_markdown_sets_heading_ids_and_toc():
    rendered = render_markdown("## 1. Thu thập thông tin\n\nVăn bản.\n\n### Điều khoản\n")
    soup = BeautifulSoup(rendered.html, "html.parser")
    assert [h["id"] for h in soup.find_all(["h2", "h3"])] == ["thu-thap-thong-tin", "dieu-khoan"]
    assert rendered.toc == [
        (2, "thu-thap-thong-tin", "1. Thu thập thông tin"),
        (3, "dieu-khoan", "Điều khoản"),
    ]
    assert rendered.ids == {"thu-thap-thong-tin", "dieu-khoan"}


def test_render_markdown_repeated_and_reserved_titles_get_distinct_ids():
    rendered = render_markdown("## Ghi chú\n\n## Ghi chú\n\n## Main\n\n## Cookie settings\n")
    assert [entry[1] for entry in rendered.toc] == [
        "ghi-chu",
        "ghi-chu_1",
        "main-section",
        "cookie-settings-section",
    ]


def test_render_markdown_adds_named_permalink_to_each_heading():
    rendered = render_markdown("## Điều khoản\n", anchor_label="Liên kết tới mục này")
    link = BeautifulSoup(rendered.html, "html.parser").find("a", class_="heading-anchor")
    assert link["href"] == "#dieu-khoan"
    assert link.find("span", role="img")["aria-label"] == "Liên kết tới mục này: Điều khoản"
    # The heading's name is its title once, and the link adds no text to copy: CSS draws "#".
    assert link.find_parent("h2")["aria-label"] == "Điều khoản"
    assert link.find_parent("h2").get_text() == "Điều khoản"


def test_render_markdown_lists_links_but_not_heading_anchors():
    text = "## A\n\nXem [mục B](#b), <a href='/en/'>English</a> và https://x.com.\n"
    assert render_markdown(text).links == ["#b", "/en/"]


def test_cookie_table_marker_becomes_the_table_on_its_own():
    table = '<table id="cookies"><tr><td>_ga</td></tr></table>'
    rendered = render_markdown("Trước.\n{{ cookie_table }}\nSau.\n", cookie_table=table)
    assert table in rendered.html
    assert "<p><table" not in rendered.html
    assert "{{" not in rendered.html
    assert "cookies" in rendered.ids


def test_cookie_table_marker_inside_a_sentence_stays_text():
    rendered = render_markdown("Xem {{ cookie_table }} ở đây.\n", cookie_table="<table></table>")
    assert "<table>" not in rendered.html
    assert "{{ cookie_table }}" in rendered.html


def test_render_markdown_supports_lists_and_tables():
    rendered = render_markdown("1. một\n2. hai\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    soup = BeautifulSoup(rendered.html, "html.parser")
    assert [li.text for li in soup.select("ol li")] == ["một", "hai"]
    assert soup.select_one("table td").text == "1"
