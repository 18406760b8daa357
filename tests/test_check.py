"""`check`: translations, links and anchors, front matter, NFC, lock, theme."""

from __future__ import annotations

import datetime as dt
import shutil
import unicodedata

import pytest
from sites import FIXTURES, ROOT, VI_BODY, body_sha256, en, vi, write_site

from policysite.build.check import check
from policysite.content.lock import write_lock
from policysite.content.sources import load_site

THEME = ROOT / "themes" / "default"
NOV25 = dt.date(2026, 11, 25)


@pytest.fixture
def theme(tmp_path):
    """A theme folder with templates/, independent of the default theme's progress."""
    path = tmp_path / "theme"
    (path / "templates").mkdir(parents=True)
    return path


def lines(problems) -> list[str]:
    return [str(p) for p in problems]


def test_multiversion_fixture_reports_the_lagging_and_the_stale_translation(theme):
    content = FIXTURES / "multiversion" / "content"
    problems = check(content, theme, NOV25)
    privacy = content / "privacy"
    vi_in_force = load_site(content, date=NOV25).in_force("privacy").primary
    upcoming = load_site(content, date=NOV25).upcoming("privacy")[0].primary
    assert lines(problems) == [
        f"{privacy}/2026-11-24.en.md: warning: missing translation: the in-force 2026-11-24 "
        "version of 'privacy' has no en text\n"
        f"  → create {privacy}/2026-11-24.en.md translating {privacy}/2026-11-24.vi.md, with "
        f"`source_sha256: {vi_in_force.body_sha256}` in its front matter",
        f"{privacy}/2026-12-15.en.md:5: warning: stale translation: {privacy}/2026-12-15.vi.md "
        "has changed since this was translated\n"
        f"  → update the translation to match {privacy}/2026-12-15.vi.md, then set "
        f"`source_sha256: {upcoming.body_sha256}`",
    ]


def test_setting_the_suggested_source_sha256_clears_the_stale_warning(tmp_path, theme):
    shutil.copytree(FIXTURES / "multiversion" / "content", tmp_path / "content")
    content = tmp_path / "content"
    stale = content / "privacy" / "2026-12-15.en.md"
    hint = next(p for p in check(content, theme, NOV25) if p.path == stale).hint
    value = hint.rsplit("source_sha256: ", 1)[1].rstrip("`")
    text = stale.read_text("utf-8")
    old = text.split("source_sha256: ")[1][:64]
    stale.write_text(text.replace(old, value), "utf-8")
    assert [p.path.name for p in check(content, theme, NOV25)] == ["2026-11-24.en.md"]


def test_a_translation_without_source_sha256_is_reported(tmp_path, theme):
    untracked = en().replace("source_sha256", "summary")
    content = write_site(
        tmp_path, {"privacy/2026-11-24.vi.md": vi(), "privacy/2026-11-24.en.md": untracked}
    )
    assert lines(check(content, theme, NOV25)) == [
        f"{content}/privacy/2026-11-24.en.md:1: warning: translation does not record which vi "
        "text it translates (no source_sha256)\n"
        f"  → once it matches {content}/privacy/2026-11-24.vi.md, add "
        f"`source_sha256: {body_sha256(VI_BODY)}` to its front matter"
    ]


def test_published_locked_translations_are_not_reported_stale_forever(tmp_path, theme):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "privacy/2026-11-24.en.md": en(translates="an older text"),
        },
    )
    assert [p.message.split(":")[0] for p in check(content, theme, NOV25)] == ["stale translation"]
    write_lock(content, load_site(content, date=NOV25), today=NOV25)
    assert check(content, theme, NOV25) == []


