"""What the operator commands share: --db and the store it opens, -o files, the log's key.

Kept apart from cli.py and log.py, which both use them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from policysite.arguments import iso_date
from policysite.collector.core.files import (
    ENV_GROUP_READABLE,
    file_mode,
    group_readable_from_env,
    open_output,
)
from policysite.errors import PolicyError, Problem

if TYPE_CHECKING:
    from policysite.collector.core.store import Store

DEFAULT_DB = "var/consents.sqlite3"


def resolve_db(db: str | None) -> str:
    """--db wins; then DATABASE_URL; then the SQLite file under var/."""
    return db or os.environ.get("DATABASE_URL") or DEFAULT_DB


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        help=f"SQLite file or postgresql:// URL (default: $DATABASE_URL, else {DEFAULT_DB})",
    )


def add_group_readable(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--group-readable",
        action="store_true",
        default=group_readable_from_env(),
        help=f"create {what} with mode 0640 (group may read) instead of 0600 "
        f"(default: ${ENV_GROUP_READABLE})",
    )


@contextlib.contextmanager
def command_store(args: argparse.Namespace) -> Iterator[Store]:
    """The store for an operator command; a store that fails midway is a clean error too."""
    from policysite.collector.core.store import StoreUnavailable, open_store

    store = open_store(resolve_db(args.db), create=False)
    try:
        yield store
    except StoreUnavailable as error:
        raise PolicyError(f"consent store {store.where}: {error}") from error
    finally:
        store.close()


def open_command_output(path: Path, group_readable: bool) -> TextIO:
    """Open -o for writing, private (files.py); a missing folder or a folder given as the
    file is a user mistake."""
    try:
        return open_output(path, file_mode(group_readable))
    except FileNotFoundError:
        hint = f"the folder {path.parent} does not exist: create it, or choose another -o"
    except IsADirectoryError:
        hint = f"-o names a folder: give a file name in it, e.g. {path / 'consents.csv'}"
    except OSError as error:
        hint = f"{error.strerror}: choose a file you can write"
    raise PolicyError(Problem(path, "cannot write the output file here", hint))


def add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", metavar="KEY",
        help="the log's public key (name+id+key), or a file holding it "
        "(default: log_public_key in the --site's policy.json)",
    )  # fmt: skip
    parser.add_argument(
        "--site", type=Path, default=Path("dist"), metavar="DIR",
        help="the built site whose policy.json names the key (default: dist)",
    )  # fmt: skip


def log_key_text(args: argparse.Namespace) -> str:
    """--key as given, or read from the file it names, or policy.json's log_public_key."""
    import json

    if args.key:
        path = Path(args.key)
        if "+" not in args.key and path.is_file():
            return path.read_text(encoding="utf-8").strip()
        return args.key.strip()
    policy = args.site / "policy.json"
    try:
        key = (
            json.loads(policy.read_text(encoding="utf-8")).get("consent", {}).get("log_public_key")
        )
    except (OSError, ValueError, AttributeError):
        key = None
    if not key:
        raise PolicyError(
            Problem(
                policy,
                "no log public key here",
                "pass --key with the key from site.toml's [consent] log_public_key",
            )
        )
    return key


def add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=iso_date, metavar="YYYY-MM-DD", help="first day included (UTC)"
    )
    parser.add_argument(
        "--until", type=iso_date, metavar="YYYY-MM-DD", help="last day included (UTC)"
    )


def date_range(args: argparse.Namespace) -> tuple[dt.datetime | None, dt.datetime | None]:
    """--since/--until as UTC datetimes; --until includes its whole day."""
    if args.since and args.until and args.since > args.until:
        raise PolicyError(f"--since {args.since} is after --until {args.until}")
    since = dt.datetime.combine(args.since, dt.time(), dt.UTC) if args.since else None
    until = (
        dt.datetime.combine(args.until + dt.timedelta(days=1), dt.time(), dt.UTC)
        if args.until
        else None
    )
    return since, until
