"""policysite.render.diff: word-level diff of two rendered versions."""

from __future__ import annotations

import difflib

from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from policysite.render.diff import _similar, _solid, blocks, diff_html
from policysite.render.markup import render_markdown


def diff(old: str, new: str):
    return diff_html(
        render_markdown(old).html, render_markdown(new).html, added_label="+", removed_label="-"
    )


def marks(result, tag: str) -> list[str]:
    soup = BeautifulSoup(result.html, "html.parser")
    return [m.get_text()[2:] for m in soup.find_all(tag)]  # drop the "+ "/"- " label


def test_changed_word_is_deleted_and_inserted():
    result = diff("Chúng tôi sẽ thu nhập thông tin.\n", "Chúng tôi sẽ thu thập thông tin.\n")
    assert marks(result, "del") == ["nhập"]
    assert marks(result, "ins") == ["thập"]
    assert (result.added, result.removed) == (1, 1)


def test_adjacent_changed_words_read_as_one_change():
    result = diff("một hai ba bốn\n", "một năm sáu bốn\n")
    assert marks(result, "del") == ["hai ba"]
    assert marks(result, "ins") == ["năm sáu"]


def test_added_and_removed_paragraphs_keep_their_own_blocks():
    result = diff("Đầu.\n\nBỏ đi.\n\nCuối.\n", "Đầu.\n\nCuối.\n\nMới thêm.\n")
    soup = BeautifulSoup(result.html, "html.parser")
    assert [p.get_text()[2:] for p in soup.select("p.diff-removed")] == ["Bỏ đi."]
    assert [p.get_text()[2:] for p in soup.select("p.diff-added")] == ["Mới thêm."]
    assert [p.get_text() for p in soup.find_all("p", class_=False)] == ["Đầu.", "Cuối."]


def test_lists_stay_lists_and_headings_get_ids():
    result = diff("## Quyền\n\n- xem\n- sửa\n", "## Quyền của bạn\n\n- xem\n- sửa\n- xoá\n")
    soup = BeautifulSoup(result.html, "html.parser")
    assert [li.get_text() for li in soup.select("ul li")] == ["xem", "sửa", "+ xoá"]
    assert soup.h2["id"] == "change-quyen-cua-ban"
    assert result.toc == [(2, "change-quyen-cua-ban", "Quyền của bạn")]


def test_identical_texts_are_unchanged():
    result = diff("## A\n\nB.\n", "## A\n\nB.\n")
    assert result.unchanged and "<ins>" not in result.html and "<del>" not in result.html


def test_blocks_ignore_heading_permalinks_and_flatten_table_rows():
    html = render_markdown("## Tiêu đề\n\n| a | b |\n|---|---|\n| 1 | 2 |\n").html
    assert blocks(html) == [("h2", "Tiêu đề"), ("row", "a · b"), ("row", "1 · 2")]


def test_diff_escapes_text():
    result = diff("a &lt;b&gt;\n", "a &lt;c&gt;\n")
    soup = BeautifulSoup(result.html, "html.parser")
    assert soup.find("c") is None and soup.get_text().strip() == "a <- b+ c>"


_BLOCK_TEXT = st.lists(
    st.sampled_from(["dữ", "liệu", "cookie", "quyền", ",", ".", "a", "b"]), max_size=30
)


@settings(max_examples=300, deadline=None)
@given(_BLOCK_TEXT, _BLOCK_TEXT)
def test_block_similarity_is_difflibs_ratio_of_the_words(old, new):
    old_text, new_text = " ".join(old), " ".join(new)
    matcher = difflib.SequenceMatcher(None, _solid(old_text), _solid(new_text), autojunk=False)
    assert _similar(old_text, new_text) == (matcher.ratio() >= 0.5)
