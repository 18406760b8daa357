"""policysite.build.pipeline.build: whole builds of the shipped content and the multiversion
fixture."""

from __future__ import annotations

import datetime as dt
import gc
import re
import shutil
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from policysite.build.pipeline import build
from policysite.cli import main
from policysite.errors import PolicyError

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
MULTIVERSION = ROOT / "tests" / "fixtures" / "multiversion"
DATE = dt.date(2026, 11, 25)
FUTURE = dt.date(2027, 2, 1)
REAL_TODAY = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")).date()
FUTURE_VI = """---
title: Chính sách bảo mật
summary: Bản sắp có hiệu lực.
---

Bản sắp có hiệu lực.

## 1. Điều khoản

Khi sử dụng XIMGO, bạn đồng ý với chính sách này.
"""


def copy_site(source: Path, tmp_path: Path) -> Path:
    """A private copy of a content folder: the build writes versions.lock into it."""
    target = tmp_path / "site" / "content"
    shutil.copytree(source, target)
    return target


def run(content: Path, out: Path, *, date=DATE, drafts=False, theme=THEME):
    return build(content, theme, out, date=date, drafts=drafts, verbose=False)


def tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


@pytest.fixture
def multiversion(tmp_path: Path) -> Path:
    return copy_site(MULTIVERSION / "content", tmp_path)


def test_build_writes_every_page_of_multiversion(multiversion, tmp_path):
    out = tmp_path / "dist"
    report = run(multiversion, out)
    files = set(tree(out))
    vi, en = "chinh-sach-bao-mat", "en/privacy-policy"
    pages = {
        f"{vi}/index.html",
        f"{vi}/history/index.html",
        *(f"{vi}/{d}/index.html" for d in ("2026-01-01", "2026-06-01", "2026-11-24", "2026-12-15")),
        *(f"{vi}/{d}/diff.html" for d in ("2026-06-01", "2026-11-24", "2026-12-15")),
        f"{en}/index.html",
        f"{en}/history/index.html",
        *(f"{en}/{d}/index.html" for d in ("2026-01-01", "2026-06-01", "2026-12-15")),
        *(f"{en}/{d}/diff.html" for d in ("2026-06-01", "2026-12-15")),
        "404.html",
        "index.html",  # the site's home, and each language's
        "en/index.html",
    }
    assert pages <= files
    assert {"sitemap.xml", "feed.xml", "en/feed.xml", "policy.json", "_headers"} <= files
    assert {"consent.js", "consent.css"} <= files
    assert not any("2027-01-01" in name for name in files)  # the draft
    assert len([f for f in files if f.endswith(".html")]) == len(pages) == report.pages
    assert str(report).startswith(f"built {len(pages)} pages for 2 languages into {out} in ")
    assert re.fullmatch(r"built \d+ pages for 2 languages into \S+ in \d+\.\d\d s", str(report))


def test_build_report_verbose_lists_each_step(multiversion, tmp_path):
    report = build(multiversion, THEME, tmp_path / "dist", date=DATE, drafts=False, verbose=True)
    lines = str(report).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["load", "render", "write"]


def test_build_is_byte_identical_for_the_same_sources_and_date(multiversion, tmp_path):
    run(multiversion, tmp_path / "one")
    run(multiversion, tmp_path / "two", theme=THEME)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_build_date_switches_the_version_in_force_but_never_locks_it(multiversion, tmp_path):
    run(multiversion, tmp_path / "dist", date=dt.date(2026, 12, 15))
    page = (tmp_path / "dist" / "chinh-sach-bao-mat" / "index.html").read_text()
    assert '<time datetime="2026-12-15">' in page
    lock = (multiversion / "versions.lock").read_text()
    assert ("2026-12-15.vi.md" in lock) == (dt.date(2026, 12, 15) <= REAL_TODAY)


