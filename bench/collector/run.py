"""Collector benchmark (docs/performance.md): durable consents per second, in one run on 127.0.0.1.

Targets, each under the same wrk load (valid, unique consent POSTs, bench/collector/load.py):

    empty       a raw ASGI app under uvicorn answering 201 without a store: the ceiling
    awaiting    the same, waiting for one future first: the ceiling of any endpoint that waits
    sqlite      ours, `build.py collector` on a fresh SQLite file (WAL, synchronous=FULL)
    postgres    ours on a private throwaway PostgreSQL cluster (fsync on), a fresh database
    gunicorn    the peer: gunicorn sync workers, SQLite FULL, one INSERT + COMMIT per request

Ours and the ceiling run with each of --workers uvicorn workers. Each target gets a warm-up,
then a measured run; only 201s count, and the rows the store gained during the measured run
are compared with the 201s wrk saw (rows may exceed 201s by the requests in flight when wrk
stopped, never fall short). Every server and the cluster are stopped at the end, even on error.

The machine is shared with other sessions, so each measured run also counts the CPU that was
not ours (quiet.py). A disturbed target is measured again while --budget allows, and the least
disturbed try is kept (chosen by others' CPU, never by the result); the table shows the share.

    python bench/collector/run.py [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quiet  # bench scripts are not a package: siblings import by path
import servers
from load import Consents, consents_from, run_wrk
from report import DISTURBED, Outcome, code_version, line, machine, table, verdicts

ROOT = servers.ROOT
OUT = ROOT / "bench/_work/collector"
FIXTURE_SITE = ROOT / "tests/collector_fixtures/site"
SITE_DATE = "2026-11-25"
SETTLE_LIMIT = 10.0
# "-nolog": the same collector with the verifiable log turned off (POLICYSITE_LOG=off), to
# measure what the log costs.
TARGETS = ("empty", "awaiting", "sqlite", "sqlite-nolog", "postgres", "postgres-nolog", "gunicorn")
IDLE_LIMIT = 5.0  # seconds to wait for other sessions' load to pass before a target

RowCounter = Callable[[], int] | None


@dataclass
class Running:
    port: int
    counter: RowCounter  # None for the ceiling, which stores nothing
    pids: Callable[[], list[int]]  # our processes serving it: server, workers, database


# --- targets -------------------------------------------------------------------------------


def sqlite_rows(path: Path) -> Callable[[], int]:
    def count() -> int:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            return conn.execute("SELECT count(*) FROM consents").fetchone()[0]

    return count


def postgres_rows(url: str) -> Callable[[], int]:
    import psycopg

    def count() -> int:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM consents").fetchone()[0]

    return count


def new_database(server_url: str, name: str) -> str:
    """A fresh database on the cluster, so that each target starts from an empty table."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def started(
    name: str,
    workers: int,
    scratch: Path,
    site: Path,
    cluster: servers.Cluster | None,
    origins: str,
) -> Iterator[Running]:
    """Start one target on a free port and yield it; stop it when the block ends."""
    port = servers.free_port()
    log = scratch / f"{name}-{workers}.log"
    env: dict[str, str] = {}
    counter: RowCounter = None
    if name == "empty":
        command = servers.uvicorn_empty(port, workers)
    elif name == "awaiting":
        command = servers.uvicorn_empty(port, workers, "awaiting_app")
    elif name.startswith("sqlite"):
        db = scratch / f"{name}-{workers}" / "consents.sqlite3"
        command = servers.collector(port, workers, str(db), site)
        counter = sqlite_rows(db)
    elif name.startswith("postgres"):
        assert cluster is not None
        url = new_database(cluster.url, f"bench_{name.replace('-', '_')}_{workers}")
        command = servers.collector(port, workers, url, site, scratch / f"{name}-{workers}.key")
        counter = postgres_rows(url)
    else:
        db = scratch / "peer.sqlite3"
        command = servers.gunicorn_peer(port, workers)
        env = {"PEER_DB": str(db), "PEER_ORIGINS": origins}
        counter = sqlite_rows(db)
    if name.endswith("-nolog"):
        env["POLICYSITE_LOG"] = "off"
    with servers.server(command, port, log, env) as process:

        def pids() -> list[int]:
            mine = [os.getpid(), *quiet.group_pids(process.pid)]
            on_cluster = cluster and name.startswith("postgres")
            postmaster = cluster.postmaster() if on_cluster else None
            return mine + (quiet.children_pids(postmaster) if postmaster else [])

        yield Running(port, counter, pids)


def settled(counter: Callable[[], int]) -> int:
    """The row count once writes in flight have landed (it holds still for 0.3 s)."""
    deadline = time.monotonic() + SETTLE_LIMIT
    last = counter()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = counter()
        if now == last:
            return now
        last = now
    return last


