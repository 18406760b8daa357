"""`consents verify|verify-receipt|checkpoint|erase`: the consent log's commands
(docs/consent-log.md).

cli.py's add_consents_parser calls `add_log_parsers(actions)`. `verify` and `verify-receipt`
only read; `erase`, like `purge`, removes records but keeps their leaves' hashes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policysite.collector.commands.options import (
    add_db,
    add_key_options,
    command_store,
    log_key_text,
)
from policysite.errors import PolicyError, Problem
from policysite.log_names import BANNER_FOLDER

IGNORED_IN_PUBLISHED = ("banner",)  # dist/consent-log/ also holds the banner archive


def add_log_parsers(actions: argparse._SubParsersAction) -> None:
    verify = actions.add_parser(
        "verify", help="check the whole log: every record, the tree and every checkpoint"
    )
    add_db(verify)
    add_key_options(verify)
    add_published(verify)
    verify.set_defaults(handler=run_verify)

    check = actions.add_parser(
        "verify-receipt", help="check a visitor's downloaded receipt offline (no database)"
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the receipt (a JSON file)")
    add_key_options(check)
    check.set_defaults(handler=run_verify_receipt)

    checkpoint = actions.add_parser(
        "checkpoint", help="write the log's latest signed checkpoint, to publish"
    )
    add_db(checkpoint)
    checkpoint.add_argument(
        "-o", "--output", type=Path, metavar="FILE",
        help="file to write, e.g. content/consent-log/<size>.txt (default: stdout)",
    )  # fmt: skip
    checkpoint.set_defaults(handler=run_checkpoint)

    erase = actions.add_parser(
        "erase", help="delete one visitor's records (erasure), keeping the log provable"
    )
    add_db(erase)
    erase.add_argument(
        "--consent-id", required=True, metavar="ID", help="the visitor's consent id (a UUID)"
    )
    add_confirmation(erase)
    erase.set_defaults(handler=run_erase)


def add_published(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--published", type=Path, action="append", default=[], metavar="DIR",
        help="also check the checkpoints kept in DIR (e.g. content/consent-log, or a copy of "
        "dist/consent-log from the CDN); repeatable",
    )  # fmt: skip


def add_confirmation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask before deleting")


def confirm(args: argparse.Namespace, question: str) -> bool:
    """--yes, or the operator's "y" at a terminal; PolicyError when there is no terminal."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise PolicyError(Problem(None, f"{question}: not confirmed", "pass --yes to confirm"))
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _verifier(args: argparse.Namespace):  # -> Verifier
    from policysite.collector.core.checkpoint import NoteError, Verifier

    try:
        return Verifier.parse(log_key_text(args))
    except NoteError as error:
        raise PolicyError(
            Problem(None, f"--key is not a log public key: {error}", "give name+id+key")
        ) from None


def run_verify_receipt(args: argparse.Namespace) -> int:
    from policysite.collector.core import receipt

    verifier = _verifier(args)
    try:
        text = args.file.read_bytes()
    except OSError as error:
        raise PolicyError(
            Problem(args.file, f"cannot read the receipt: {error.strerror}")
        ) from None
    try:
        verified = receipt.verify(receipt.parse(text), verifier)
    except receipt.ReceiptError as error:
        print(f"invalid: {args.file}: {error}")
        return 1
    print(verified.summary())
    return 0


def run_verify(args: argparse.Namespace) -> int:
    with command_store(args) as store:
        report = audit_store(args, store)
        where = store.where
    if report.intact:
        print(report.summary())
        return 0
    print(f"not intact: {len(report.problems)} problem(s) in the consent log {where}:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def audit_store(args: argparse.Namespace, store):  # -> audit.Report
    """`consents verify` on an open store, as --key, --site and --published say: the report
    runs it too."""
    from policysite.collector.core.audit import audit
    from policysite.collector.core.policy import load_policy

    verifier = _verifier(args)
    published = [p for folder in args.published for p in _published(folder)]
    policy_file = args.site / "policy.json"
    texts = banners = None
    if policy_file.is_file():
        texts = set(load_policy(policy_file).texts.values())
        banners = {p.stem for p in (args.site / BANNER_FOLDER).glob("*.json")}
    else:
        print(
            f"note: no {policy_file}: the archived policy texts and banners are not checked "
            "(give the built site with --site)",
            file=sys.stderr,
        )
    with store.log_snapshot() as snapshot:
        return audit(snapshot, verifier, published, texts, banners)


def _published(folder: Path):  # -> list[Published]
    from policysite.collector.core.audit import Published

    if not folder.is_dir():
        raise PolicyError(Problem(folder, "--published: no such folder"))
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in IGNORED_IN_PUBLISHED:
            continue
        try:
            found.append(Published(str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            raise PolicyError(Problem(path, f"cannot read this checkpoint: {error}")) from None
    return found


def run_checkpoint(args: argparse.Namespace) -> int:
    with command_store(args) as store:
        latest = store.latest_checkpoint()
        where = store.where
    if latest is None:
        raise PolicyError(Problem(None, f"the consent log {where} has no checkpoint yet"))
    size, note = latest
    if args.output is None:
        sys.stdout.write(note)
        return 0
    try:
        args.output.write_text(note, encoding="utf-8")
    except OSError as error:
        raise PolicyError(
            Problem(args.output, f"cannot write the checkpoint: {error.strerror}")
        ) from None
    print(f"wrote the checkpoint of {size:,} records to {args.output}", file=sys.stderr)
    return 0


def run_erase(args: argparse.Namespace) -> int:
    from policysite.collector.core.validation import FieldError, parse_consent_id

    try:
        consent_id = parse_consent_id(args.consent_id)
    except FieldError as error:
        raise PolicyError(Problem(None, f"--consent-id: {error.message}")) from None
    with command_store(args) as store:
        count = store.erase(consent_id, dry_run=True)
        if count == 0:
            print(f"no records of consent id {consent_id}: nothing to erase")
            return 0
        if not confirm(args, f"erase {count} record(s) of consent id {consent_id}?"):
            print("nothing erased")
            return 1
        erased = store.erase(consent_id)
    print(
        f"erased {erased} record(s) of consent id {consent_id}; their leaves' hashes stay, "
        "so the log and its checkpoints still verify"
    )
    return 0
