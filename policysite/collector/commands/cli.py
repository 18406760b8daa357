"""`collector` and `consents export|stats|purge` (docs/collector.md); the log's own
`consents` commands are in log.py, `consents report` in reporting.py.

policysite/cli.py calls `add_collector_parser(sub)` and `add_consents_parser(sub)`; each sets
`handler`. Operator commands have no HTTP surface: they open the store directly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from policysite.collector.commands.log import add_confirmation, add_log_parsers, confirm
from policysite.collector.commands.options import (
    add_db,
    add_group_readable,
    add_range,
    command_store,
    date_range,
    open_command_output,
    resolve_db,
)
from policysite.collector.commands.reporting import add_report_parser
from policysite.collector.core.addresses import default_trusted_proxies
from policysite.collector.core.settings import (
    ENV_BURST,
    ENV_DB,
    ENV_FORWARDED,
    ENV_HMAC,
    ENV_LOG_KEY,
    ENV_ORIGINS,
    ENV_RATE,
    ENV_READ_TIMEOUT,
    ENV_SITE,
    LOG_KEY_NAME,
    CollectorSettings,
    log_key_path,
    split_list,
)
from policysite.errors import PolicyError, Problem

if TYPE_CHECKING:
    pass

KEEP_ALIVE_TIMEOUT = 5  # seconds, uvicorn's default; nginx keeps its upstream connections warm
MAX_CONNECTIONS = 1000  # per worker: far above what nginx's keepalive pool opens


# --- collector ----------------------------------------------------------------------------


def add_collector_parser(sub: argparse._SubParsersAction) -> None:
    # Raw defaults: a bad environment must not break the parser of every other command.
    defaults = CollectorSettings()
    p = sub.add_parser("collector", help="run the consent collector (uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8001, help="port to listen on (default: 8001)")
    add_db(p)
    p.add_argument(
        "--site", type=Path, default=Path("dist"), metavar="DIR",
        help="the built site whose policy.json says what may be consented to (default: dist)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="uvicorn worker processes (default: 1; on SQLite, one per core but one)",
    )  # fmt: skip
    p.add_argument(
        "--forwarded-allow-ips",
        metavar="LIST",
        default=os.environ.get(ENV_FORWARDED),
        help="proxies whose X-Forwarded-For is believed: IPs or networks, comma-separated; "
        '"" for none (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1 when --host is '
        "loopback, none when it is public; * believes anyone: never on a public address)",
    )
    p.add_argument(
        "--rate-limit",
        metavar="RATE",
        default=os.environ.get(ENV_RATE, defaults.rate_limit),
        help='per client network and worker, e.g. "600/min"; "0" turns it off '
        f"(default: $POLICYSITE_RATE_LIMIT, else {defaults.rate_limit})",
    )
    p.add_argument(
        "--burst",
        type=int,
        metavar="N",
        default=os.environ.get(ENV_BURST, defaults.burst),
        help="requests a client network may save up "
        f"(default: $POLICYSITE_RATE_BURST, else {defaults.burst})",
    )
    p.add_argument(
        "--read-timeout", type=float, metavar="SECONDS",
        default=os.environ.get(ENV_READ_TIMEOUT, defaults.read_timeout),
        help="a request's headers and body must arrive within this time, or 408 "
        f"(default: ${ENV_READ_TIMEOUT}, else {defaults.read_timeout:g})",
    )  # fmt: skip
    p.add_argument(
        "--keep-alive-timeout", type=int, default=KEEP_ALIVE_TIMEOUT, metavar="SECONDS",
        help=f"close a kept-alive connection idle this long (default: {KEEP_ALIVE_TIMEOUT})",
    )  # fmt: skip
    p.add_argument(
        "--max-connections", type=int, default=MAX_CONNECTIONS, metavar="N",
        help="per worker; requests beyond get 503 at once "
        f"(default: {MAX_CONNECTIONS})",
    )  # fmt: skip
    add_group_readable(p, "the database and its lock file")
    p.add_argument(
        "--log-key", type=Path, metavar="FILE", default=os.environ.get(ENV_LOG_KEY),
        help="the consent log's signing key, created (0600) on first start "
        f"(default: ${ENV_LOG_KEY}, else {LOG_KEY_NAME} beside a SQLite database, "
        f"var/{LOG_KEY_NAME} with PostgreSQL)",
    )  # fmt: skip
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept this Origin besides policy.json's allowed_origins (repeatable)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="the lowest level logged (default: info)",
    )  # fmt: skip
    p.add_argument(
        "--log-format", default=os.environ.get("POLICYSITE_LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="text lines, or one JSON object per line for a log shipper "
        "(default: $POLICYSITE_LOG_FORMAT, else text)",
    )  # fmt: skip
    p.set_defaults(handler=run_collector)


def run_collector(args: argparse.Namespace) -> int:
    import asyncio  # here, not at the top: every `build` parses this module's arguments
    import dataclasses

    import uvicorn

    from policysite.collector.core.logs import configure as configure_logging
    from policysite.collector.core.logs import logging_config
    from policysite.collector.core.writer import start_writer
    from policysite.collector.http.service import open_service

    configure_logging(args.log_level, args.log_format)  # the lines before uvicorn's own
    for option, value in ("--workers", args.workers), ("--max-connections", args.max_connections):
        if value < 1:
            raise PolicyError(f"{option} must be at least 1, got {value}")
    if args.keep_alive_timeout < 1:
        raise PolicyError(f"--keep-alive-timeout must be at least 1, got {args.keep_alive_timeout}")
    db = resolve_db(args.db)
    proxies = (
        default_trusted_proxies(args.host)
        if args.forwarded_allow_ips is None
        else split_list(args.forwarded_allow_ips)
    )
    logging_on = CollectorSettings.from_env().log  # $POLICYSITE_LOG=off: measurements only
    key = log_key_path(db, args.log_key)
    settings = CollectorSettings(
        rate_limit=args.rate_limit,
        burst=args.burst,
        forwarded_allow_ips=proxies,
        ip_hmac_key=os.environ.get(ENV_HMAC) or None,
        read_timeout=args.read_timeout,
        group_readable=args.group_readable,
        log_key=str(key),
        log=logging_on,
    )
    if "*" in proxies and not default_trusted_proxies(args.host):
        print(
            f"warning: --forwarded-allow-ips * on {args.host}: any client can choose the "
            "address it is recorded and rate-limited under; list your proxies instead",
            file=sys.stderr,
        )
    # Fail here, with a clean message, rather than in every worker; this also migrates once.
    # The key is checked after, by _check_log_key, which says when it made one.
    checking = dataclasses.replace(settings, log=False)
    service = open_service(db, args.site, extra_origins=args.allow_origin, settings=checking)
    asyncio.run(service.close())
    log_name = _check_log_key(key, args.site / "policy.json") if logging_on else None
    # On SQLite, one process commits for every worker (writer.py); workers are left to HTTP.
    writer = (
        start_writer(db, args.log_level, args.log_format, key if logging_on else None, log_name)
        if service.store.kind == "sqlite"
        else None
    )
    if writer is not None:
        settings = dataclasses.replace(settings, writer_socket=writer.socket)
    os.environ.update(settings.to_env())
    os.environ[ENV_DB] = db
    os.environ[ENV_SITE] = str(args.site)
    os.environ[ENV_ORIGINS] = ",".join(args.allow_origin)
    try:
        uvicorn.run(
            "policysite.collector.http.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            lifespan="on",
            proxy_headers=False,  # service.py reads X-Forwarded-For itself, for serve too
            http="policysite.collector.http.protocol:ReadTimeoutProtocol",
            timeout_keep_alive=args.keep_alive_timeout,
            limit_concurrency=args.max_connections,
            access_log=False,  # an access log would keep every raw client IP
            server_header=False,
            log_config=logging_config(args.log_level, args.log_format),  # in every worker too
            log_level=args.log_level,
        )
    finally:
        if writer is not None:
            writer.stop()  # after the workers: they have had every answer they wait for
    return 0


# --- consents ------------------------------------------------------------------------------


def add_consents_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("consents", help="operator commands over the consent log")
    actions = p.add_subparsers(dest="consents_command", required=True, metavar="ACTION")

    export = actions.add_parser("export", help="write records as CSV or JSON Lines")
    add_db(export)
    add_range(export)
    export.add_argument(
        "--format", choices=["csv", "jsonl"], default="csv", help="the file format (default: csv)"
    )
    export.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="file to write (default: stdout)"
    )
    add_group_readable(export, "the output file")
    export.set_defaults(handler=run_export)

    stats = actions.add_parser("stats", help="acceptance rate per category, version and week")
    add_db(stats)
    add_range(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.set_defaults(handler=run_stats)

    add_report_parser(actions)

    purge = actions.add_parser(
        "purge", help="delete records older than DAYS, keeping the log provable"
    )
    add_db(purge)
    purge.add_argument(
        "--older-than", type=int, required=True, metavar="DAYS",
        help="delete records received more than DAYS days ago",
    )  # fmt: skip
    purge.add_argument("--dry-run", action="store_true", help="only count what would go")
    add_confirmation(purge)
    purge.set_defaults(handler=run_purge)
    add_log_parsers(actions)


def run_export(args: argparse.Namespace) -> int:
    from policysite.collector.commands.exports import export

    since, until = date_range(args)
    with command_store(args) as store:
        if args.output is None:
            count = export(store, sys.stdout, args.format, since, until)
        else:
            with open_command_output(args.output, args.group_readable) as out:
                count = export(store, out, args.format, since, until)
            print(f"wrote {count} record(s) to {args.output}", file=sys.stderr)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from policysite.collector.commands.stats import compute, format_json, format_text

    since, until = date_range(args)
    with command_store(args) as store:
        stats = compute(store.aggregate(since, until))
    print(format_json(stats) if args.json else format_text(stats))
    return 0


def run_purge(args: argparse.Namespace) -> int:
    if args.older_than < 0:
        raise PolicyError(f"--older-than must be 0 or more days, got {args.older_than}")
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=args.older_than)
    when = f"received before {before:%Y-%m-%d %H:%M:%S} UTC"
    with command_store(args) as store:
        count = store.purge(before, dry_run=True)
        if args.dry_run:
            print(f"would delete {count} record(s) {when}")
            return 0
        if count and not confirm(args, f"delete {count} record(s) {when}?"):
            print("nothing deleted")
            return 1
        count = store.purge(before) if count else 0
    print(f"deleted {count} record(s) {when}; their leaves' hashes stay in the log")
    return 0


def _check_log_key(path: Path, policy_file: Path) -> str:
    """Load the log's signing key (creating it on first start, and printing its public key
    once), and refuse one that is not the key site.toml publishes (docs/consent-log.md).
    Return the log's name."""
    import logging

    from policysite.collector.core.log_key import load_or_create_signer
    from policysite.collector.core.policy import load_policy

    policy = load_policy(policy_file)
    name = policy.log_name
    if not name:
        raise PolicyError(Problem(policy_file, "site.base_url gives no name for the consent log"))
    signer, created = load_or_create_signer(path, name)
    public = signer.verifier.key_text()
    log = logging.getLogger("policysite.collector")  # in the chosen log format
    if created:
        log.warning(
            "created the consent log's signing key %s (mode 0600); back it up, and put its "
            'public key in site.toml: [consent] log_public_key = "%s"', path, public,
        )  # fmt: skip
    published = policy.log_public_key
    if published is None:
        if not created:
            log.warning(
                'site.toml has no [consent] log_public_key; the key in %s is "%s"', path, public
            )
    elif published != public:
        raise PolicyError(
            Problem(
                path,
                f"this signing key's public key is {public!r}, but site.toml publishes "
                f"{published!r}",
                "use the key file that goes with the published key, or publish this one",
            )
        )
    return name
