"""README.md shows real commands: each one parses with the real CLI, so the docs cannot drift."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from policysite.cli import make_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _code_blocks(text: str) -> list[str]:
    """Shell code blocks (```, ```sh, ```bash), fences paired in order."""
    blocks: list[str] = []
    language, lines = None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
                continue
            if language in ("", "sh", "bash"):
                blocks.append("\n".join(lines) + "\n")
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def _commands(path: Path) -> list[str]:
    """Concrete `python build.py …` lines (not the synopsis with [options] or a|b)."""
    found = []
    for block in _code_blocks(path.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            match = re.search(r"python build\.py (.*)", line)
            if not match or re.search(r"[\[\]|…<>`]|YYYY", match.group(1)):
                continue
            found.append(match.group(1).split("&&")[0].strip())
    return found


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    first_block = _code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))[0]
    lines = [line for line in first_block.splitlines() if line.strip()]
    assert lines == ["pip install -e . && python build.py serve", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    ("doc", "command"),
    [(path.name, command) for path in DOCS for command in _commands(path)],
)
def test_documented_command_parses_with_the_real_cli(doc, command):
    args = make_parser().parse_args(shlex.split(command))
    assert callable(args.handler), f"{doc}: {command}"


def test_docs_show_every_command():
    shown = {command.split()[0] for path in DOCS for command in _commands(path)}
    assert {"build", "check", "serve", "new-version", "collector", "consents"} <= shown
