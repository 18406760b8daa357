"""content/versions.lock: published versions are recorded and may never change."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

import pytest
from sites import FIXTURES, en, vi, write_site

from policysite.content.lock import HEADER, read_lock, updated_lock, verify, write_lock
from policysite.content.sources import load_site
from policysite.errors import PolicyError

NOV25 = dt.date(2026, 11, 25)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def content(tmp_path):
    return write_site(
        tmp_path,
        {
            "privacy/2026-11-24.vi.md": vi(),
            "privacy/2026-11-24.en.md": en(),
            "privacy/2026-12-15.vi.md": vi(summary="Sắp có hiệu lực."),
            "privacy/2026-10-01.vi.md": vi(summary="Bản nháp cũ.", extra="draft: true"),
        },
    )


def test_write_lock_records_every_published_file_sorted_with_a_header(content):
    site = load_site(content, date=NOV25)
    assert write_lock(content, site, today=NOV25) is True
    privacy = content / "privacy"
    assert (content / "versions.lock").read_text("utf-8") == (
        HEADER
        + f"privacy/2026-11-24.en.md {sha(privacy / '2026-11-24.en.md')}\n"
        + f"privacy/2026-11-24.vi.md {sha(privacy / '2026-11-24.vi.md')}\n"
    )
    assert "commit it" in HEADER and "new-version" in HEADER


def test_repeated_builds_leave_the_lock_untouched(content):
    site = load_site(content, date=NOV25)
    write_lock(content, site, today=NOV25)
    lock = content / "versions.lock"
    before = lock.stat().st_mtime_ns
    assert write_lock(content, load_site(content, date=NOV25), today=NOV25) is False
    assert lock.stat().st_mtime_ns == before


def test_the_lock_grows_when_an_upcoming_version_takes_effect(content):
    write_lock(content, load_site(content, date=NOV25), today=NOV25)
    assert (
        write_lock(
            content, load_site(content, date=dt.date(2026, 12, 15)), today=dt.date(2026, 12, 15)
        )
        is True
    )
    assert sorted(read_lock(content)) == [
        "privacy/2026-11-24.en.md",
        "privacy/2026-11-24.vi.md",
        "privacy/2026-12-15.vi.md",
    ]


def test_editing_a_locked_version_fails_the_load_with_what_to_do(content):
    write_lock(content, load_site(content, date=NOV25), today=NOV25)
    path = content / "privacy" / "2026-11-24.vi.md"
    recorded = sha(path)
    path.write_text(path.read_text("utf-8").replace("này.", "này!"), "utf-8")
    with pytest.raises(PolicyError) as info:
        load_site(content, date=NOV25)
    assert str(info.value) == (
        f"{path}: error: this version has taken effect and is locked, but its text has changed "
        f"(versions.lock records sha256 {recorded[:12]}…)\n"
        f"  → published versions are immutable: restore the file (git checkout -- {path}) and "
        "publish the change as a new version with "
        "`python build.py new-version privacy --effective YYYY-MM-DD`"
    )


def test_deleting_a_locked_version_is_reported(content):
    write_lock(content, load_site(content, date=NOV25), today=NOV25)
    path = content / "privacy" / "2026-11-24.en.md"
    path.unlink()
    problems = verify(content)
    assert [(p.path, p.message) for p in problems] == [
        (path, "this published version was deleted, but versions.lock records it")
    ]


def test_upcoming_versions_and_drafts_stay_editable(content):
    write_lock(content, load_site(content, date=NOV25), today=NOV25)
    upcoming = content / "privacy" / "2026-12-15.vi.md"
    upcoming.write_text(vi(summary="Đã sửa."), "utf-8")
    draft = content / "privacy" / "2026-10-01.vi.md"
    draft.write_text(vi(summary="Vẫn là nháp.", extra="draft: true"), "utf-8")
    assert verify(content) == []
    assert load_site(content, date=NOV25).today == NOV25


def test_a_malformed_lock_line_is_reported_with_its_line(content):
    (content / "versions.lock").write_text("# lock\nprivacy/2026-11-24.vi.md deadbeef\n", "utf-8")
    with pytest.raises(PolicyError) as info:
        read_lock(content)
    assert [(p.line, p.message) for p in info.value.problems] == [
        (
            2,
            "expected '<document>/<YYYY-MM-DD>.<lang>.md <sha256>' but received: "
            "'privacy/2026-11-24.vi.md deadbeef'",
        )
    ]


def test_the_multiversion_fixture_lock_is_current_for_its_date(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "multiversion" / "content", content)
    site = load_site(content, date=NOV25)
    assert updated_lock(site, today=NOV25) == (content / "versions.lock").read_text("utf-8")


def test_write_lock_that_cannot_write_is_a_policy_error_naming_the_file(content):
    # Root ignores a read-only folder, so the write is made to fail another real way: a
    # folder where the temporary file must go.
    (content / "versions.lock.tmp").mkdir()
    with pytest.raises(PolicyError) as error:
        write_lock(content, load_site(content, date=NOV25), today=NOV25)
    assert str(error.value) == (
        f"{content}/versions.lock: error: cannot write versions.lock: Is a directory\n"
        f"  → make {content} writable (and remove versions.lock.tmp if it is in the way), "
        "then build again: the site was built, but the versions now in force are not "
        "recorded as published until this file is written"
    )
    assert not (content / "versions.lock").exists()
