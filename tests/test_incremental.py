"""Incremental builds: the cache, the manifest, the Builder that `serve` can use.

docs/fast-builds.md describes them.

Every test compares with a clean serial build with no cache: incremental output must be the
same bytes, file for file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policysite.build import incremental, manifest
from policysite.build.incremental import Builder
from policysite.build.pipeline import build
from policysite.render import markup

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
MULTIVERSION = ROOT / "tests" / "fixtures" / "multiversion" / "content"
DATE = dt.date(2026, 11, 25)
VI, EN = "chinh-sach-bao-mat", "en/privacy-policy"


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A private copy of the multiversion content and theme (tests edit both)."""
    shutil.copytree(MULTIVERSION, tmp_path / "content")
    shutil.copytree(THEME, tmp_path / "theme")
    return tmp_path


def clean(site: Path, *, drafts: bool = False) -> dict[str, bytes]:
    """A clean serial build with no cache, into a fresh folder."""
    out = site / "clean"
    shutil.rmtree(out, ignore_errors=True)
    build(site / "content", site / "theme", out, date=DATE, drafts=drafts, jobs=1, cache_dir=None)
    return tree(out)


def cached(site: Path, *, drafts: bool = False, jobs: int = 1):
    return build(
        site / "content",
        site / "theme",
        site / "dist",
        date=DATE,
        drafts=drafts,
        jobs=jobs,
        cache_dir=site / "cache",
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), "utf-8")


# --- the disk cache ---------------------------------------------------------------------------


def test_rebuild_with_no_change_does_no_markdown_work(site):
    first = cached(site)
    assert first.cache.misses["markdown"] > 0
    incremental._TEXTS.clear()  # forget what this process holds: only the disk cache is left
    before = markup.conversions()
    other = site / "other"
    report = build(
        site / "content", site / "theme", other, date=DATE, jobs=1, cache_dir=site / "cache"
    )
    assert markup.conversions() == before
    assert report.cache.misses == {"markdown": 0, "diff": 0}
    assert report.cache.hits["markdown"] == first.cache.misses["markdown"]
    assert report.cache.hits["diff"] == first.cache.misses["diff"]
    assert tree(site / "other") == tree(site / "dist") == clean(site)


def test_verbose_report_shows_cache_hits_in_a_fresh_process(site):
    def run() -> str:
        command = [sys.executable, str(ROOT / "build.py"), "build", "-v", "--date", "2026-11-25"]
        command += ["--content", "content", "--theme", "theme", "--out", "dist"]
        done = subprocess.run(command, cwd=site, capture_output=True, text=True, check=True)
        return done.stdout

    first = run()
    assert re.search(r"markdown \d+ cached, [1-9]\d* rendered", first)
    assert (site / ".policysite-cache").is_dir() and not (site / "dist/.policysite-cache").exists()
    (site / "theme" / "static" / "style.css").write_text("/* new look */\n", "utf-8")
    second = run()  # the theme changed: every page again, but no Markdown and no diff
    assert re.search(
        r"render .*\((\d+) of \1 pages rendered; markdown \d+ cached, 0 rendered; "
        r"diffs \d+ cached, 0 computed\)",
        second,
    ), second
    assert tree(site / "dist") == clean(site)


# --- the manifest: nothing changed, nothing done -------------------------------------------------


def test_unchanged_build_is_skipped_and_leaves_dist_alone(site):
    cached(site)
    page = site / "dist" / VI / "index.html"
    stamp = page.stat().st_mtime_ns
    before = markup.conversions()
    report = cached(site)
    assert report.up_to_date and report.rendered == 0
    assert str(report).startswith(f"{site / 'dist'} is up to date: ")
    assert markup.conversions() == before
    assert page.stat().st_mtime_ns == stamp
    assert tree(site / "dist") == clean(site)


@pytest.mark.parametrize("damage", ["edit", "extra", "delete"])
def test_a_touched_dist_is_rebuilt(site, damage):
    cached(site)
    page = site / "dist" / VI / "index.html"
    if damage == "edit":
        page.write_bytes(page.read_bytes().replace(b"XIMGO", b"OGMIX"))
    elif damage == "extra":
        (site / "dist" / "stray.html").write_text("hi")
    else:
        page.unlink()
    report = cached(site)
    assert not report.up_to_date
    assert tree(site / "dist") == clean(site)


