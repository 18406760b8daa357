"""policysite.build.output: which --out folders a build may replace, and how it swaps them in."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policysite.build import output
from policysite.build.incremental import Builder
from policysite.build.pipeline import build
from policysite.errors import PolicyError

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
DATE = dt.date(2026, 11, 25)
HINT = "  → pass a new or empty folder with --out (for example --out dist)"


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    """A project folder (content/ and themes/), the working folder of the build."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "tests" / "fixtures" / "multiversion" / "content", root / "content")
    shutil.copytree(THEME, root / "themes" / "default")
    monkeypatch.chdir(root)
    return root


def refusal(out: Path, why: str) -> str:
    return (
        f"{out}: error: refusing to use this as the output folder: it {why}; the build "
        f"replaces the whole folder\n{HINT}"
    )


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def tree(folder: Path) -> dict[str, bytes]:
    return {p: (folder / p).read_bytes() for p in listing(folder) if (folder / p).is_file()}


def run_build(out: Path) -> None:
    build(Path("content"), Path("themes/default"), out, date=DATE, cache_dir=None)


@pytest.mark.parametrize("out", [".", ".."])
def test_build_refuses_the_working_folder_and_its_parents(site, out):
    before, names = tree(site), listing(site)
    with pytest.raises(PolicyError) as error:
        run_build(Path(out))
    why = "is the folder you run the command from, or one of its parents"
    assert str(error.value) == refusal(Path(out), why)
    assert tree(site) == before  # nothing written: versions.lock as it was, no staging folder
    assert listing(site) == names  # no empty folder either


@pytest.mark.parametrize(
    "out, folder",
    [
        ("content", "content"),
        ("content/dist", "content"),
        ("content/privacy", "content"),
        ("themes", "themes/default"),
        ("themes/default", "themes/default"),
        ("themes/default/static/out", "themes/default"),
    ],
)
def test_build_refuses_the_content_and_theme_folders_and_what_they_hold(site, out, folder):
    before = listing(site)
    with pytest.raises(PolicyError) as error:
        run_build(Path(out))
    why = f"is, holds or sits inside {folder}, which the build reads"
    assert str(error.value) == refusal(Path(out), why)
    assert listing(site) == before


def test_build_refuses_a_git_checkout_and_a_folder_it_did_not_build(site):
    (site / "repo" / ".git").mkdir(parents=True)
    lock = (site / "content" / "versions.lock").read_bytes()
    with pytest.raises(PolicyError) as error:
        run_build(Path("repo"))
    assert str(error.value) == refusal(Path("repo"), "holds a git repository (.git)")
    (site / "mine").mkdir()
    (site / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(PolicyError) as error:
        run_build(Path("mine"))
    why = "is not a folder policysite built (it has no policy.json)"
    assert str(error.value) == refusal(Path("mine"), why)
    assert (site / "mine" / "notes.txt").read_text() == "keep me"
    assert (site / "content" / "versions.lock").read_bytes() == lock


def test_build_fills_an_empty_folder_and_replaces_its_own_output(site):
    (site / "dist").mkdir()
    run_build(Path("dist"))
    first = tree(site / "dist")
    assert "policy.json" in first
    (site / "dist" / "stale.html").write_text("from an older build")
    run_build(Path("dist"))
    assert tree(site / "dist") == first
    assert sorted(p.name for p in site.iterdir()) == ["content", "dist", "themes"]


def test_cli_build_out_dot_exits_1_and_deletes_nothing(site):
    before = listing(site)
    result = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "build", "--out", ".", "--date", "2026-11-25"],
        cwd=site,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    why = "is the folder you run the command from, or one of its parents"
    assert result.stderr == (
        f"{refusal(Path('.'), why)}\n1 error(s), 0 warning(s)\nbuild failed: . was left as it was\n"
    )
    assert listing(site) == before


def test_serve_preview_refuses_a_folder_it_did_not_build(site):
    (site / "var").mkdir()
    (site / "var" / "notes.txt").write_text("keep me")
    builder = Builder(Path("content"), Path("themes/default"), Path("var"), date=DATE, drafts=True)
    with pytest.raises(PolicyError) as error:
        builder.rebuild()
    why = "is not a folder policysite built (it has no policy.json)"
    assert str(error.value) == refusal(Path("var"), why)
    assert listing(site / "var") == ["notes.txt"]


def make_tree(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "policy.json").write_text(text)
    return folder


def test_exchange_swaps_two_trees_in_one_call(tmp_path):
    a, b = make_tree(tmp_path / "a", "A"), make_tree(tmp_path / "b", "B")
    assert output.exchange(a, b) is True  # Linux: renameat2(RENAME_EXCHANGE) exists here
    assert (a / "policy.json").read_text() == "B"
    assert (b / "policy.json").read_text() == "A"


@pytest.mark.parametrize("atomic", [True, False], ids=["exchange", "two-renames"])
def test_swap_leaves_the_new_tree_at_out_and_the_old_one_nowhere(tmp_path, atomic):
    out = make_tree(tmp_path / "dist", "old")
    stage = make_tree(tmp_path / ".dist.new-1", "new")
    output._swap(stage, out, atomic=atomic)
    assert (out / "policy.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["dist"]


def test_swap_into_a_missing_folder_renames_the_stage(tmp_path):
    stage = make_tree(tmp_path / ".dist.new-1", "new")
    output._swap(stage, tmp_path / "dist")
    assert (tmp_path / "dist" / "policy.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["dist"]
