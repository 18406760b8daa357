"""`consents stats`: acceptance rate per category, overall, per policy version and per ISO week.

A rate counts decisions (records), not visitors: a visitor who changes their mind counts twice,
which is what a consent log records. Weeks are ISO weeks of the UTC receive time. The database
does the counting (Store.aggregate); this module adds its groups up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from policysite.collector.core.store import Aggregate


@dataclass
class Tally:
    """Decisions in one group, and how many granted each category."""

    decisions: int = 0
    granted: Counter = field(default_factory=Counter)

    def add(self, choices: dict[str, bool]) -> None:
        self.decisions += 1
        for category, value in choices.items():
            if value:
                self.granted[category] += 1

    def rate(self, category: str) -> float:
        return self.granted[category] / self.decisions if self.decisions else 0.0


@dataclass
class Stats:
    total: int = 0
    first: str | None = None  # received_at of the oldest record counted
    last: str | None = None
    categories: list[str] = field(default_factory=list)  # most granted first
    actions: Counter = field(default_factory=Counter)
    overall: Tally = field(default_factory=Tally)
    versions: dict[str, Tally] = field(default_factory=dict)  # "privacy 2026-11-24"
    weeks: dict[str, Tally] = field(default_factory=dict)  # "2026-W48"
    days: dict[str, Counter] = field(default_factory=dict)  # "2026-11-25": decisions by action
    languages: dict[str, Tally] = field(default_factory=dict)
    pages: list[tuple[str, int]] = field(default_factory=list)  # most frequent first
    gpc: int = 0  # decisions sent with Global Privacy Control on
    withdrawals: dict[str, Counter] = field(default_factory=dict)  # week: refusals by category
    answers_again: dict[str, Counter] = field(default_factory=dict)  # version: actions


@lru_cache(maxsize=4096)
def iso_week(day: str) -> str:
    """Given "2026-11-25", return "2026-W48"."""
    year, week, _ = dt.date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def compute(aggregate: Aggregate) -> Stats:
    """Add up the store's grouped counts (Store.aggregate) along each dimension."""
    stats = Stats()
    groups = {}  # (day, language, version): the Tallies it adds to
    for day, language, document, version, action, gpc, count, first, last in aggregate.decisions:
        key = (day, language, f"{document} {version}")
        tallies = groups.get(key)
        if tallies is None:
            tallies = groups[key] = [
                stats.overall,
                stats.versions.setdefault(key[2], Tally()),
                stats.weeks.setdefault(iso_week(day), Tally()),
                stats.languages.setdefault(language, Tally()),
            ]
        for tally in tallies:
            tally.decisions += count
        stats.total += count
        stats.actions[action] += count
        stats.days.setdefault(day, Counter())[action] += count
        stats.gpc += count if gpc else 0
        stats.first = min(stats.first or first, first)
        stats.last = max(stats.last or last, last)
    for day, language, document, version, category, granted in aggregate.grants:
        if category not in stats.overall.granted:
            stats.categories.append(category)
        for tally in groups[(day, language, f"{document} {version}")]:
            tally.granted[category] += granted
    stats.pages = [(page or "", count) for page, count in aggregate.pages]
    for day, category, count in aggregate.withdrawals:
        stats.withdrawals.setdefault(iso_week(day), Counter())[category] += count
    for document, version, action, count in aggregate.answers_again:
        stats.answers_again.setdefault(f"{document} {version}", Counter())[action] += count
    stats.withdrawals = dict(sorted(stats.withdrawals.items()))
    stats.answers_again = dict(sorted(stats.answers_again.items()))
    # Most granted first: required categories (always 100%) lead, as in the banner.
    stats.categories.sort(key=lambda c: (-stats.overall.granted[c], c))
    stats.versions = dict(sorted(stats.versions.items()))
    stats.weeks = dict(sorted(stats.weeks.items()))
    stats.days = dict(sorted(stats.days.items()))
    stats.languages = dict(sorted(stats.languages.items()))
    return stats


def as_dict(stats: Stats) -> dict:
    def group(tally: Tally) -> dict:
        return {
            "decisions": tally.decisions,
            "rates": {c: round(tally.rate(c), 4) for c in stats.categories},
        }

    return {
        "total": stats.total,
        "first": stats.first,
        "last": stats.last,
        "actions": dict(stats.actions.most_common()),
        "categories": {
            c: {
                "granted": stats.overall.granted[c],
                "decisions": stats.overall.decisions,
                "rate": round(stats.overall.rate(c), 4),
            }
            for c in stats.categories
        },
        "versions": {name: group(tally) for name, tally in stats.versions.items()},
        "weeks": {name: group(tally) for name, tally in stats.weeks.items()},
    }


def format_json(stats: Stats) -> str:
    return json.dumps(as_dict(stats), indent=2, ensure_ascii=False)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def format_text(stats: Stats) -> str:
    if not stats.total:
        return "No consent decisions recorded in this period."
    lines = [
        f"{stats.total} consent decision(s), {stats.first} … {stats.last} (UTC)",
        "",
        "Actions: "
        + ", ".join(
            f"{action} {n} ({_percent(n / stats.total)})"
            for action, n in stats.actions.most_common()
        ),
        "",
        "Acceptance rate per category",
    ]
    overall = stats.overall
    lines += _table(
        ["category", "granted", "decisions", "rate"],
        [
            [c, str(overall.granted[c]), str(overall.decisions), _percent(overall.rate(c))]
            for c in stats.categories
        ],
    )
    for title, name, groups in (
        ("Per policy version", "version", stats.versions),
        ("Per ISO week (UTC)", "week", stats.weeks),
    ):
        lines += ["", title]
        lines += _table(
            [name, "decisions", *stats.categories],
            [
                [key, str(t.decisions), *(_percent(t.rate(c)) for c in stats.categories)]
                for key, t in groups.items()
            ],
        )
    return "\n".join(lines)