def test_broken_links_and_anchors_are_errors_with_line_and_suggestion(tmp_path, theme):
    body = VI_BODY + (
        "\nXem [mục 1](#dieu-khoan), [sai](#dieu-khoang) và "
        "[bản cũ](/chinh-sach-bao-mat/2026-11-24/#thu-thap).\n"
        "\n[tiếng Anh](/en/privacy-policy/#terms) [thiếu](/chinh-sach-bao-mat) "
        "[không có](/chinh-sach/)\n"
        "\n[tương đối](lich-su/) [ngoài](https://example.com/#x) [thư](mailto:a@ximgo.com)\n"
    )
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "privacy/2026-11-24.en.md": en(),
            "privacy/2026-12-01.vi.md": vi(summary="Thêm liên kết.", body=body),
            "privacy/2026-12-01.en.md": en(translates=body, summary="Adds links."),
        },
    )
    path = f"{content}/privacy/2026-12-01.vi.md"
    assert lines(check(content, theme, NOV25)) == [
        f"{path}:16: error: broken anchor in '#dieu-khoang': the page has no heading "
        "#dieu-khoang\n  → did you mean #dieu-khoan?",
        f"{path}:16: error: broken anchor in '/chinh-sach-bao-mat/2026-11-24/#thu-thap': the "
        "page has no heading #thu-thap\n  → did you mean #thu-thap-thong-tin-nguoi-dung?",
        f"{path}:18: error: broken link '/chinh-sach-bao-mat': no such page on the site\n"
        "  → end the path with '/': /chinh-sach-bao-mat/",
        f"{path}:18: error: broken link '/chinh-sach/': no such page on the site\n"
        "  → did you mean /chinh-sach-bao-mat/?",
        f"{path}:20: warning: relative link 'lich-su/': it would point elsewhere from the "
        "current page and from the permanent page of this version\n"
        "  → write a site path that starts with '/', e.g. /chinh-sach-bao-mat/",
    ]


def test_published_text_may_not_link_to_a_draft_but_a_draft_may(tmp_path, theme):
    link = VI_BODY + "\n[bản nháp](/chinh-sach-bao-mat/2027-01-01/)\n"
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(body=link),
            "privacy/2027-01-01.vi.md": vi(summary="Nháp.", extra="draft: true", body=link),
        },
    )
    problems = [p for p in check(content, theme, NOV25) if p.severity == "error"]
    assert [(p.path.name, p.line, p.message) for p in problems] == [
        (
            "2026-11-24.vi.md",
            15,
            "broken link '/chinh-sach-bao-mat/2027-01-01/': no such page on the site",
        )
    ]


def test_check_reports_every_kind_of_problem_in_one_run(tmp_path, theme):
    decomposed = unicodedata.normalize("NFD", vi())
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": decomposed,
            "privacy/2026-12-01.vi.md": vi(summary="Sửa.", body=VI_BODY + "\n[x](#khong-co)\n"),
            "privacy/2026-12-01.en.md": en().replace("title:", "titel:"),
        },
    )
    problems = check(content, theme, NOV25)
    assert [(p.severity, p.path.name, p.line) for p in problems] == [
        ("error", "2026-12-01.en.md", 2),  # unknown front-matter key
        ("error", "2026-12-01.vi.md", 16),  # broken anchor, found despite the error above
        ("warning", "2026-11-24.vi.md", 2),  # front matter not NFC
        ("warning", "2026-11-24.vi.md", 5),  # text not NFC
        ("warning", "2026-11-24.en.md", None),  # missing translation of the in-force version
    ]


def test_a_missing_theme_folder_is_an_error(tmp_path):
    content = write_site(
        tmp_path, {"privacy/2026-11-24.vi.md": vi(), "privacy/2026-11-24.en.md": en()}
    )
    assert lines(check(content, tmp_path / "themes" / "nope", NOV25)) == [
        f"{tmp_path}/themes/nope: error: theme folder not found\n"
        "  → pass --theme PATH to a theme with templates/ (the default is themes/default)"
    ]


def test_a_config_error_stops_check_early_with_the_reason(tmp_path, theme):
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": vi()}, site_toml="name = 1\n")
    problems = check(content, theme, NOV25)
    assert {p.path for p in problems} == {content / "site.toml"}
    assert [p.message for p in problems] == [
        "'name' in site.toml must be a non-empty string, got 1",
        "site.toml is missing 'base_url'",
        "site.toml is missing 'timezone'",
        "languages must be a non-empty list, the default language first",
        "site.toml has no [documents]",
        "site.toml has no [consent] table",
        "site.toml has no [controller] table",
    ]


def test_the_shipped_content_has_no_errors():
    problems = check(ROOT / "content", THEME, None)
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_check_fails_like_the_build_when_every_version_is_a_draft(tmp_path, theme):
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": vi(extra="draft: true")})
    assert [(p.severity, p.message) for p in check(content, theme, NOV25)] == [
        ("error", "document 'privacy' has no published version: every version is a draft")
    ]
