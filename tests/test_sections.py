"""policysite.render.sections: rendering a text section by section gives exactly the whole-text
result.

Each text is rendered both ways, through the build's cache (sections, memoised) and through
`render_markdown` (the whole text at once), and the HTML, TOC, ids and links must be equal;
so must the word diffs of consecutive texts. Texts: every fixture, the shipped content, the
benchmark corpus generator's, and seeded random mixes of every construct a policy may hold,
including the ones that make `split` or `join` give up.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import sys
from pathlib import Path

import pytest

from policysite.render import diff, markup, sections
from policysite.render.cache import DiffRequest, TextCache, TextRequest

ROOT = Path(__file__).resolve().parent.parent
TABLE = (
    '<div class="table-scroll"><table><caption>Cookies</caption><tr><td>_ga</td></tr></table></div>'
)
TABLE_WITH_HEADING = '<h3 id="muc-dich">Mục đích</h3><table><tr><td>_ga</td></tr></table>'
LABEL = "Liên kết tới mục này"


def body_of(path: Path) -> str:
    """The Markdown after the front matter, as the build reads it (or the whole file)."""
    text = path.read_text("utf-8", errors="replace").replace("\r\n", "\n")
    if text.startswith("---\n") and "\n---\n" in text[3:]:
        return text[3:].split("\n---\n", 1)[1]
    return text


def assert_same(text: str, table: str = TABLE) -> TextCache:
    """Render `text` sectioned (a fresh cache) and whole; they must be the same."""
    cache = TextCache()
    sectioned = cache.markdown(TextRequest(text, table, LABEL))
    whole = markup.render_markdown(text, cookie_table=table, anchor_label=LABEL)
    assert sectioned.html == whole.html, text
    assert sectioned.toc == whole.toc, text
    assert sectioned.ids == whole.ids
    assert sectioned.links == whole.links
    return cache


def assert_same_diff(old: str, new: str) -> None:
    """The diff of two sectioned texts equals the diff of the two whole texts."""
    cache = TextCache()
    old_html = cache.markdown(TextRequest(old, TABLE, LABEL)).html
    new_html = cache.markdown(TextRequest(new, TABLE, LABEL)).html
    got = cache.diff(DiffRequest(old_html, new_html, "Thêm:", "Bỏ:"))
    want = diff.diff_html(
        markup.render_markdown(old, cookie_table=TABLE, anchor_label=LABEL).html,
        markup.render_markdown(new, cookie_table=TABLE, anchor_label=LABEL).html,
        added_label="Thêm:",
        removed_label="Bỏ:",
    )
    assert (got.html, got.toc, got.added, got.removed) == (
        want.html,
        want.toc,
        want.added,
        want.removed,
    )


# --- real texts --------------------------------------------------------------------------------


FILES = sorted((ROOT / "tests" / "fixtures").rglob("*.md")) + sorted(
    (ROOT / "content").rglob("*.md")
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fixture_and_shipped_texts_render_the_same_by_sections(path):
    assert_same(body_of(path))


def test_shipped_content_is_actually_split():
    body = body_of(ROOT / "content" / "privacy" / "2026-11-24.vi.md")
    parts = sections.split(body)
    assert parts is not None and len(parts) > 10


def test_shipped_versions_diff_the_same_by_sections():
    privacy = ROOT / "content" / "privacy"
    for lang in ("vi", "en"):
        old, new = sorted(privacy.glob(f"*.{lang}.md"))[:2]
        assert_same_diff(body_of(old), body_of(new))


def _corpus_module():
    spec = importlib.util.spec_from_file_location(
        "make_corpus", ROOT / "bench" / "build" / "make_corpus.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_benchmark_corpus_renders_and_diffs_the_same_by_sections():
    histories = _corpus_module().histories(12, 600)
    for documents in histories.values():
        texts = [document.markdown() for document in documents]
        for text in texts:
            assert_same(text)
        for old, new in itertools.pairwise(texts):
            assert_same_diff(old, new)


# --- every construct, mixed at random ----------------------------------------------------------


SNIPPETS = [
    "## 1. Thu thập thông tin người dùng",
    "## Ghi chú",  # repeated titles: ids get _1, _2 across sections
    "### Ghi chú",
    "# Tiêu đề cấp một",
    "#Không có dấu cách",
    "## Main",  # a reserved id: main-section
    "## Cookie settings",
    "###### Sáu",
    "## Tiêu đề có đuôi ##",
    "Tiêu đề setext\n==============",
    "Tiêu đề setext hai\n------------------",
    "Một đoạn văn **đậm** và _nghiêng_, với `mã` và \\*thoát\\*.",
    "Một đoạn\nhai dòng, dòng cuối có hai dấu cách  \nngắt dòng.",
    "Đoạn có # dấu thăng ở giữa và &amp; thực thể &copy;.",
    "- một\n- hai\n- ba",
    "- lỏng\n\n- danh sách\n\n- rời",
    "1. một\n2. hai\n    - lồng\n    - nhau",
    "3. bắt đầu từ ba\n4. bốn",
    "* sao\n+ cộng",
    "> Trích dẫn\n> hai dòng",
    "> trích dẫn\nlười",
    "    mã thụt lề\n    hai dòng",
    "\tmã thụt tab",
    "| Cookie | Thời hạn |\n|---|---|\n| _ga | 2 năm |",
    "---",
    "***",
    "{{ cookie_table }}",
    "Xem [mục 2](#ghi-chu) và https://ximgo.com.",
    'Một [liên kết](https://ximgo.com "tiêu đề") và ![ảnh](/a.png).',
    "Văn bản [tham chiếu][x] không có định nghĩa.",
    "",
    "   ",
    "## Điều khoản\n\nđoạn ngay sau",
    "## Hai\n### Ba dính liền",
    "# ",
    "Đoạn có\n> trích dẫn bên trong",
    "Đoạn có\n# tiêu đề bên trong",
    "Đoạn có\n***\nđường kẻ bên trong",
    "Đoạn có\n- danh sách bên trong",
    "Đoạn có\n    dòng thụt lề",
    "cookie | thời hạn\n--- | ---\n_ga | 2 năm",
    "Ưu tiên\n1. không phải danh sách?",
    "    mã cuối mục",
    "1986. một năm",
    "_gạch dưới_ đầu dòng",
    "ĐIỀU KHOẢN\n---",
]
UNSAFE = [
    "[x]: https://ximgo.com",  # a reference definition is document-wide
    "<div>\n\n## Trong HTML\n\n</div>",
    "Chữ <b>in</b> nội dòng.",
    "```\n# không phải tiêu đề\n```",
    "## Có id {#tu-dat}",
    "Chú thích[^1].\n\n[^1]: ở đây",
]


def mixed_text(rng: random.Random, unsafe: bool) -> str:
    pool = SNIPPETS + (UNSAFE if unsafe else [])
    parts = [rng.choice(pool) for _ in range(rng.randrange(1, 14))]
    separators = ["\n\n", "\n\n", "\n\n", "\n", "\n\n\n", "\n \n"]
    text = parts[0]
    for part in parts[1:]:
        text += rng.choice(separators) + part
    return text + rng.choice(["", "\n", "\n\n"])


@pytest.mark.parametrize("seed", range(6))
def test_random_mixes_render_the_same_by_sections(seed):
    rng = random.Random(seed)
    joined = 0
    for _ in range(120):
        text = mixed_text(rng, unsafe=rng.random() < 0.3)
        assert_same(text)
        parts = sections.split(text)
        joined += parts is not None and len(parts) > 1
    assert joined > 30  # the sectioned path itself was tested, not only the fallback


def test_random_mixes_diff_the_same_by_sections():
    rng = random.Random(99)
    previous = mixed_text(rng, unsafe=False)
    for _ in range(80):
        text = mixed_text(rng, unsafe=False)
        assert_same_diff(previous, text)
        previous = text


def test_cookie_table_with_its_own_heading_ids():
    text = "## Mục đích\n\nA.\n\n{{ cookie_table }}\n\n## Mục đích\n\nB.\n"
    assert_same(text, table=TABLE_WITH_HEADING)


# --- what split and join do --------------------------------------------------------------------


def test_split_cuts_before_headings_and_paragraphs_that_start_a_block():
    text = "Mở đầu.\n\n## Một\n\nA.\n## Không cắt\n\n- danh\n\n- sách\n\n# Hai\n\nB.\n  \nC."
    assert sections.split(text) == [
        "Mở đầu.",
        "## Một",
        "A.\n## Không cắt\n\n- danh\n\n- sách",  # a list item continues the list before it
        "# Hai",
        "B.\n  \nC.",  # a line of spaces is not cut at (it is not empty)
    ]


@pytest.mark.parametrize("unsafe", UNSAFE)
def test_split_gives_up_on_document_wide_constructs(unsafe):
    assert sections.split(f"## A\n\n{unsafe}\n\n## B\n\nC.") is None


def test_repeated_titles_are_renamed_across_sections():
    cache = assert_same("## Ghi chú\n\nA.\n\n## Ghi chú\n\nB.\n\n### Ghi chú\n\nC.\n")
    rendered = cache.markdown(TextRequest("## Ghi chú\n\nA.\n\n## Ghi chú\n\nB.\n", TABLE, LABEL))
    assert [entry[1] for entry in rendered.toc] == ["ghi-chu", "ghi-chu_1"]
    assert 'href="#ghi-chu_1"' in rendered.html


def test_sections_shared_by_two_versions_are_rendered_once():
    one = "## Một\n\nA.\n\n## Hai\n\nB.\n\n## Ba\n\nC.\n"
    two = one.replace("B.", "B sửa.")
    cache = TextCache()
    before = markup.conversions()
    cache.markdown(TextRequest(one, TABLE, LABEL))
    cache.markdown(TextRequest(two, TABLE, LABEL))
    assert markup.conversions() - before == 7  # six sections, then only the edited one


# --- the lean Markdown pipeline against Python-Markdown's own ----------------------------------


def test_lean_markdown_pipeline_gives_the_reference_html_and_toc():
    """`markup` skips idle inline patterns and the toc step on trees without headings; the
    reference instance runs every step. Both must give the same HTML and TOC entries."""
    lean, full = markup._new_markdown(lean=True), markup._new_markdown(lean=False)
    rng = random.Random(7)
    texts = [body_of(path) for path in FILES]
    texts += [mixed_text(rng, unsafe=rng.random() < 0.3) for _ in range(300)]
    for text in texts:
        for part in sections.split(text) or [text]:
            assert lean.reset().convert(part) == full.reset().convert(part), part
            assert lean.toc_tokens == full.toc_tokens, part
