"""`consents report`: its options, and what it gathers before report.py renders the page:
the counts (Store.aggregate), the site's policy.json, the report's language and the log's
health (`consents verify`, log.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policysite.collector.commands.log import add_published
from policysite.collector.commands.options import (
    add_db,
    add_group_readable,
    add_key_options,
    add_range,
    command_store,
    date_range,
    open_command_output,
)
from policysite.errors import PolicyError, Problem


def add_report_parser(actions: argparse._SubParsersAction) -> None:
    report = actions.add_parser(
        "report", help="one self-contained HTML page: the log's health first, then charts"
    )
    add_db(report)
    add_range(report)
    report.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="e.g. report.html"
    )
    report.add_argument(
        "--lang", metavar="LANG",
        help="the report's language, vi or en (default: the --site's default language)",
    )  # fmt: skip
    report.add_argument(
        "--theme", type=Path, default=Path("themes/default"), metavar="DIR",
        help="the theme whose `messages` catalogs hold the report's strings",
    )  # fmt: skip
    add_key_options(report)
    add_published(report)
    add_group_readable(report, "the report")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from policysite.collector.commands.report import render_report
    from policysite.collector.commands.stats import compute

    since, until = date_range(args)
    site = _site_policy(args.site)
    language = _report_language(args, site)
    with command_store(args) as store:
        stats = compute(store.aggregate(since, until))
        health = _log_health(args, store)
    required = frozenset(
        c["id"] for c in site.get("consent", {}).get("categories", []) if c.get("required")
    )
    reconsent = frozenset(
        f"{name} {v['version']}"
        for name, document in site.get("documents", {}).items()
        for v in document.get("versions", [])
        if v.get("reconsent")
    )
    page = render_report(
        stats, language, health, source=store.where,
        required=required or frozenset({"necessary"}), reconsent=reconsent if site else None,
    )  # fmt: skip
    with open_command_output(args.output, args.group_readable) as out:
        out.write(page)
    print(f"wrote {args.output} ({stats.total} record(s))", file=sys.stderr)
    return 0


def _site_policy(site: Path) -> dict:
    """The --site's policy.json, or {} when it has none (the report then says less)."""
    import json

    try:
        policy = json.loads((site / "policy.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return policy if isinstance(policy, dict) else {}


def _report_language(args: argparse.Namespace, site: dict):  # -> report.Language
    """--lang, else the site's default language (policy.json), else English (the msgids)."""
    from policysite.catalogs import catalog_path, load_translations
    from policysite.collector.commands.report import Language

    language = args.lang or site.get("site", {}).get("default_language") or "en"
    path = catalog_path(args.theme, language)
    if language != "en" and not path.is_file():
        known = sorted(p.name for p in (args.theme / "locale").glob("*") if p.is_dir())
        raise PolicyError(
            Problem(
                path,
                f"--lang {language}: the theme has no catalog for it",
                f"use one of {', '.join(known or ['en'])}, or add {path}",
            )
        )
    return Language(language, load_translations(args.theme, language))


def _log_health(args: argparse.Namespace, store):  # -> report.LogHealth
    """`consents verify`'s result for the report, or why it could not run."""
    from policysite.collector.commands.log import audit_store
    from policysite.collector.commands.options import log_key_text
    from policysite.collector.commands.report import NO_CHECKPOINT, NO_KEY, LogHealth

    if store.latest_checkpoint() is None:
        return LogHealth(False, why_not=NO_CHECKPOINT)
    try:
        log_key_text(args)
    except PolicyError:
        return LogHealth(False, why_not=NO_KEY)
    report = audit_store(args, store)
    return LogHealth(
        True,
        intact=report.intact,
        problems=tuple(report.findings),
        size=report.latest,
        signed_at=report.signed_at,
        published=report.published,
    )
