"""Docs generated from the code cannot drift: README's and docs/commands.md's command reference
is the real `--help` output (scripts/cli_reference.py through cog blocks), checked here the way
Datasette checks its docs with `cog --check`."""

from __future__ import annotations

import pytest
from cogapp import Cog
from conftest import ROOT

GENERATED = ["README.md", "docs/commands.md"]


def _cog_check(folder, names: list[str]) -> int:
    return Cog().main(["cog", "--check", *[str(folder / name) for name in names]])


def test_command_reference_is_the_real_help_output(monkeypatch):
    monkeypatch.chdir(ROOT)  # the cog blocks import scripts/cli_reference.py
    status = _cog_check(ROOT, GENERATED)
    assert status == 0, "stale command reference: run `cog -r README.md docs/commands.md`"


@pytest.mark.parametrize("name", GENERATED)
def test_a_stale_reference_is_caught(tmp_path, monkeypatch, name):
    monkeypatch.chdir(ROOT)
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    text = (ROOT / name).read_text("utf-8")
    stale = text.replace("[--drafts]", "[--draft]", 1)
    assert stale != text
    (tmp_path / name).write_text(stale, "utf-8")
    assert _cog_check(tmp_path, [name]) != 0


def test_every_command_has_its_whole_help_in_docs():
    reference = (ROOT / "docs" / "commands.md").read_text("utf-8")
    commands = ("build", "check", "serve", "new-version", "collector", "consents export",
                "consents stats", "consents report", "consents purge", "consents erase",
                "consents verify", "consents verify-receipt", "consents checkpoint")  # fmt: skip
    for command in commands:
        assert f"usage: python build.py {command} " in reference, command
