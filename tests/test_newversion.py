"""`new-version`: the next version starts as a draft copy of the latest, in every language."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sites import FIXTURES

from policysite.build.check import check
from policysite.content.newversion import new_version
from policysite.content.sources import load_site
from policysite.errors import PolicyError

NOV25 = dt.date(2026, 11, 25)
JAN15 = dt.date(2027, 1, 15)


@pytest.fixture
def content(tmp_path):
    shutil.copytree(FIXTURES / "multiversion" / "content", tmp_path / "content")
    (tmp_path / "theme" / "templates").mkdir(parents=True)
    return tmp_path / "content"


def test_new_version_copies_the_latest_text_of_every_language(content):
    before = load_site(content, date=NOV25, drafts=True).documents["privacy"].versions
    created = new_version(content, "privacy", JAN15)
    privacy = content / "privacy"
    assert created == [privacy / "2027-01-15.vi.md", privacy / "2027-01-15.en.md"]
    assert created[0].read_text("utf-8") == (
        "---\n"
        'title: "Chính sách bảo mật"\n'
        "# TODO: say in one sentence what changed since 2027-01-01; build refuses an empty one.\n"
        'summary: ""\n'
        "# true if the change is material: visitors who consented before are asked again.\n"
        "reconsent: false\n"
        "# Delete this line to publish the version on its effective date.\n"
        "draft: true\n"
        "---\n" + before[-1].primary.body
    )
    latest_en = before[-2].sources["en"]  # the 2026-12-15 translation, the newest en
    assert (
        created[1]
        .read_text("utf-8")
        .endswith(
            "draft: true\n"
            "# The vi text this translates; `check` says when it is stale.\n"
            f"source_sha256: {latest_en.source_sha256}\n"
            "---\n" + latest_en.body
        )
    )


def test_the_new_version_is_a_draft_that_a_publishing_build_leaves_out(content):
    new_version(content, "privacy", JAN15)
    assert [v.date for v in load_site(content, date=NOV25).documents["privacy"].versions][-1] == (
        dt.date(2026, 12, 15)
    )
    site = load_site(content, date=NOV25, drafts=True)
    newest = site.documents["privacy"].versions[-1]
    assert (newest.date, newest.draft, newest.summary, newest.reconsent) == (
        JAN15,
        True,
        None,
        False,
    )
    summaries = [
        p for p in check(content, content.parent / "theme", NOV25) if "summary" in p.message
    ]
    assert [(p.severity, p.path.name, p.line) for p in summaries] == [
        ("warning", "2027-01-15.en.md", 4),
        ("warning", "2027-01-15.vi.md", 4),
    ]


def test_publishing_without_a_summary_fails_with_what_to_do(content):
    vi_file, _ = new_version(content, "privacy", JAN15)
    vi_file.write_text(vi_file.read_text("utf-8").replace("draft: true\n", ""), "utf-8")
    with pytest.raises(PolicyError) as info:
        load_site(content, date=NOV25)
    assert str(info.value) == (
        f"{vi_file}:4: error: missing 'summary': every version after the first must say what "
        "changed\n"
        '  → add summary: "…" to the front matter, one sentence on what changed'
    )
    filled = vi_file.read_text("utf-8").replace('summary: ""', 'summary: "Thêm mục 7."')
    vi_file.write_text(filled, "utf-8")
    assert load_site(content, date=NOV25).documents["privacy"].versions[-1].summary == "Thêm mục 7."


def test_an_up_to_date_translation_stays_up_to_date(tmp_path):
    shutil.copytree(FIXTURES / "multiversion" / "content", tmp_path / "content")
    content = tmp_path / "content"
    (content / "privacy" / "2027-01-01.vi.md").unlink()
    (content / "privacy" / "2026-12-15.vi.md").unlink()
    (content / "privacy" / "2026-12-15.en.md").unlink()
    (content / "privacy" / "2026-11-24.vi.md").unlink()
    (content / "versions.lock").unlink()
    new_version(content, "privacy", JAN15)
    site = load_site(content, drafts=True)
    newest = site.documents["privacy"].versions[-1]
    assert newest.sources["en"].source_sha256 == newest.primary.body_sha256


def test_refuses_a_date_that_exists(content):
    with pytest.raises(PolicyError) as info:
        new_version(content, "privacy", dt.date(2026, 12, 15))
    assert str(info.value) == (
        f"{content}/privacy/2026-12-15.en.md: error: version 2026-12-15 of 'privacy' already "
        "exists\n  → edit that file, or choose another --effective date"
    )


def test_refuses_a_date_not_after_the_latest_version(content):
    with pytest.raises(PolicyError) as info:
        new_version(content, "privacy", dt.date(2026, 12, 31))
    assert str(info.value) == (
        f"{content}/privacy: error: --effective 2026-12-31 is not after the latest version of "
        "'privacy', 2027-01-01\n"
        "  → choose a date after 2027-01-01: each version takes effect after the previous one"
    )
    assert sorted(p.name for p in (content / "privacy").iterdir())[-1] == "2027-01-01.vi.md"


def test_refuses_an_unknown_document(content):
    with pytest.raises(PolicyError) as info:
        new_version(content, "terms", JAN15)
    assert str(info.value) == (
        f"{content}/terms: error: unknown document. Expected one of: privacy but received: "
        f"'terms'\n  → documents are the [documents.<id>] tables of {content}/site.toml"
    )
