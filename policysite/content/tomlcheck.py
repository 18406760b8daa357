"""A small toolkit for validating a parsed TOML file with precise messages (MkDocs style).

tomllib keeps no positions, so `TomlSource` finds the line of a key or table header in the
text, and `Checker` collects every problem with that line before anything is raised.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from policysite.errors import ProblemCollector

DOCS = "see docs/content-model.md"


def expected(choices: tuple[str, ...] | list[str], received: object) -> str:
    """MkDocs-style 'Expected one of: … but received: …'."""
    return f"Expected one of: {', '.join(choices)} but received: {received!r}"


def did_you_mean(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f"did you mean {close[0]!r}?" if close else ""


class TomlSource:
    """site.toml's text, to point messages at a line (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(
        self, key: str, section: str | None = None, *, after: int | None = None
    ) -> int | None:
        """The line of `key = …` in the table that starts after line `after` (or after the
        `[section]` header, or at the top); else that table's first line."""
        start = after if after is not None else self.header_line(section) if section else 0
        if start is None:
            return None
        pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
        for number, line in enumerate(self.lines[start:], start + 1):
            if line.lstrip().startswith("["):
                break
            if pattern.match(line):
                return number
        return start or None

    def line_of_value(self, key: str, value: str) -> int | None:
        """The first line that reads `key = "value"`: finds one table of an array of tables."""
        pattern = re.compile(rf'^\s*{re.escape(key)}\s*=\s*"{re.escape(value)}"')
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return number
        return None

    def header_line(self, section: str) -> int | None:
        pattern = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}\s*\]\]?")
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return number
        return None


class Checker:
    """Validates one parsed site.toml, collecting problems."""

    def __init__(self, source: TomlSource, problems: ProblemCollector) -> None:
        self.source = source
        self.problems = problems

    def error(self, message: str, hint: str = "", line: int | None = None) -> None:
        self.problems.error(self.source.path, message, hint or DOCS, line)

    def unknown_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        section = where.strip("[]") if where.startswith("[") else None
        for key in table:
            if key not in allowed:
                self.error(
                    f"unknown key {key!r} in {where}. {expected(allowed, key)}",
                    did_you_mean(key, allowed) or f"remove {key!r}",
                    self.source.line_of(key, section),
                )

    def string(
        self, table: dict[str, Any], key: str, where: str, section: str | None = None
    ) -> str | None:
        """A required non-empty string, or None after reporting why not."""
        value = table.get(key)
        if value is None:
            self.error(
                f"{where} is missing {key!r}",
                f'add {key} = "…"',
                self.source.header_line(section) if section else None,
            )
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(
                f"{key!r} in {where} must be a non-empty string, got {value!r}",
                line=self.source.line_of(key, section),
            )
            return None
        return value.strip()

    def text(
        self, table: dict[str, Any], key: str, where: str, section: str, languages: tuple[str, ...]
    ) -> dict[str, str] | None:
        """A required text: one string for every language, or a table of one per language
        (`name = { vi = "…", en = "…" }`). Returns language -> text, or None after reporting."""
        value = table.get(key)
        line = self.source.line_of(key, section)
        example = ", ".join(f'{lang} = "…"' for lang in languages)
        if value is None:
            self.error(
                f"{where} is missing {key!r}",
                f'add {key} = "…" (or {key} = {{ {example} }})',
                self.source.header_line(section),
            )
            return None
        if isinstance(value, str) and value.strip():
            return dict.fromkeys(languages, value.strip())
        if not isinstance(value, dict):
            self.error(
                f"{key!r} in {where} must be a non-empty string or a text per language, "
                f"got {value!r}",
                f"write {key} = {{ {example} }}",
                line,
            )
            return None
        return self.language_table(value, f"{key!r} in {where}", languages, line, key)

    def language_table(
        self,
        value: dict[str, Any],
        subject: str,
        languages: tuple[str, ...],
        line: int | None,
        key: str,
    ) -> dict[str, str] | None:
        """`{ vi = "…", en = "…" }`: a non-empty text for each of `languages` and no other.
        `subject` names the value in messages ("'purpose' of cookie '_ga'")."""
        example = ", ".join(f'{lang} = "…"' for lang in languages)
        texts: dict[str, str] = {}
        for language in value:
            if language not in languages:
                self.error(
                    f"{subject} has an unknown language. {expected(languages, language)}",
                    line=line,
                )
        for language in languages:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                self.error(
                    f"{subject} has no {language} text", f"write {key} = {{ {example} }}", line
                )
            else:
                texts[language] = text.strip()
        return texts if len(texts) == len(languages) else None
