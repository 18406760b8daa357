"""Bad input through the real command line: one fixture site per mistake (Zola-style).

Each `tests/fixtures/invalid/<case>/` holds a `content/` folder and `expected.txt`, the exact
stderr of `python build.py check` run inside a copy of the case. `build` must print the same
errors, exit 1, and leave the previous dist/ untouched. Never a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sites import FIXTURES, ROOT, run_cli

INVALID = FIXTURES / "invalid"
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir())
# The one case that is about the theme: every other case uses the real default theme.
THEME = {"missing-theme": "themes/default"}


run = run_cli  # the tests below read better with the short name


@pytest.fixture
def case_dir(request, tmp_path) -> Path:
    """A copy of the case: a failed command must not touch the repository."""
    target = tmp_path / request.param
    shutil.copytree(INVALID / request.param, target)
    return target


def theme_of(case: str) -> str:
    return THEME.get(case, str(ROOT / "themes" / "default"))


def test_every_invalid_case_has_expected_output():
    assert len(CASES) >= 17
    for case in CASES:
        assert (INVALID / case / "expected.txt").is_file(), case
        assert (INVALID / case / "README.md").is_file(), case


@pytest.mark.parametrize("case_dir", CASES, indirect=True)
def test_check_prints_each_problem_with_file_line_and_fix(case_dir):
    case = case_dir.name
    result = run(
        case_dir, "check", "--content", "content", "--theme", theme_of(case), "--date", "2026-11-25"
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == (case_dir / "expected.txt").read_text("utf-8")


def error_blocks(expected: str) -> list[str]:
    """The error messages (with their hints) of a check output, without its summary line."""
    blocks: list[str] = []
    for line in expected.splitlines():
        if line.startswith("  → ") and blocks:
            blocks[-1] += "\n" + line
        elif ": error: " in line or line.startswith("error: "):
            blocks.append(line)
        else:
            blocks.append("")  # a warning or the summary: not printed by a failing build
    return [b for b in blocks if b]


@pytest.mark.parametrize("case_dir", CASES, indirect=True)
def test_build_fails_cleanly_and_keeps_the_previous_dist(case_dir):
    case = case_dir.name
    previous = case_dir / "dist" / "index.html"
    previous.parent.mkdir()
    previous.write_text("<p>the site as it was</p>", "utf-8")
    (case_dir / "dist" / "policy.json").write_text("{}", "utf-8")  # marks a previous build
    result = run(
        case_dir,
        "build",
        "--content",
        "content",
        "--theme",
        theme_of(case),
        "--out",
        "dist",
        "--date",
        "2026-11-25",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert previous.read_text("utf-8") == "<p>the site as it was</p>"
    assert sorted(p.name for p in (case_dir / "dist").iterdir()) == ["index.html", "policy.json"]
    if case == "missing-theme":
        assert "themes/default" in result.stderr and "error" in result.stderr
    else:
        for block in error_blocks((case_dir / "expected.txt").read_text("utf-8")):
            assert block in result.stderr
    assert not (case_dir / "content" / "versions.lock").exists() or case == "lock-violation"


@pytest.fixture
def multiversion(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "multiversion", tmp_path / "site")
    return tmp_path / "site"


def test_check_exits_0_on_warnings_alone(multiversion):
    result = run(
        multiversion,
        "check",
        "--content",
        "content",
        "--theme",
        str(ROOT / "themes" / "default"),
        "--date",
        "2026-11-25",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("0 error(s), 2 warning(s)\n")
    assert "content/privacy/2026-11-24.en.md: warning: missing translation" in result.stderr


def test_new_version_prints_the_files_it_created(multiversion):
    result = run(
        multiversion, "new-version", "privacy", "--effective", "2027-02-01", "--content", "content"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "created content/privacy/2027-02-01.vi.md\ncreated content/privacy/2027-02-01.en.md\n"
    )


@pytest.mark.parametrize(
    ("effective", "expected"),
    [
        (
            "2026-12-15",
            "content/privacy/2026-12-15.en.md: error: version 2026-12-15 of 'privacy' already "
            "exists\n  → edit that file, or choose another --effective date\n",
        ),
        (
            "2026-11-30",
            "content/privacy: error: --effective 2026-11-30 is not after the latest version of "
            "'privacy', 2027-01-01\n  → choose a date after 2027-01-01: each version takes "
            "effect after the previous one\n",
        ),
    ],
)
def test_new_version_refuses_a_bad_date(multiversion, effective, expected):
    result = run(
        multiversion, "new-version", "privacy", "--effective", effective, "--content", "content"
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", expected)


def test_new_version_refuses_an_impossible_date(multiversion):
    result = run(multiversion, "new-version", "privacy", "--effective", "2027-02-30")
    assert result.returncode == 2
    assert "expected a date as YYYY-MM-DD, got '2027-02-30'" in result.stderr
    assert "Traceback" not in result.stderr
