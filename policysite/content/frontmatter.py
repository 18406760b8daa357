"""Front matter: the `---` YAML `---` block at the top of a version's Markdown file.

Parsing keeps each key's line, so every message about a key points at it. What the keys
mean and which are allowed is content.py's business (docs/content-model.md, *Front matter*).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policysite.errors import ProblemCollector

FENCE = "---"
FRONT_MATTER_EXAMPLE = '---\ntitle: "Chính sách bảo mật"\n---'
# libyaml parses front matter several times faster. Its error messages differ from PyYAML's,
# so a document it rejects is parsed again by PyYAML, whose message the editor sees.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class FrontMatter:
    """Parsed front matter and where each key is, for messages that point at a line."""

    data: dict[str, Any]
    lines: dict[str, int]  # key -> 1-based line in the file
    text: str  # the YAML between the fences, which starts on line 2
    body: str
    body_line: int


def parse_front_matter(path: Path, text: str, problems: ProblemCollector) -> FrontMatter | None:
    """Split `---` YAML `---` from the body and parse it, keeping each key's line."""
    lines = text.split("\n")
    if lines[0].rstrip() != FENCE:
        problems.error(
            path,
            "the file does not start with front matter",
            f"begin the file with a '---' line, the front matter, and a closing '---' line: "
            f"{FRONT_MATTER_EXAMPLE!r}",
            1,
        )
        return None
    close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in (FENCE, "...")), None)
    if close is None:
        problems.error(
            path,
            "the front matter is never closed",
            "add a '---' line after the front matter, before the text",
            1,
        )
        return None
    yaml_text = "\n".join(lines[1:close])
    try:
        node, data = _parse_yaml(yaml_text, FAST_LOADER)
    except yaml.YAMLError:
        node, data = None, None  # parsed again below, for the pure-Python parser's message
    try:
        if data is None:
            node, data = _parse_yaml(yaml_text, yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        problems.error(
            path,
            f"invalid YAML in front matter: {problem}",
            "fix the YAML; quote text that contains ': ' or starts with a special character, "
            'e.g. title: "Điều khoản: phạm vi"',
            mark.line + 2 if mark else 1,
        )
        return None
    if not isinstance(data, dict):
        problems.error(
            path,
            f"front matter must be 'key: value' lines, got {type(data).__name__}",
            f"write it as {FRONT_MATTER_EXAMPLE!r}",
            2,
        )
        return None
    key_lines: dict[str, int] = {}
    for key_node, _ in node.value if node is not None else ():
        key, line = str(key_node.value), key_node.start_mark.line + 2
        if key in key_lines:
            problems.error(
                path,
                f"front-matter key {key!r} appears twice (first on line {key_lines[key]})",
                "keep one of them",
                line,
            )
        key_lines.setdefault(key, line)
    body = "\n".join(lines[close + 1 :])
    return FrontMatter(data, key_lines, "\n".join(lines[1:close]), body, close + 2)


def _parse_yaml(text: str, loader_class: type) -> tuple[Any, Any]:
    """The YAML document's node (for key lines) and its data ({} when empty)."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else {}
    finally:
        loader.dispose()


def front_matter_line(path: Path, key: str) -> int:
    """The line of `key:` in a file's front matter, or 1 (the opening `---`)."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    with path.open(encoding="utf-8", errors="replace") as fp:
        for number, line in enumerate(fp, 1):
            if number > 1 and line.rstrip() == "---":
                break
            if pattern.match(line):
                return number
    return 1
