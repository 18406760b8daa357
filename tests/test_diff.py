"""policysite.render.diff: word-level diff of two rendered versions."""

from __future__ import annotations

import difflib
import random
import re

from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from policysite.render.blocks import blocks, solid
from policysite.render.diff import WORK, _similar, diff_blocks, diff_html
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
    matcher = difflib.SequenceMatcher(None, solid(old_text), solid(new_text), autojunk=False)
    assert _similar(old_text, new_text) == (matcher.ratio() >= 0.5)


# --- the diff's work grows with the text: anchors, a bounded look-ahead, bounded pairs -------

_WORDS = ["dữ", "liệu", "cookie", "quyền", "xoá", "sửa", "email", "bảo", "mật", "a", "b", ","]
_WORD = st.one_of(st.sampled_from(_WORDS), st.integers(0, 150).map(str))  # rare ones, too
_PARAGRAPH = st.lists(_WORD, min_size=1, max_size=20).map(" ".join)
_KIND = st.sampled_from(["p", "p", "h2", "li-ul", "row"])


@st.composite
def _versions(draw) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A text of random paragraphs and one made from it by random edits of paragraphs and words."""
    old = draw(st.lists(st.tuples(_KIND, _PARAGRAPH), max_size=30))
    new = list(old)
    for _ in range(draw(st.integers(0, 12))):
        edit = draw(st.sampled_from(["insert", "insert many", "delete", "replace", "words"]))
        at = 0
        if new:
            at = draw(st.integers(0, len(new) - 1))
        if edit == "insert many":  # a gap longer than the look-ahead: anchors pair blocks
            run = draw(st.lists(st.tuples(_KIND, _PARAGRAPH), min_size=8, max_size=16))
            new[at:at] = run
            if at + len(run) < len(new):  # and the block after it edited, found far ahead
                kind, text = new[at + len(run)]
                new[at + len(run)] = (kind, text + " " + draw(_WORD))
        elif edit == "insert" or not new:
            new.insert(at, (draw(_KIND), draw(_PARAGRAPH)))
        elif edit == "delete":
            del new[at]
        elif edit == "replace":
            new[at] = (new[at][0], draw(_PARAGRAPH))
        else:
            words = new[at][1].split()
            for _ in range(draw(st.integers(1, 3))):
                where = draw(st.integers(0, len(words)))
                words[where : where + draw(st.integers(0, 2))] = draw(st.lists(_WORD, max_size=2))
            new[at] = (new[at][0], " ".join(words) or "b")
    return old, new


def _tokens_of(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def _read(result, leave_out: str) -> list[str]:
    """The words a reader of the diff page sees, without the <ins> or the <del> marks."""
    soup = BeautifulSoup(result.html, "html.parser")
    for element in soup.select(f"span.visually-hidden, {leave_out}"):
        element.decompose()
    return _tokens_of(soup.get_text(" "))


def _blocks_diff(old, new):
    return diff_blocks(old, new, added_label="+", removed_label="-")


@settings(max_examples=150, deadline=None)
@given(_versions())
def test_applying_the_deletions_and_insertions_to_the_old_text_gives_the_new(versions):
    old, new = versions
    result = _blocks_diff(old, new)
    assert _read(result, "ins") == _tokens_of(" ".join(text for _, text in old))
    assert _read(result, "del") == _tokens_of(" ".join(text for _, text in new))
    assert result.added == sum(len(re.findall(r"\w+", m)) for m in marks(result, "ins"))
    assert result.removed == sum(len(re.findall(r"\w+", m)) for m in marks(result, "del"))


def _unrelated_text(seed: int, words: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(300)] + _WORDS
    found: list[tuple[str, str]] = []
    while sum(len(text.split()) for _, text in found) < words:
        found.append(("p", " ".join(rng.choices(vocabulary, k=rng.randint(40, 80))) + "."))
    return found


def test_two_unrelated_texts_of_20000_words_diff_in_bounded_work():
    old, new = _unrelated_text(1, 20_000), _unrelated_text(2, 20_000)
    WORK.clear()
    result = _blocks_diff(old, new)
    blocks_in_all = len(old) + len(new)  # ~670: pairing all with all would compare ~110,000
    assert WORK["pairs"] <= 10 * blocks_in_all
    assert WORK["tokens"] <= 2 * blocks_in_all  # difflib saw the blocks, not their words
    assert result.removed == len(re.findall(r"\w+", " ".join(t for _, t in old)))  # all, whole


def test_an_edited_paragraph_far_from_where_it_was_is_diffed_by_word():
    old = _unrelated_text(3, 600)
    moved = old[1][1].replace(".", " mới.")
    new = [old[0], *_unrelated_text(4, 1_500), ("p", moved), *old[2:]]
    result = _blocks_diff(old, new)
    assert marks(result, "ins")[-1] == "mới" and marks(result, "del") == []


def test_long_paragraphs_are_diffed_by_word_within_bounded_work():
    long_text = " ".join(text for _, text in _unrelated_text(5, 6_000))  # one paragraph
    edited = long_text.replace(" ", " thêm ", 1)
    WORK.clear()
    result = _blocks_diff([("p", long_text)], [("p", edited)])
    assert marks(result, "ins") == ["thêm"] and WORK["tokens"] < 20_000
    other = " ".join(text for _, text in _unrelated_text(6, 6_000))
    WORK.clear()
    result = _blocks_diff([("p", long_text)], [("p", other)])
    assert (
        result.added == len(re.findall(r"\w+", other)) and WORK["matchers"] == 1
    )  # the blocks' matcher only


def test_a_table_of_many_equal_rows_is_matched_without_anchoring_on_them():
    old = [block for n in range(400) for block in (("row", "Có · Không"), ("p", f"cũ {n}"))]
    new = [block for n in range(400) for block in (("row", "Có · Không"), ("p", f"mới {n}"))]
    result = _blocks_diff(old, new)
    soup = BeautifulSoup(result.html, "html.parser")
    assert [p.get_text() for p in soup.select("p.diff-row")] == ["Có · Không"] * 400
    assert (result.added, result.removed) == (400, 400)  # the words "mới" and "cũ"
