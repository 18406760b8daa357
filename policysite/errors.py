"""User-facing errors.

Every mistake an editor or operator can make is reported as a `Problem` (file, line, what is
wrong, what to do). Loaders collect problems and raise one `PolicyError` at the end, so an
editor with three mistakes sees three messages in one run (the MkDocs habit). The CLI prints
`PolicyError` without a traceback and exits 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple


class Problem(NamedTuple):
    """One thing wrong with the input, located as precisely as we can.

    (A NamedTuple, not a dataclass: every CLI run imports this module, and dataclasses
    costs a no-change rebuild ~7 ms.)"""

    path: Path | None
    message: str
    hint: str = ""
    line: int | None = None
    severity: str = "error"  # "error" stops a build; "warning" is only reported by `check`

    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        where = self.location()
        text = (
            f"{where}: {self.severity}: {self.message}"
            if where
            else f"{self.severity}: {self.message}"
        )
        return f"{text}\n  → {self.hint}" if self.hint else text


class PolicyError(Exception):
    """One or more user mistakes. The CLI prints them all and exits 1."""

    def __init__(self, problems: Iterable[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[PolicyError], tuple[list[Problem]]]:
        """Pickled with its problems, not its text: a render worker's error reaches the
        build with each file and line (policysite.build.parallel)."""
        return (PolicyError, (self.problems,))


class ProblemCollector:
    """Gather problems while loading; raise them all at once with `raise_if_errors()`."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def error(
        self, path: Path | None, message: str, hint: str = "", line: int | None = None
    ) -> None:
        self.add(Problem(path, message, hint, line))

    def warning(
        self, path: Path | None, message: str, hint: str = "", line: int | None = None
    ) -> None:
        self.add(Problem(path, message, hint, line, severity="warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise PolicyError(self.errors)
