"""`consents report`: one self-contained HTML file with inline SVG charts, in the operator's
language, with the consent log's health first.

No scripts, fonts or external assets: the file can be mailed or archived as evidence and opens
offline. It is not part of the public site, so an inline <style> is fine here. Its strings are
the theme's `messages` catalog's (msgids in English, marked `_()` here for pybabel extract),
and numbers and dates are written by Babel in the report's language.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations

from policysite.collector.commands.charts import bar_chart, legend, line_chart, stacked_bars
from policysite.collector.commands.stats import Stats, Tally, iso_week
from policysite.collector.core.audit import Finding


def _(message: str) -> str:
    """Marks a msgid for pybabel extract; `Language.text` translates it."""
    return message


def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural msgid for pybabel extract; `Language.plural` translates it."""
    return singular, plural


@dataclass(frozen=True)
class Language:
    """The report's language: its translations and how it writes numbers and dates."""

    code: str
    translations: NullTranslations

    def text(self, message: str, **values: object) -> str:
        return self.translations.gettext(message).format(**values)

    def plural(self, message: tuple[str, str], count: int, **values: object) -> str:
        text = self.translations.ngettext(*message, count)
        return text.format(count=self.number(count), **values)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.code)

    def percent(self, rate: float) -> str:
        return format_percent(rate, "#,##0.0%", locale=self.code)

    def date(self, timestamp: str) -> str:
        """A received_at ("2026-12-03T…Z") as running text: "ngày 3 tháng 12 năm 2026"."""
        pattern = self.translations.gettext("MMMM d, y")  # the theme's long-date pattern
        return format_date(dt.date.fromisoformat(timestamp[:10]), pattern, locale=self.code)


NO_CHECKPOINT = _("the log has no checkpoint yet: no record was logged.")
NO_KEY = _("no public key. Give --key, or a --site whose policy.json names it.")


@dataclass(frozen=True)
class LogHealth:
    """What `consents verify` found, for the report's first section."""

    checked: bool  # False: no public key, or no log yet
    intact: bool = True
    problems: tuple[Finding, ...] = ()  # what verify found, translated when shown
    size: int | None = None  # the latest stored checkpoint's tree size
    signed_at: str | None = None
    published: int = 0  # published checkpoints given with --published, all matched if intact
    why_not: str = ""  # when not checked: NO_CHECKPOINT or NO_KEY, a msgid


STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 760px; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg { display: block; max-width: 100%; height: auto; }
.chart { overflow-x: auto; }
@media (max-width: 760px) { .chart svg { width: 720px; max-width: none; } }
@media print { .chart { overflow: visible; } .chart svg { width: 100%; max-width: 100%; } }
svg text { font: 12px system-ui, sans-serif; fill: #1d1d1f; }
.legend span { display: inline-block; margin-right: 1rem; }
.legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; }
.ok { color: #1e6b34; } .warn { color: #a4161a; }
@media print { h2 { break-after: avoid; } svg, table { break-inside: avoid; } }
"""


def _html_table(columns: list[str], rows: Iterable[tuple[str, list[str]]]) -> str:
    """A table of texts: a header row, then each row's header cell and its cells."""
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join(
        f'<tr><th scope="row">{escape(key)}</th>'
        + "".join(f"<td>{escape(cell)}</td>" for cell in cells)
        + "</tr>"
        for key, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _table(name: str, groups: dict[str, Tally], categories: list[str], language: Language) -> str:
    """Decisions and each category's acceptance rate, a row per group."""
    rates = language.percent
    return _html_table(
        [name, language.text(_("decisions")), *categories],
        (
            (key, [language.number(t.decisions), *(rates(t.rate(c)) for c in categories)])
            for key, t in groups.items()
        ),
    )


def _health(health: LogHealth, language: Language) -> str:
    """The log's section: intact or what is wrong, the latest checkpoint, published ones."""
    t = language.text
    heading = t(_("The consent log"))
    parts = [f"<h2>{escape(heading)}</h2>"]
    if not health.checked:
        why = t(_("Not checked:")) + " " + t(health.why_not)
        parts.append(f'<p class="warn">{escape(why)}</p>')
        return "".join(parts)
    if health.intact:
        verdict = t(_("Intact: every record, every stored checkpoint and every published "
                      "checkpoint checks out."))  # fmt: skip
        parts.append(f'<p class="ok"><strong>{escape(verdict)}</strong></p>')
    else:
        verdict = language.plural(
            ngettext("Not intact: {count} problem.", "Not intact: {count} problems."),
            len(health.problems),
        )
        found = (f.text(language.translations.gettext, language.number) for f in health.problems)
        items = "".join(f"<li>{escape(text)}</li>" for text in found)
        parts.append(f'<p class="warn"><strong>{escape(verdict)}</strong></p><ul>{items}</ul>')
    if health.size is not None:
        signed = language.date(health.signed_at) if health.signed_at else "?"
        time = (health.signed_at or "")[11:19]
        latest = language.plural(
            ngettext(
                "Latest checkpoint: {count} record, signed on {date} at {time} UTC.",
                "Latest checkpoint: {count} records, signed on {date} at {time} UTC.",
            ),
            health.size,
            date=signed,
            time=time,
        )
        parts.append(f"<p>{escape(latest)}</p>")
    if health.published:
        parts.append(
            "<p>"
            + escape(
                language.plural(
                    ngettext(
                        "{count} published checkpoint was compared with the log.",
                        "{count} published checkpoints were compared with the log.",
                    ),
                    health.published,
                )
            )
            + "</p>"
        )
    else:
        note = t(_("No published checkpoint was given (--published DIR): only publishing them "
                   "makes a rewritten log visible."))  # fmt: skip
        parts.append(f"<p>{escape(note)}</p>")
    return "".join(parts)


DAYS_SHOWN = 90  # past this many days, decisions are charted per ISO week
ACTIONS = {"accept_all": _("accept all"), "reject_all": _("reject all"), "custom": _("custom")}


def _over_time(stats: Stats, language: Language) -> list[str]:
    """Decisions per day (per ISO week past DAYS_SHOWN days), stacked by action, and their table."""
    t = language.text
    periods: dict[str, Counter] = stats.days
    if len(periods) > DAYS_SHOWN:
        weeks: dict[str, Counter] = {}
        for day, counts in periods.items():
            weeks.setdefault(iso_week(day), Counter()).update(counts)
        periods, title, column = weeks, t(_("Decisions per ISO week")), t(_("week"))
    else:
        title, column = t(_("Decisions per day (UTC)")), t(_("day"))
    actions = [a for a in ACTIONS if a in stats.actions] + sorted(set(stats.actions) - set(ACTIONS))
    names = [t(ACTIONS.get(a, a)) for a in actions]
    series = {
        name: [periods[p][a] for p in periods] for name, a in zip(names, actions, strict=True)
    }
    rows = (
        (period, [*(language.number(counts[a]) for a in actions), language.number(counts.total())])
        for period, counts in periods.items()
    )
    return [
        f"<h2>{escape(title)}</h2>",
        legend(names),
        stacked_bars(title, list(periods), series, language.number),
        _html_table([column, *names, t(_("all"))], rows),
    ]


def _audience(stats: Stats, language: Language, cats: list[str]) -> list[str]:
    """By language, by page, and the share of Global Privacy Control."""
    t = language.text
    gpc = language.plural(
        ngettext(
            "{count} decision was sent with Global Privacy Control on ({share} of all).",
            "{count} decisions were sent with Global Privacy Control on ({share} of all).",
        ),
        stats.gpc,
        share=language.percent(stats.gpc / stats.total),
    )
    by_language, by_page_title = t(_("By language")), t(_("By page"))
    share = language.percent
    return [
        f"<h2>{escape(by_language)}</h2>",
        bar_chart(
            by_language,
            [(code, tally.decisions / stats.total) for code, tally in stats.languages.items()],
            share,
        ),
        _table(t(_("language")), stats.languages, cats, language),
        f"<h2>{escape(by_page_title)}</h2>",
        bar_chart(by_page_title, [(p, n / stats.total) for p, n in stats.pages], share),
        _html_table(
            [t(_("page")), t(_("decisions"))],
            ((page, [language.number(count)]) for page, count in stats.pages),
        ),
        "<h2>Global Privacy Control</h2>",
        bar_chart("Global Privacy Control", [("GPC", stats.gpc / stats.total)], share),
        f"<p>{escape(gpc)}</p>",
    ]


def _changes_of_mind(
    stats: Stats, language: Language, optional: list[str], reconsent: frozenset[str] | None
) -> list[str]:
    """Withdrawals per ISO week (a category granted, then refused by the same visitor), and
    how visitors answered when asked again for a version that asks (`reconsent: true` in
    policy.json; every new version when there is no policy.json to tell)."""
    t = language.text
    title = t(_("Withdrawals per ISO week"))
    explained = t(_("A withdrawal is a decision that refuses a category the same visitor's "
                    "decision before it granted."))  # fmt: skip
    parts = [f"<h2>{escape(title)}</h2><p>{escape(explained)}</p>"]
    if stats.withdrawals:
        series = {c: [counts[c] for counts in stats.withdrawals.values()] for c in optional}
        parts += [
            legend(optional),
            stacked_bars(title, list(stats.withdrawals), series, language.number),
            _html_table(
                [t(_("week")), *optional],
                (
                    (week, [language.number(counts[c]) for c in optional])
                    for week, counts in stats.withdrawals.items()
                ),
            ),
        ]
    else:
        none = t(_("No withdrawals in this period."))
        parts.append(f"<p>{escape(none)}</p>")
    again = {
        version: counts
        for version, counts in stats.answers_again.items()
        if reconsent is None or version in reconsent
    }
    asked = t(_("Answers when asked again for a new version"))
    parts.append(f"<h2>{escape(asked)}</h2>")
    if not again:
        nobody = t(_("Nobody was asked again in this period."))
        parts.append(f"<p>{escape(nobody)}</p>")
        return parts
    actions = [a for a in ACTIONS if any(a in c for c in again.values())]
    for label, counts in again.items():
        total = sum(counts.values())
        shares = [(t(ACTIONS[a]), counts[a] / total) for a in actions]
        parts.append(bar_chart(f"{asked}: {label}", shares, language.percent))
    parts.append(
        _html_table(
            [t(_("version")), *(t(ACTIONS[a]) for a in actions)],
            ((v, [language.number(counts[a]) for a in actions]) for v, counts in again.items()),
        )
    )
    return parts


def render_report(
    stats: Stats,
    language: Language,
    health: LogHealth,
    *,
    source: str = "",
    required: frozenset[str] = frozenset({"necessary"}),
    reconsent: frozenset[str] | None = None,
) -> str:
    """Given computed stats and the log's health, return the whole HTML document. `required`
    categories are always on: their 100 % is in the tables, not in the charts. `reconsent`:
    the versions ("privacy 2027-01-01") that ask visitors again, when policy.json says."""
    t = language.text
    cats = stats.categories
    optional = [c for c in cats if c not in required]
    title = escape(t(_("Consent report")))
    summary = language.plural(ngettext("{count} decision", "{count} decisions"), stats.total)
    if stats.total:
        summary += ", " + t(
            _("from {first} to {last}"),
            first=language.date(stats.first or ""), last=language.date(stats.last or ""),
        )  # fmt: skip
    if source:
        summary += "; " + t(_("store: {source}"), source=source)
    body = [f"<h1>{title}</h1><p>{escape(summary)}.</p>", _health(health, language)]
    if not stats.total:
        nothing = t(_("No decisions in this period."))
        body.append(f"<p>{escape(nothing)}</p>")
    else:
        share = language.percent
        actions = ", ".join(
            f"{escape(t(ACTIONS.get(a, a)))} {language.number(n)} ({share(n / stats.total)})"
            for a, n in stats.actions.most_common()
        )
        decisions = t(_("Decisions"))
        per_category = t(_("Acceptance rate per category"))
        per_week = t(_("Acceptance rate per ISO week"))
        per_version = t(_("Acceptance rate per policy version"))
        overall = {t(_("all")): stats.overall}
        body += [
            f"<h2>{escape(decisions)}</h2><p>{actions}.</p>",
            *_over_time(stats, language),
            f"<h2>{escape(per_category)}</h2>",
            bar_chart(
                per_category, [(c, stats.overall.rate(c)) for c in optional], language.percent
            ),
            _table(t(_("period")), overall, cats, language),
            f"<h2>{escape(per_week)}</h2>",
            legend(optional),
            line_chart(
                per_week,
                list(stats.weeks),
                {c: [w.rate(c) for w in stats.weeks.values()] for c in optional},
                language.percent,
            ),
            _table(t(_("week")), stats.weeks, cats, language),
            *_audience(stats, language, cats),
            *_changes_of_mind(stats, language, optional, reconsent),
            f"<h2>{escape(per_version)}</h2>",
        ]
        for version, tally in stats.versions.items():
            body.append(f"<h3>{escape(version)}</h3>")
            chart = t(_("Acceptance rate for {version}"), version=version)
            rates = [(c, tally.rate(c)) for c in optional]
            body.append(bar_chart(chart, rates, language.percent))
        body.append(_table(t(_("version")), stats.versions, cats, language))
    return (
        f'<!doctype html>\n<html lang="{escape(language.code)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
