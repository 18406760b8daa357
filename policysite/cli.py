"""The command line. `python build.py` and the `policysite` script both land here.

Each subcommand is a thin wrapper: parse arguments, call one function of the package, print.
User mistakes arrive as `PolicyError` and are printed without a traceback, exit status 1
(docs/ARCHITECTURE.md, *Rules every command keeps*).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from policysite.arguments import iso_date
from policysite.errors import PolicyError, Problem

# --- build, check, new-version ----------------------------------------------------------


def _add_sources(p: argparse.ArgumentParser, *, theme: bool = True) -> None:
    """--content and --theme, which every command that reads the sources takes."""
    p.add_argument(
        "--content", type=Path, default=Path("content"), metavar="DIR",
        help="the sources: site.toml, <document>/<date>.<lang>.md (default: content)",
    )  # fmt: skip
    if theme:
        p.add_argument(
            "--theme", type=Path, default=Path("themes/default"), metavar="DIR",
            help="templates, static files and catalogs (default: themes/default)",
        )  # fmt: skip


def _add_date(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--date", type=iso_date, metavar="YYYY-MM-DD",
        help=f"{what} as if today were this day in the site's time zone (never locks a version)",
    )  # fmt: skip


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help="build the static site into --out",
        description="Build the site into --out, replacing it whole only when the build succeeds. "
        "Runs every check of `check`: errors stop the build (exit 1), warnings are printed.",
    )  # fmt: skip
    _add_sources(p)
    p.add_argument(
        "--out", type=Path, default=Path("dist"), metavar="DIR",
        help="the folder to build into (default: dist)",
    )  # fmt: skip
    _add_date(p, "build")
    p.add_argument("--drafts", action="store_true", help="include draft versions")
    p.add_argument("-v", "--verbose", action="store_true", help="print each step's time")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="render with N processes (default: every core; 1 renders in this process)",
    )
    p.set_defaults(handler=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    """Build; print what `check` would warn about, then the report. On errors, print them
    and every warning as `check` does, and say that --out was left as it was."""
    from policysite.build.pipeline import build

    try:
        report = build(
            content_dir=args.content,
            theme_dir=args.theme,
            out_dir=args.out,
            date=args.date,
            drafts=args.drafts,
            verbose=args.verbose,
            jobs=args.jobs,
        )
    except PolicyError as error:
        _print_problems(error.problems)
        print(f"build failed: {args.out} was left as it was", file=sys.stderr)
        return 1
    for warning in report.warnings:
        print(warning, file=sys.stderr)
    print(report)
    return 0


def _print_problems(problems: Sequence[Problem]) -> None:
    """Each problem, then the count line `check` ends with."""
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = sum(p.severity == "error" for p in problems)
    print(f"{errors} error(s), {len(problems) - errors} warning(s)", file=sys.stderr)


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="report content problems; exit 1 on errors",
        description="Report broken links and anchors, missing or stale translations, front-matter "
        "mistakes, text that is not NFC and edited published versions, with file and line.",
    )  # fmt: skip
    _add_sources(p)
    _add_date(p, "check")
    p.set_defaults(handler=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    from policysite.build.check import check

    problems = check(content_dir=args.content, theme_dir=args.theme, date=args.date)
    _print_problems(problems)
    return 1 if any(p.severity == "error" for p in problems) else 0


def _add_new_version(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new-version", help="start a new version of a document")
    p.add_argument("document", help="document folder under content/, e.g. privacy")
    p.add_argument(
        "--effective", type=iso_date, required=True, metavar="YYYY-MM-DD",
        help="the day the new version takes effect",
    )  # fmt: skip
    _add_sources(p, theme=False)
    p.set_defaults(handler=_run_new_version)


def _run_new_version(args: argparse.Namespace) -> int:
    from policysite.content.newversion import new_version

    for path in new_version(args.content, args.document, args.effective):
        print(f"created {path}")
    return 0


# --- serve --------------------------------------------------------------------------------


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="preview with drafts, live reload and the collector")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--db", default="var/consents.sqlite3", metavar="PATH_OR_URL",
        help="the collector's store: a SQLite file or a postgresql:// URL "
        "(default: var/consents.sqlite3)",
    )  # fmt: skip
    _add_sources(p)
    p.add_argument(
        "--out", type=Path, default=Path("var/preview"), metavar="DIR",
        help="where the preview is built (default: var/preview)",
    )  # fmt: skip
    _add_date(p, "preview")
    p.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from policysite.serve.server import serve

    serve(args)
    return 0


# --- collector, consents ------------------------------------------------------------------


def _add_collector(sub: argparse._SubParsersAction) -> None:
    from policysite.collector.commands.cli import add_collector_parser, add_consents_parser

    add_collector_parser(sub)
    add_consents_parser(sub)


# ------------------------------------------------------------------------------------------


BUILD_COMMANDS = ("build", "check", "serve", "new-version")


def program_name() -> str:
    """How the user called us, for usage lines: `python build.py` or `policysite`."""
    return "python build.py" if Path(sys.argv[0]).name == "build.py" else "policysite"


def make_parser(
    argv: Sequence[str] | None = None, prog: str | None = None
) -> argparse.ArgumentParser:
    """The CLI's parser. Given the command line, it may leave out the collector's commands:
    their options live with the collector, and importing them costs every `build` a few
    milliseconds, which matters for a no-change rebuild (docs/performance.md). Help and typos
    get all."""
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        description="Build XIMGO.COM's policy site, preview it, and run the consent collector.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_build(sub)
    _add_check(sub)
    _add_serve(sub)
    _add_new_version(sub)
    if not argv or argv[0] not in BUILD_COMMANDS:
        _add_collector(sub)
    return parser


def run() -> NoReturn:
    """The command line's entry point (build.py, the `policysite` script): exit with `main`'s
    status.

    A `build` process is one build, then exit, so two process-wide shortcuts are safe here
    (and only here, not in `main`, which tests and other code call in-process): no cyclic
    garbage collection (a build makes next to none: the same peak memory without it, while
    its passes over a heap that only grows cost ~3 % of a cold build), and no interpreter
    teardown at the end (freeing the site, its texts and every library object by object
    costs ~35 ms; a finished build's files are written and closed)."""
    argv = sys.argv[1:]
    one_build = argv[:1] == ["build"]
    if one_build:
        gc.disable()
    status = main(argv)
    if one_build:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = make_parser(argv, prog).parse_args(argv)
    try:
        return args.handler(args)
    except PolicyError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `… | head -1`: the reader has all it wanted
        _silence_stdout()
        return SIGPIPE_STATUS


SIGPIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for coreutils in the same place


def _silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the closed pipe would raise
    BrokenPipeError again when Python flushes it at exit (docs/editing.md; Python's
    signal docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