@pytest.fixture
def trusting(monkeypatch):
    """Trust stat lines at once: the build records them right after writing, and would
    otherwise re-read every file for two seconds (the "racy" rule), hiding the stat path."""
    monkeypatch.setattr(manifest, "RACY_NS", 0)


def test_edit_that_keeps_size_and_mtime_is_still_seen(site, trusting):
    cached(site)
    assert cached(site).up_to_date  # this time decided by stat lines
    source = site / "content" / "privacy" / "2026-12-15.vi.md"
    before = source.stat()
    text = source.read_text("utf-8")
    edited = text.replace("## 5", "## X5", 1)[:-1]  # one byte more, one byte less
    assert len(edited.encode()) == len(text.encode()) and edited != text
    source.write_text(edited, "utf-8")
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    report = cached(site)
    assert not report.up_to_date
    assert tree(site / "dist") == clean(site)


@pytest.mark.parametrize("where", [".", VI, f"{VI}/2026-12-15"])
def test_a_stray_file_anywhere_in_dist_is_seen(site, trusting, where):
    cached(site)
    assert cached(site).up_to_date
    (site / "dist" / where / "stray.html").write_text("hi")
    report = cached(site)
    assert not report.up_to_date
    assert tree(site / "dist") == clean(site)


def test_a_page_rewritten_with_the_same_bytes_is_still_up_to_date(site, trusting):
    cached(site)
    page = site / "dist" / VI / "index.html"
    page.write_bytes(page.read_bytes())  # new stat line, same contents: checked by hash
    assert cached(site).up_to_date
    assert cached(site).up_to_date


def test_build_inputs_cover_the_build_code_but_not_the_collector(site):
    inputs = manifest.read_inputs(site / "content", site / "theme", drafts=False)
    assert "code/build/pipeline.py" in inputs and "code/render/html.py" in inputs
    assert "content/site.toml" in inputs and "theme/templates/base.html" in inputs
    assert not [name for name in inputs if name.startswith("code/collector/")]


def test_another_date_is_not_skipped(site):
    cached(site)
    report = build(
        site / "content", site / "theme", site / "dist",
        date=dt.date(2026, 12, 15), jobs=1, cache_dir=site / "cache",
    )  # fmt: skip
    assert not report.up_to_date
    page = (site / "dist" / VI / "index.html").read_text()
    assert '<time datetime="2026-12-15">' in page


# --- edits: incremental output equals a clean build ----------------------------------------------


EDITS = {
    "body of an upcoming version": ("privacy/2026-12-15.vi.md", "\n## ", "\nMột câu mới.\n\n## "),
    "title of an upcoming version": ("privacy/2026-12-15.en.md", "Privacy policy", "Privacy"),
    "summary of an upcoming version": ("privacy/2026-12-15.vi.md", 'summary: "', 'summary: "Mới. '),
    "site.toml": ("site.toml", 'name = "XIMGO"', 'name = "XIMGO Việt Nam"'),
}


@pytest.mark.parametrize("what", sorted(EDITS))
@pytest.mark.parametrize("drafts", [False, True])
def test_incremental_build_after_an_edit_equals_a_clean_build(site, what, drafts):
    cached(site, drafts=drafts)
    name, old, new = EDITS[what]
    edit(site / "content" / name, old, new)
    report = cached(site, drafts=drafts)
    assert not report.up_to_date
    assert tree(site / "dist") == clean(site, drafts=drafts)


def test_incremental_build_after_adding_and_removing_versions(site):
    cached(site, drafts=True, jobs=2)
    new = site / "content" / "privacy" / "2027-02-01.vi.md"
    new.write_text('---\ntitle: "Chính sách"\nsummary: "Mới."\n---\n\n## Một\n\nHai.\n', "utf-8")
    cached(site, drafts=True, jobs=2)
    assert tree(site / "dist") == clean(site, drafts=True)
    (site / "content" / "privacy" / "2026-12-15.en.md").unlink()
    cached(site, drafts=True, jobs=2)
    assert tree(site / "dist") == clean(site, drafts=True)


def test_template_change_rerenders_every_page(site):
    cached(site)
    edit(site / "theme" / "templates" / "base.html", "</body>", "<!-- v2 --></body>")
    report = cached(site)
    assert report.rendered == report.pages
    assert report.cache.misses["markdown"] == 0
    assert tree(site / "dist") == clean(site)


# --- the Builder, for serve ----------------------------------------------------------------------


def builder(site: Path) -> Builder:
    return Builder(
        site / "content", site / "theme", site / "preview",
        date=DATE, drafts=True, jobs=1, cache_dir=site / "cache",
    )  # fmt: skip


