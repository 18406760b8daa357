"""`build` through the real command line: it reports what `check` reports, and a mistake in
the theme is a message with the template's file and line, never a traceback."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sites import FIXTURES, ROOT, run_cli

THEME = ROOT / "themes" / "default"
FAILED = "build failed: dist was left as it was\n"


run = run_cli  # the tests below read better with the short name


def build(cwd: Path, *extra: str, theme: Path = THEME) -> subprocess.CompletedProcess:
    args = ["build", "--content", "content", "--theme", str(theme), "--out", "dist"]
    return run(cwd, *args, "--date", "2026-11-25", *extra)


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# --- what check reports -----------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_build_fails_on_check_errors_with_checks_messages_and_keeps_dist(tmp_path, jobs):
    case = copy(FIXTURES / "invalid" / "broken-links", tmp_path / "case")
    expected = (case / "expected.txt").read_text("utf-8")
    links = case / "content" / "privacy" / "2026-11-24.vi.md"
    broken = links.read_text("utf-8")
    links.write_text(broken.replace("(#thu-thap)", "(#thu-thap-thong-tin-nguoi-dung)"), "utf-8")
    links.write_text(
        links.read_text("utf-8").replace("/chinh-sach-bao-mat/lich-su/", "/chinh-sach-bao-mat/"),
        "utf-8",
    )
    first = build(case, "--jobs", jobs)
    assert first.returncode == 0, first.stderr
    before = tree(case / "dist")
    (case / "content" / "versions.lock").unlink()  # as if the good text had never been built
    links.write_text(broken, "utf-8")
    result = build(case, "--jobs", jobs)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == expected + FAILED
    assert tree(case / "dist") == before
    assert not (case / "content" / "versions.lock").exists()
    assert sorted(p.name for p in case.iterdir()) == [
        ".policysite-cache",
        "README.md",
        "content",
        "dist",
        "expected.txt",
    ]


def test_build_prints_checks_warnings_and_goes_on_also_when_up_to_date(tmp_path):
    site = copy(FIXTURES / "multiversion", tmp_path / "site")
    checked = run(
        site, "check", "--content", "content", "--theme", str(THEME), "--date", "2026-11-25"
    )
    assert checked.returncode == 0 and checked.stderr.endswith("0 error(s), 2 warning(s)\n")
    warnings = checked.stderr.removesuffix("0 error(s), 2 warning(s)\n")
    assert "2026-12-15.en.md:5: warning: stale translation" in warnings
    first = build(site)
    assert (first.returncode, first.stderr) == (0, warnings)
    assert first.stdout.startswith("built ")
    again = build(site)  # skipped by the manifest, the warnings still shown
    assert (again.returncode, again.stderr) == (0, warnings)
    assert again.stdout.startswith("dist is up to date: ")


def test_build_with_drafts_also_checks_the_drafts(tmp_path):
    site = copy(FIXTURES / "multiversion", tmp_path / "site")
    draft = site / "content" / "privacy" / "2027-01-01.vi.md"
    draft.write_text(draft.read_text("utf-8") + "\n[sai](/khong-co/)\n", "utf-8")
    assert build(site).returncode == 0  # a publishing build leaves drafts out
    result = build(site, "--drafts")
    assert result.returncode == 1
    assert f"content/privacy/2027-01-01.vi.md:{len(draft.read_text().splitlines())}: error: " in (
        result.stderr
    )
    assert "broken link '/khong-co/': no such page on the site" in result.stderr


# --- mistakes in the theme --------------------------------------------------------------------


def many_versions(site: Path) -> None:
    """Enough upcoming versions for a build with --jobs 2 to render in worker processes."""
    for month in range(2, 8):
        date = f"2027-{month:02d}-01"
        body = f"\nPhiên bản {date}.\n\n## 1. Điều khoản\n\nNội dung {month}.\n"
        vi = f'---\ntitle: "Chính sách bảo mật"\nsummary: "Bản {date}."\n---\n{body}'
        (site / "content" / "privacy" / f"{date}.vi.md").write_text(vi, "utf-8")
        sha = hashlib.sha256(body.encode()).hexdigest()
        front = f'title: "Privacy policy"\nsummary: "Version {date}."\nsource_sha256: {sha}'
        en = f"---\n{front}\n---\n\nVersion {date}.\n"
        (site / "content" / "privacy" / f"{date}.en.md").write_text(en, "utf-8")


def theme_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    theme = copy(THEME, tmp_path / "theme")
    template = theme / "templates" / name
    text = template.read_text("utf-8")
    assert old in text
    template.write_text(text.replace(old, new, 1), "utf-8")
    return theme


def line_of(theme: Path, name: str, text: str) -> int:
    lines = (theme / "templates" / name).read_text("utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(
    ("name", "old", "new", "message", "hint"),
    [
        (
            "policy.html",
            "{{ title }}",
            "{{ version.nope.deeper }}",
            "undefined value: 'policysite.model.Version object' has no attribute 'nope'",
            "correct the name: this page's template context has no such value",
        ),
        (
            "history.html",
            "{% block content %}",
            '{% block content %}{% include "missing.html" %}',
            "template 'missing.html' not found: {templates}/missing.html does not exist",
            "create {templates}/missing.html, or correct the name in the {{% include %}} or "
            "{{% extends %}}",
        ),
        (
            "diff.html",
            '{% extends "base.html" %}',
            '{% extends "nobase.html" %}',
            "template 'nobase.html' not found: {templates}/nobase.html does not exist",
            "create {templates}/nobase.html, or correct the name in the {{% include %}} or "
            "{{% extends %}}",
        ),
    ],
)
def test_a_template_mistake_names_file_and_line_without_traceback(
    tmp_path, jobs, name, old, new, message, hint
):
    site = copy(FIXTURES / "multiversion", tmp_path / "site")
    many_versions(site)
    assert build(site, "--jobs", jobs).returncode == 0
    before = tree(site / "dist")
    theme = theme_with(tmp_path, name, old, new)
    result = build(site, "--jobs", jobs, theme=theme)
    templates = theme / "templates"
    line = line_of(theme, name, new)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    first, arrow, *rest = result.stderr.splitlines()
    assert first.startswith(
        f"{templates / name}:{line}: error: {message.format(templates=templates)}"
    )
    assert first.endswith(".html)")  # "(while making <the page's file>)"
    assert arrow == "  → " + hint.format(templates=templates)
    assert rest == ["1 error(s), 0 warning(s)", FAILED.strip()]
    assert tree(site / "dist") == before


def test_a_template_syntax_error_names_file_and_line(tmp_path):
    site = copy(FIXTURES / "multiversion", tmp_path / "site")
    theme = theme_with(tmp_path, "toc.html", "{% for", "{% if %}\n{% for")
    result = build(site, theme=theme)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = line_of(theme, "toc.html", "{% if %}")
    assert result.stderr.startswith(
        f"{theme / 'templates' / 'toc.html'}:{line}: error: Expected an expression, got "
        "'end of statement block'\n"
    )


# --- a closed pipe ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_records(tmp_path_factory) -> str:
    import datetime as dt

    from collector_fixtures.support import make_record

    from policysite.collector.core.store import open_store

    db = str(tmp_path_factory.mktemp("pipe") / "consents.sqlite3")
    store = open_store(db)
    start = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    times = (start + dt.timedelta(seconds=i) for i in range(3000))  # far beyond a pipe's buffer
    store.insert_batch([make_record(t.strftime("%Y-%m-%dT%H:%M:%S.000000Z")) for t in times])
    store.close()
    return db


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_into_a_pipe_closed_early_exits_quietly(tmp_path, many_records, fmt):
    command = [sys.executable, str(ROOT / "build.py"), "consents", "export", "--db", many_records]
    export = subprocess.Popen(
        [*command, "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    assert export.stdout is not None and export.stderr is not None
    first = export.stdout.readline()  # what `head -1` reads, then it closes the pipe
    export.stdout.close()
    errors = export.stderr.read().decode()
    assert export.wait(timeout=60) == 141
    assert errors == ""
    assert first.startswith(b"received_at," if fmt == "csv" else b'{"received_at":')