def measure(
    outcome: Outcome, target: Running, consents: Consents, args: argparse.Namespace
) -> None:
    url = f"http://127.0.0.1:{target.port}/api/consent"
    load = {"connections": args.connections, "threads": args.threads}
    if outcome.attempt == 1:  # a retry runs on a server that is warm already
        run_wrk(url, consents, seconds=args.warmup, **load)
    counter = target.counter
    before = settled(counter) if counter else 0
    with quiet.ForeignMeter(target.pids) as meter:
        outcome.result = run_wrk(url, consents, seconds=args.duration, **load)
    outcome.foreign = meter.share
    outcome.server_cores, outcome.load_cores = meter.server_cores, meter.load_cores
    if counter:
        outcome.rows = settled(counter) - before


# --- the run -------------------------------------------------------------------------------


def build_site(scratch: Path) -> Path:
    """A freshly built site (for policy.json), or the collector tests' fixture if that fails."""
    out = scratch / "dist"
    done = subprocess.run(
        [sys.executable, "build.py", "build", "--out", str(out), "--date", SITE_DATE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode == 0 and (out / "policy.json").exists():
        return out
    print(f"build failed, using {FIXTURE_SITE}:\n{done.stderr}", file=sys.stderr)
    return FIXTURE_SITE


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    ours = [(name, w) for w in args.workers for name in TARGETS[:-1]]
    every = [*ours, ("gunicorn", args.peer_workers)]
    return [(name, w) for name, w in every if name in args.targets]


def run_all(args: argparse.Namespace, scratch: Path, deadline: float) -> list[Outcome]:
    site = build_site(scratch)
    consents = consents_from(site / "policy.json")
    print(f"body: {len(consents.example().encode())} bytes, e.g. {consents.example()}")
    outcomes: list[Outcome] = []
    targets = plan(args)
    wants_cluster = any(name.startswith("postgres") for name, _ in targets)
    with servers.postgres_cluster() if wants_cluster else contextlib.nullcontext() as cluster:
        for index, (name, workers) in enumerate(targets):
            print(f"{name} ({workers} worker(s)) ...", flush=True)
            # An equal share of the time left, so that early targets cannot use up the retries.
            share = time.monotonic() + (deadline - time.monotonic()) / (len(targets) - index)
            try:
                with started(name, workers, scratch, site, cluster, consents.origin) as target:
                    outcomes.append(attempts(name, workers, target, consents, args, share))
            except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as error:
                outcomes.append(Outcome(name, workers, args.connections, error=str(error).strip()))
                print(f"  failed: {outcomes[-1].error}", file=sys.stderr)
            else:
                print("  " + line(outcomes[-1], outcomes), flush=True)
    return outcomes


def attempts(
    name: str,
    workers: int,
    target: Running,
    consents: Consents,
    args: argparse.Namespace,
    deadline: float,
) -> Outcome:
    """Measure; while others' CPU disturbed it and time allows, measure again; keep the
    least disturbed run (chosen by others' CPU, never by its result)."""
    best: Outcome | None = None
    for attempt in range(1 + args.retries):
        if attempt and time.monotonic() + IDLE_LIMIT + args.duration + 1 > deadline:
            break
        outcome = Outcome(name, workers, args.connections, attempt=attempt + 1)
        outcome.idle_before = quiet.wait_for_idle(IDLE_LIMIT)
        measure(outcome, target, consents, args)
        if best is None or outcome.foreign < best.foreign:
            best = outcome
        if best.foreign <= DISTURBED:
            break
        print(f"  try {attempt + 1} disturbed: {line(outcome, [])}", flush=True)
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before it")
    parser.add_argument("--connections", type=int, default=64, help="wrk's open connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (they share the cores)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn workers")
    parser.add_argument(
        "--peer-workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn sync workers (default: 2 × cores + 1, gunicorn's advice)",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=TARGETS,
        default=list(TARGETS),
        help="measure only these (to try a change quickly; results compare only within a run)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=3,
        help="extra tries of a target that others' CPU disturbed, within --budget",
    )
    parser.add_argument(
        "--budget", type=float, default=160.0, help="seconds after which nothing is retried"
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so that every server and the cluster are still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-collector-") as scratch:
        outcomes = run_all(args, Path(scratch), start + args.budget)
    report = table(outcomes)
    print(f"\n{machine()}, {dt.date.today()}, {code_version()}, "
          f"wrk -t{args.threads} -c{args.connections}, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per target, "
          f"total {time.monotonic() - start:.0f} s\n")  # fmt: skip
    print(report)
    print("\n".join(["", *verdicts(outcomes)]))
    OUT.mkdir(parents=True, exist_ok=True)
    results = {
        "args": vars(args),
        "machine": machine(),
        "code": code_version(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "outcomes": [asdict(o) for o in outcomes],
        "table": report,
    }
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"results-{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