def test_a_previewed_future_version_stays_editable(multiversion, tmp_path, monkeypatch):
    """Preview a future date, edit the version in force then, build for today: exit 0."""
    monkeypatch.chdir(tmp_path)  # the cache folder, as a user's
    future = multiversion / "privacy" / "2027-02-01.vi.md"
    future.write_text(FUTURE_VI, "utf-8")
    args = ["build", "--content", str(multiversion), "--theme", str(THEME)]
    args += ["--out", str(tmp_path / "dist")]
    assert main([*args, "--date", FUTURE.isoformat()]) == 0
    page = (tmp_path / "dist" / "chinh-sach-bao-mat" / "index.html").read_text()
    assert "Bản sắp có hiệu lực." in page
    future.write_text(FUTURE_VI.replace("sắp có hiệu lực", "đã sửa"), "utf-8")
    assert main([*args, "--date", FUTURE.isoformat()]) == 0  # still a preview: still editable
    assert main(args) == 0
    assert "2027-02-01" not in (multiversion / "versions.lock").read_text()


def test_a_normal_build_locks_the_versions_in_force_today(multiversion, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (multiversion / "versions.lock").unlink()
    args = ["build", "--content", str(multiversion), "--theme", str(THEME)]
    assert main([*args, "--out", str(tmp_path / "dist")]) == 0
    locked = (multiversion / "versions.lock").read_text()
    assert "privacy/2026-11-24.vi.md" in locked and "privacy/2026-01-01.en.md" in locked
    assert ("privacy/2026-12-15.vi.md" in locked) == (dt.date(2026, 12, 15) <= REAL_TODAY)
    assert "2027-01-01" not in locked  # a draft
    # A no-change rebuild is skipped, and a preview of another date locks nothing more.
    assert main([*args, "--out", str(tmp_path / "dist"), "--date", "2027-06-01"]) == 0
    assert (multiversion / "versions.lock").read_text() == locked


def test_failed_build_leaves_previous_dist_untouched(multiversion, tmp_path):
    out = tmp_path / "dist"
    run(multiversion, out)
    before = tree(out)
    locked = multiversion / "privacy" / "2026-01-01.vi.md"
    locked.write_text(locked.read_text() + "\nSửa trái phép.\n")
    with pytest.raises(PolicyError) as error:
        run(multiversion, out)
    assert "2026-01-01.vi.md" in str(error.value)
    assert tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["dist", "site"]  # no staging left


def test_drafts_appear_only_with_drafts_and_are_marked(multiversion, tmp_path):
    lock_before = (multiversion / "versions.lock").read_bytes()
    run(multiversion, tmp_path / "dist", drafts=True, date=dt.date(2027, 1, 1))
    page = tmp_path / "dist" / "chinh-sach-bao-mat" / "2027-01-01" / "index.html"
    soup = BeautifulSoup(page.read_text(), "lxml")
    assert soup.select_one(".notice-draft").get_text(" ", strip=True).startswith("Bản nháp.")
    assert soup.find("meta", attrs={"name": "robots"})["content"] == "noindex"
    assert "/2027-01-01/" not in (tmp_path / "dist" / "sitemap.xml").read_text()  # no draft URL
    # A preview never records versions as published.
    assert (multiversion / "versions.lock").read_bytes() == lock_before


def test_no_page_has_inline_script_or_style(multiversion, tmp_path):
    run(multiversion, tmp_path / "dist", drafts=True)
    pages = sorted((tmp_path / "dist").rglob("*.html"))
    assert pages
    for path in pages:
        soup = BeautifulSoup(path.read_text(), "lxml")
        assert soup.find("style") is None, path
        assert soup.find(style=True) is None, path
        for script in soup.find_all("script"):
            assert script.get("src") and not script.string, path
        for tag in soup.find_all(True):
            assert not any(name.startswith("on") for name in tag.attrs), (path, tag.name)
        assert "javascript:" not in path.read_text()


def test_assets_are_named_by_content_hash(multiversion, tmp_path):
    out = tmp_path / "dist"
    run(multiversion, out)
    soup = BeautifulSoup((out / "chinh-sach-bao-mat" / "index.html").read_text(), "lxml")
    sheets = [link["href"] for link in soup.find_all("link", rel="stylesheet")]
    assert "/consent.css" in sheets
    hashed = [href for href in sheets if href.startswith("/assets/")]
    assert len(hashed) == 2
    for href in hashed:
        assert re.fullmatch(r"/assets/(style|print)\.[0-9a-f]{8}\.css", href)
        assert (out / href.lstrip("/")).is_file()
    assert soup.find("link", rel="stylesheet", media="print")["href"].startswith("/assets/print.")


def test_missing_theme_folder_is_a_clear_error(multiversion, tmp_path):
    with pytest.raises(PolicyError) as error:
        run(multiversion, tmp_path / "dist", theme=tmp_path / "no-theme")
    problem = error.value.problems[0]
    assert problem.path == tmp_path / "no-theme"
    assert problem.message == "the theme folder does not exist"
    assert "--theme" in problem.hint
    assert not (tmp_path / "dist").exists()


def test_missing_template_names_the_file(multiversion, tmp_path):
    theme = tmp_path / "theme"
    shutil.copytree(THEME, theme)
    (theme / "templates" / "history.html").unlink()
    with pytest.raises(PolicyError) as error:
        run(multiversion, tmp_path / "dist", theme=theme)
    assert [p.path for p in error.value.problems] == [theme / "templates" / "history.html"]
    assert "lacks this template" in str(error.value)


def test_template_syntax_error_names_file_and_line(multiversion, tmp_path):
    theme = tmp_path / "theme"
    shutil.copytree(THEME, theme)
    (theme / "templates" / "history.html").write_text('{% extends "base.html" %}\n{% block x %}\n')
    with pytest.raises(PolicyError) as error:
        run(multiversion, tmp_path / "dist", theme=theme)
    problem = error.value.problems[0]
    assert problem.path.name == "history.html" and problem.line == 2


def test_build_of_the_shipped_content(tmp_path):
    content = copy_site(ROOT / "content", tmp_path)
    out = tmp_path / "dist"
    run(content, out)
    page = BeautifulSoup((out / "chinh-sach-bao-mat" / "index.html").read_text(), "lxml")
    assert page.html["lang"] == "vi"
    assert "ngày 24 tháng 11 năm 2026" in page.select_one(".policy-meta").get_text()
    ids = [h["id"] for h in page.select(".policy-text h2")]
    assert "thu-thap-thong-tin-nguoi-dung" in ids
    assert (out / "en" / "privacy-policy" / "index.html").is_file()
    assert not (out / "chinh-sach-bao-mat" / "2027-01-01").exists()  # the shipped draft


def test_the_cli_main_leaves_the_process_as_it_found_it(multiversion, tmp_path, monkeypatch):
    """Only the `build` process's entry point (cli.run) turns the garbage collector off and
    skips the interpreter's teardown; `main` is also called in-process."""
    monkeypatch.chdir(tmp_path)  # the build's cache folder lives in the working folder
    arguments = ["build", "--content", str(multiversion), "--theme", str(THEME)]
    arguments += ["--out", str(tmp_path / "out")]
    assert main([*arguments, "--date", "2026-11-25", "--jobs", "1"]) == 0
    assert gc.isenabled()
    assert (tmp_path / "out" / "policy.json").is_file()


def test_the_build_command_exits_with_its_status_and_all_its_output(multiversion, tmp_path):
    command = [sys.executable, str(ROOT / "build.py"), "build", "--content", str(multiversion)]
    command += ["--theme", str(THEME), "--out", str(tmp_path / "out"), "--date", "2026-11-25", "-v"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith(f"built 19 pages for 2 languages into {tmp_path / 'out'} in ")
    assert re.search(r"^  write\s+\d\.\d{3} s$", done.stdout, re.M)  # the last line, flushed
    failed = subprocess.run(
        [*command[:3], "--content", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert failed.returncode == 1
    assert "content folder not found" in failed.stderr