def test_builder_rebuilds_only_pages_that_show_the_edited_text(site):
    preview = builder(site)
    first = preview.rebuild(set())
    assert first.rendered == first.pages
    source = site / "content" / "privacy" / "2026-12-15.vi.md"
    edit(source, "\n## ", "\nMột câu mới.\n\n## ")
    result = preview.rebuild({source})
    rendered = {name for name in result.changed if name.endswith(".html")}
    assert f"{VI}/2026-12-15/index.html" in rendered
    assert f"{VI}/2026-12-15/diff.html" in rendered
    assert f"{VI}/2027-01-01/diff.html" in rendered  # the next diff compares with it
    # Pages that cannot show the text are not rendered again.
    assert not rendered & {f"{VI}/2026-01-01/index.html", f"{VI}/2026-06-01/diff.html"}
    assert result.rendered < result.pages / 2
    assert "policy.json" in result.changed  # the source's sha256
    assert "consent.js" not in result.changed
    assert tree(site / "preview") == clean(site, drafts=True)


def test_builder_reuses_sitemap_and_feeds_after_a_body_edit_and_remakes_them_after_a_title_edit(
    site,
):
    preview = builder(site)
    preview.rebuild(set())
    listed = preview.listings
    source = site / "content" / "privacy" / "2026-12-15.vi.md"
    edit(source, "\n## ", "\nMột câu mới.\n\n## ")
    result = preview.rebuild({source})
    assert preview.listings is listed  # the sitemap and feeds were not made again
    assert not {"sitemap.xml", "feed.xml"} & result.changed
    edit(source, 'title: "Chính sách bảo mật"', 'title: "Chính sách bảo mật (sửa)"')
    result = preview.rebuild({source})
    assert preview.listings is not listed
    assert "Chính sách bảo mật (sửa)" in (site / "preview" / "feed.xml").read_text("utf-8")
    # Either way, the same bytes as a clean build of the same sources.
    assert tree(site / "preview") == clean(site, drafts=True)


def test_builder_with_no_change_writes_nothing(site):
    preview = builder(site)
    preview.rebuild(set())
    result = preview.rebuild({site / "content" / "privacy" / "2026-12-15.vi.md"})
    assert result.rendered == 0 and not result.changed and not result.removed


def test_builder_theme_and_widget_changes_rebuild_everything_they_touch(site):
    preview = builder(site)
    preview.rebuild(set())
    edit(site / "theme" / "templates" / "base.html", "</body>", "<!-- v2 --></body>")
    result = preview.rebuild({site / "theme" / "templates" / "base.html"})
    assert result.rendered == result.pages
    assert tree(site / "preview") == clean(site, drafts=True)


def test_builder_deletes_pages_that_are_gone(site):
    preview = builder(site)
    preview.rebuild(set())
    draft = site / "content" / "privacy" / "2027-01-01.vi.md"
    draft.unlink()
    result = preview.rebuild({draft})
    assert f"{VI}/2027-01-01/index.html" in result.removed
    assert not (site / "preview" / VI / "2027-01-01").exists() or not any(
        (site / "preview" / VI / "2027-01-01").rglob("*.html")
    )
    assert set(tree(site / "preview")) == set(clean(site, drafts=True))


def test_builder_sequence_of_edits_equals_clean_build_each_time(site):
    preview = builder(site)
    preview.rebuild(set())
    privacy = site / "content" / "privacy"
    for name, old, new in [
        ("2026-12-15.vi.md", "\n## ", "\nCâu thứ nhất.\n\n## "),
        ("2026-12-15.en.md", "Privacy policy", "Privacy notice"),
        ("2027-01-01.vi.md", "\n## ", "\nCâu trong bản nháp.\n\n## "),
        ("2026-12-15.vi.md", "Câu thứ nhất.", "Câu thứ hai."),
    ]:
        edit(privacy / name, old, new)
        preview.rebuild({privacy / name})
        assert tree(site / "preview") == clean(site, drafts=True), name


def test_fingerprints_from_worker_processes_match_the_parent(site):
    cached(site, jobs=2)  # pages rendered and fingerprinted in worker processes
    edit(site / "content" / "privacy" / "2026-12-15.vi.md", "\n## ", "\nMột câu mới.\n\n## ")
    report = cached(site, jobs=1)  # fingerprinted in this process
    assert 0 < report.rendered < report.pages / 2
    assert tree(site / "dist") == clean(site)
