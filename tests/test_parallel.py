"""Parallel builds (docs/fast-builds.md): every core, and the same bytes as a serial build."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
from pathlib import Path

import pytest

from policysite.build.parallel import _Runs, chunked, map_chunks
from policysite.build.pipeline import build
from policysite.render import markup

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
MULTIVERSION = ROOT / "tests" / "fixtures" / "multiversion" / "content"
DATE = dt.date(2026, 11, 25)

VOCABULARY = (
    "dữ liệu người dùng quyền riêng tư cookie bảo mật thông tin chia sẻ đối tác quảng cáo "
    "thống kê lưu trữ xoá yêu cầu đồng ý rút lại pháp luật Việt Nam khách hàng"
)
WORDS = VOCABULARY.split()


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def section(rng: random.Random, number: int) -> str:
    """A section that uses every kind of Markdown a policy may hold."""
    title = paragraph(rng, 4)[:-1]
    parts = [f"## {number}. {title}", paragraph(rng, 30)]
    flavour = number % 5
    if flavour == 0:
        parts.append("\n".join(f"- {paragraph(rng, 6)}" for _ in range(4)))
    elif flavour == 1:  # a link to its own heading: the build refuses a broken anchor
        anchor = markup.slugify(title)
        parts.append(f"Xem [mục {number}](#{anchor}) và **{rng.choice(WORDS)}** _nhé_.")
    elif flavour == 2:
        parts.append("| Cookie | Thời hạn |\n|---|---|\n| _ga | 2 năm |\n| fbp | 3 tháng |")
    elif flavour == 3:
        parts.append(f"### {paragraph(rng, 3)[:-1]}\n\n1. một\n2. hai `mã` &amp; <b>in</b>")
    else:
        parts.append("{{ cookie_table }}")
    return "\n\n".join(parts)


def generated_site(root: Path, versions: int = 20) -> Path:
    """A content folder with `versions` versions in vi (every other one in en too), each
    rewriting a few sections of the one before, as a real history does."""
    content = root / "content"
    (content / "privacy").mkdir(parents=True)
    shutil.copy(MULTIVERSION / "site.toml", content / "site.toml")
    rng = random.Random(20261124)
    sections = [section(rng, n) for n in range(1, 9)]
    day = dt.date(2024, 1, 1)
    for index in range(versions):
        for _ in range(2):
            number = rng.randrange(len(sections))
            sections[number] = section(rng, number + 1)
        summary = "" if index == 0 else f'summary: "Thay đổi {index}."\n'
        body = "\n\n".join(sections) + "\n"
        for lang in ("vi", "en") if index % 2 == 0 else ("vi",):
            text = f'---\ntitle: "Chính sách bảo mật"\n{summary}---\n\n{body}'
            (content / "privacy" / f"{day.isoformat()}.{lang}.md").write_text(text, "utf-8")
        day += dt.timedelta(days=30)
    return content


def built(content: Path, out: Path, jobs: int, *, drafts: bool = False) -> dict[str, bytes]:
    build(content, THEME, out, date=DATE, drafts=drafts, jobs=jobs, cache_dir=None)
    return tree(out)


@pytest.mark.parametrize("drafts", [False, True])
def test_parallel_build_of_multiversion_equals_serial(tmp_path, drafts):
    content = tmp_path / "content"
    shutil.copytree(MULTIVERSION, content)
    serial = built(content, tmp_path / "serial", jobs=1, drafts=drafts)
    parallel = built(content, tmp_path / "parallel", jobs=2, drafts=drafts)
    assert parallel == serial
    assert any(name.endswith("/diff.html") for name in serial)


def test_parallel_build_of_twenty_versions_equals_serial(tmp_path):
    content = generated_site(tmp_path)
    serial = built(content, tmp_path / "serial", jobs=1)
    for jobs in (2, 3):
        assert built(content, tmp_path / f"jobs{jobs}", jobs=jobs) == serial
    diffs = [name for name in serial if name.endswith("/diff.html")]
    assert len(diffs) == 19 + 9  # every vi version after the first; every en one after its first
    assert b"<ins>" in serial[diffs[0]]


def test_cached_parallel_build_equals_clean_serial_build(tmp_path):
    content = generated_site(tmp_path, versions=8)
    clean = built(content, tmp_path / "clean", jobs=1)
    cache = tmp_path / "cache"
    for out in ("first", "second"):  # cold cache, then every text from the cache
        build(content, THEME, tmp_path / out, date=DATE, jobs=2, cache_dir=cache)
        assert tree(tmp_path / out) == clean


def test_chunks_keep_order_and_cover_everything():
    items = list(range(23))
    chunks = chunked(items, 5)
    assert [x for chunk in chunks for x in chunk] == items
    assert {len(chunk) for chunk in chunks} == {4, 5}
    assert chunked(items[:2], 8) == [[0], [1]]


def _square_all(offset: int, chunk: list[int]) -> list[int]:
    return [offset + x * x for x in chunk]


def test_map_chunks_returns_results_in_order_from_worker_processes():
    chunks = chunked(list(range(40)), 6)
    expected = [[100 + x * x for x in chunk] for chunk in chunks]
    waited = []
    assert map_chunks(_square_all, chunks, 100, jobs=3, while_waiting=lambda: waited.append(1)) == (
        expected
    )
    assert map_chunks(_square_all, chunks, 100, jobs=1) == expected
    assert waited == [1]


def test_each_worker_takes_its_own_run_first_then_the_end_of_the_longest_other():
    runs = _Runs(10, 2)  # worker 0: chunks 0-4, worker 1: chunks 5-9
    try:
        assert [runs.take(0) for _ in range(5)] == [0, 1, 2, 3, 4]
        assert runs.take(1) == 5
        assert [runs.take(0), runs.take(0)] == [9, 8]  # from the far end: 6, 7 stay in order
        assert [runs.take(1), runs.take(1)] == [6, 7]
        assert runs.take(0) is None and runs.take(1) is None
    finally:
        runs.close()


def _fail_on(bad: set[int], chunk: list[int]) -> list[int]:
    for x in chunk:
        if x in bad:
            raise ValueError(f"cannot render item {x}")
    return chunk


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_map_chunks_raises_the_error_a_serial_run_would_meet_first(jobs):
    chunks = chunked(list(range(40)), 8)
    with pytest.raises(ValueError, match=r"^cannot render item 17$"):
        map_chunks(_fail_on, chunks, {17, 33}, jobs=jobs)


def _die_on(bad: int, chunk: list[int]) -> list[int]:
    if bad in chunk:
        os._exit(3)  # a worker killed mid-build (the OOM killer, a segfault)
    return chunk


def test_map_chunks_fails_loudly_when_a_worker_dies():
    with pytest.raises(RuntimeError, match="a render worker died"):
        map_chunks(_die_on, chunked(list(range(40)), 8), 22, jobs=2)


MARKDOWN_SAMPLES = [
    "Văn bản thuần, không có gì đặc biệt.\n\n## 1. Điều khoản\n\nMột đoạn.\n",
    "Có `mã` và \\*không nghiêng\\* và [liên kết](/a) và ![ảnh](/b.png).\n",
    "Tham chiếu [x][1] và [y].\n\n[1]: /x\n[y]: /y\n",
    "Tự động <https://ximgo.com> và <a@ximgo.com> và <b>in đậm</b> và &copy; &#169;.\n",
    "Xuống dòng cứng  \nở đây.\n\nTab\tcuối\t\nvà **đậm** *nghiêng* __đậm__ _nghiêng_ * sao *.\n",
    "- một\n- hai\n\n1. ba\n2. bốn\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "## Tiêu đề {: #rieng }\n\nĐoạn {: .lop }\n\n    khối mã * [ ] < &\n",
    "Gạch_dưới_trong_từ và snake_case và 2*3*4.\n",
]


@pytest.mark.parametrize("text", MARKDOWN_SAMPLES)
def test_skipping_idle_inline_patterns_never_changes_the_html(text):
    fast = markup._new_markdown(lean=True)
    full = markup._new_markdown(lean=False)
    assert fast.convert(text) == full.convert(text)
    assert fast.toc_tokens == full.toc_tokens
