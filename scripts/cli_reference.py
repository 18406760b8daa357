"""The command reference in README.md and docs/commands.md, from the real `--help` output.

Both files hold cog blocks that call these functions; `cog -r README.md docs/commands.md`
rewrites them after a change to the command line, and tests/test_docs_generated.py runs
`cog --check` so the docs cannot drift from the code (as Datasette does).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policysite.cli import main

# Every command and action, in the order the reference shows them.
COMMANDS = [
    ["build"],
    ["check"],
    ["serve"],
    ["new-version"],
    ["collector"],
    ["consents", "export"],
    ["consents", "stats"],
    ["consents", "report"],
    ["consents", "purge"],
    ["consents", "erase"],
    ["consents", "verify"],
    ["consents", "verify-receipt"],
    ["consents", "checkpoint"],
]
WIDTH = "100"  # argparse wraps to the terminal's width: the same width on every machine


def help_text(command: list[str]) -> str:
    """What `python build.py <command> --help` prints."""
    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([*command, "--help"], prog="python build.py")
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return out.getvalue()


def synopsis() -> str:
    """One usage paragraph per command, for README's short reference."""
    lines = []
    for command in COMMANDS:
        usage = help_text(command).split("\n\n", 1)[0].removeprefix("usage: ")
        lines.append(usage.replace("\n       ", "\n"))  # continuation lines: "usage: " less
    return "```\n" + "\n".join(lines) + "\n```\n"


def reference() -> str:
    """Every command's whole `--help`, each under its own heading."""
    parts = []
    for command in COMMANDS:
        name = " ".join(command)
        usage = f"`python build.py {name} --help`:"
        parts.append(f"## {name}\n\n{usage}\n\n```\n{help_text(command)}```\n")
    return "\n".join(parts)
