"""content/<document>/<date>.<lang>.md → Site: names, front matter, NFC, drafts, versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata

import pytest
from sites import FIXTURES, VI_BODY, en, source, vi, write_site

from policysite.content.sources import inspect_site, load_site
from policysite.errors import PolicyError

MULTI = FIXTURES / "multiversion" / "content"
NOV25 = dt.date(2026, 11, 25)


def errors_of(content, **kwargs) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_site(content, **kwargs)
    return [str(p) for p in info.value.problems]


def test_load_site_reads_the_multiversion_fixture():
    site = load_site(MULTI, date=NOV25)
    versions = site.documents["privacy"].versions
    assert [v.date.isoformat() for v in versions] == [
        "2026-01-01",
        "2026-06-01",
        "2026-11-24",
        "2026-12-15",
    ]
    assert site.today == NOV25
    assert site.in_force("privacy").date == dt.date(2026, 11, 24)
    assert [v.date for v in site.upcoming("privacy")] == [dt.date(2026, 12, 15)]
    assert [sorted(v.sources) for v in versions] == [
        ["en", "vi"],
        ["en", "vi"],
        ["vi"],
        ["en", "vi"],
    ]
    first, upcoming = versions[0], versions[-1]
    assert first.summary is None and first.primary.title == "Chính sách bảo mật"
    assert upcoming.reconsent is True and upcoming.summary.startswith("Chia sẻ mã cookie")
    assert site.warnings == ()


def test_source_fields_come_from_name_front_matter_and_bytes():
    site = load_site(MULTI, date=NOV25)
    en_source = site.documents["privacy"].versions[0].sources["en"]
    path = MULTI / "privacy" / "2026-01-01.en.md"
    assert en_source.path == path
    assert (en_source.document, en_source.version, en_source.language) == (
        "privacy",
        dt.date(2026, 1, 1),
        "en",
    )
    assert en_source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert en_source.body_line == 5
    assert en_source.body.startswith("\nXIMGO respects")
    vi_source = site.documents["privacy"].versions[0].primary
    assert en_source.source_sha256 == vi_source.body_sha256


def test_drafts_are_left_out_unless_asked_for():
    assert len(load_site(MULTI, date=NOV25).documents["privacy"].versions) == 4
    with_drafts = load_site(MULTI, date=NOV25, drafts=True)
    assert with_drafts.drafts is True
    last = with_drafts.documents["privacy"].versions[-1]
    assert (last.date, last.draft) == (dt.date(2027, 1, 1), True)


def test_a_draft_translation_of_a_published_version_waits(tmp_path):
    content = write_site(
        tmp_path,
        {"privacy/2026-11-24.vi.md": vi(), "privacy/2026-11-24.en.md": en(extra="draft: true")},
    )
    assert sorted(load_site(content).documents["privacy"].versions[0].sources) == ["vi"]
    assert sorted(load_site(content, drafts=True).documents["privacy"].versions[0].sources) == [
        "en",
        "vi",
    ]


def test_text_is_normalised_to_nfc_and_non_nfc_lines_are_warned(tmp_path):
    decomposed = unicodedata.normalize("NFD", VI_BODY)
    content = write_site(
        tmp_path, {"privacy/2026-11-24.vi.md": source('title: "Chính sách"', decomposed)}
    )
    site = load_site(content)
    primary = site.documents["privacy"].versions[0].primary
    assert primary.body == VI_BODY
    assert [str(w) for w in site.warnings] == [
        f"{content}/privacy/2026-11-24.vi.md:5: warning: text is not Unicode NFC "
        "(and 4 more line(s)): letters are stored decomposed\n"
        "  → the build normalises it; to fix the file, re-save it as NFC (e.g. `uconv -x nfc`) "
        "or retype the accented letters"
    ]


def test_windows_line_endings_and_bom_are_accepted(tmp_path):
    text = "\ufeff" + vi().replace("\n", "\r\n")
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": text.encode("utf-8")})
    primary = load_site(content).documents["privacy"].versions[0].primary
    assert primary.title == "Chính sách bảo mật"
    assert primary.body == VI_BODY


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    text = vi(extra="summary: Điều khoản: phạm vi")
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": text})
    assert errors_of(content) == [
        f"{content}/privacy/2026-11-24.vi.md:3: error: invalid YAML in front matter: "
        "mapping values are not allowed here\n"
        "  → fix the YAML; quote text that contains ': ' or starts with a special character, "
        'e.g. title: "Điều khoản: phạm vi"'
    ]


def test_unknown_key_lists_the_allowed_keys(tmp_path):
    text = source('titel: "Chính sách"\ndraft: false')
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": text})
    assert errors_of(content) == [
        f"{content}/privacy/2026-11-24.vi.md:2: error: unknown front-matter key. Expected one "
        "of: title, summary, reconsent, draft, source_sha256 but received: 'titel'\n"
        "  → did you mean 'title'?"
    ]


def test_front_matter_types_and_duplicate_keys_are_checked(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": source("title: 2026\nreconsent: maybe"),
            "privacy/2026-12-01.vi.md": source("title: a\nsummary: b\ntitle: c"),
        },
    )
    messages = [e.split("\n")[0] for e in errors_of(content)]
    path = f"{content}/privacy/2026-1"
    assert messages == [
        f"{path}1-24.vi.md:2: error: title must be non-empty text, got 2026",
        f"{path}1-24.vi.md:3: error: reconsent must be true or false, got 'maybe'",
        f"{path}2-01.vi.md:4: error: front-matter key 'title' appears twice (first on line 2)",
    ]


def test_missing_title_and_unclosed_front_matter(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": source("reconsent: false"),
            "privacy/2026-12-01.vi.md": "---\ntitle: x\n\nbody\n",
        },
    )
    assert errors_of(content) == [
        f"{content}/privacy/2026-11-24.vi.md:1: error: missing required front-matter key "
        "'title'\n  → add a line title: \"…\" to the front matter",
        f"{content}/privacy/2026-12-01.vi.md:1: error: the front matter is never closed\n"
        "  → add a '---' line after the front matter, before the text",
    ]


def test_summary_is_required_after_the_first_version_but_a_draft_may_wait(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "privacy/2026-12-01.vi.md": vi(extra='summary: ""'),
            "privacy/2027-01-01.vi.md": vi(extra="draft: true"),
        },
    )
    _, problems = inspect_site(content)
    assert [(p.severity, p.path.name, p.line) for p in problems] == [
        ("error", "2026-12-01.vi.md", 3),
        ("warning", "2027-01-01.vi.md", 1),
    ]
    assert problems[0].message == (
        "missing 'summary': every version after the first must say what changed"
    )
    assert problems[1].message.endswith("(required before it is published)")


def test_source_sha256_belongs_to_translations_and_is_hex(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(extra="source_sha256: " + "a" * 64),
            "privacy/2026-11-24.en.md": source('title: "Privacy"\nsource_sha256: abc'),
        },
    )
    messages = [e.split("\n")[0] for e in errors_of(content)]
    assert messages == [
        f"{content}/privacy/2026-11-24.en.md:3: error: source_sha256 must be 64 lowercase hex "
        "digits, got 'abc'",
        f"{content}/privacy/2026-11-24.vi.md:3: error: source_sha256 belongs in translations "
        "only, not in the vi source",
    ]


def test_file_names_languages_and_dates_are_checked(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "privacy/2026-12-01_vi.md": vi(),
            "privacy/2026-11-24.fr.md": vi(),
            "privacy/2026-02-30.vi.md": vi(),
            "privacy/notes.txt": "ghi chú",
        },
    )
    site, problems = inspect_site(content)
    assert [str(p) for p in problems] == [
        f"{content}/privacy/2026-02-30.vi.md: error: 2026-02-30 in the file name is not a real "
        "date\n  → rename the file to the date the version takes effect, as YYYY-MM-DD",
        f"{content}/privacy/2026-11-24.fr.md: error: unknown language 'fr'. Expected one of: "
        "vi, en but received: 'fr'\n  → rename the file, or add 'fr' to languages in "
        f"{content}/site.toml with a slug for every document",
        f"{content}/privacy/2026-12-01_vi.md: error: file name '2026-12-01_vi.md' is not "
        "<YYYY-MM-DD>.<lang>.md\n  → rename it to 2026-12-01.vi.md: the date the version "
        "takes effect, then the language",
        f"{content}/privacy/notes.txt: warning: ignored: not a <YYYY-MM-DD>.<lang>.md source",
    ]
    assert [v.date for v in site.documents["privacy"].versions] == [dt.date(2026, 11, 24)]


def test_non_utf8_file_gives_byte_offset_and_line(tmp_path):
    raw = vi().encode("utf-8").replace("tôn".encode(), "tôn".encode("cp1258"))
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": raw})
    assert errors_of(content) == [
        f"{content}/privacy/2026-11-24.vi.md:5: error: not valid UTF-8: byte 0xF4 at offset 50\n"
        "  → save the file as UTF-8 (in your editor: Save with encoding → UTF-8)"
    ]


def test_translation_needs_a_default_language_source(tmp_path):
    content = write_site(
        tmp_path, {"privacy/2026-11-24.vi.md": vi(), "privacy/2026-12-01.en.md": en()}
    )
    assert errors_of(content) == [
        f"{content}/privacy/2026-12-01.en.md: error: translation without a vi source: "
        f"{content}/privacy/2026-12-01.vi.md does not exist\n"
        f"  → create {content}/privacy/2026-12-01.vi.md first (vi is the source of truth), or "
        "rename this file to the date of the vi version it translates"
    ]


def test_folders_and_documents_must_match_site_toml(tmp_path):
    content = write_site(tmp_path, {"terms/2026-11-24.vi.md": vi()})
    assert [e.split("\n")[0] for e in errors_of(content)] == [
        f"{content}/terms: error: folder 'terms' is not a document listed in site.toml. "
        "Expected one of: privacy but received: 'terms'",
        f"{content}/privacy: error: document 'privacy' is configured in site.toml but has no "
        "folder",
    ]


def test_a_document_whose_versions_are_all_drafts_cannot_be_published(tmp_path):
    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": vi(extra="draft: true")})
    assert errors_of(content)[0].startswith(
        f"{content}/privacy: error: document 'privacy' has no published version"
    )
    assert load_site(content, drafts=True).documents["privacy"].versions[0].draft


def test_a_bad_file_name_hint_never_names_a_real_version(tmp_path):
    content = write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "privacy/2027-2-01.vi.md": vi(),
            "privacy/2026-11-24_vi.md": vi(),
        },
    )
    assert errors_of(content) == [
        f"{content}/privacy/2026-11-24_vi.md: error: file name '2026-11-24_vi.md' is not "
        "<YYYY-MM-DD>.<lang>.md\n  → rename it to YYYY-MM-DD.vi.md: the date the version "
        "takes effect, then the language",
        f"{content}/privacy/2027-2-01.vi.md: error: file name '2027-2-01.vi.md' is not "
        "<YYYY-MM-DD>.<lang>.md\n  → rename it to YYYY-MM-DD.vi.md: the date the version "
        "takes effect, then the language",
    ]
