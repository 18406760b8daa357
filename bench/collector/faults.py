"""Collector fault test (docs/collector.md): the load runs while each fault is injected and
cleared, and every acknowledged record must be in the store afterwards.

    python bench/collector/faults.py [--quick] [--stores sqlite sqlite-full postgres]

Each store is one `build.py collector --workers 2` (as run.py starts it) under fault_load.py's
load from 127.0.0.1, with these faults in turn, each held a few seconds, then cleared:

    sqlite       a SQLite file on the scratch disk: the file read-only (0444), its folder
                 read-only (0555), another program holding the write lock (BEGIN IMMEDIATE),
                 `consents purge` in a loop (the first run deletes rows seeded as 20 years
                 old), the writer process killed (kill -9), a worker killed (kill -9)
    sqlite-full  a SQLite file on a small tmpfs, made full by a filler file, then freed
    postgres     a private cluster (servers.py): crashed (`pg_ctl stop -m immediate`, then
                 started), a table lock held (commits too slow), every connection slot taken

One row per fault: the requests answered while it lasted and during its recovery, acknowledged
(201/200), 503s, other outcomes, lost (acknowledged keys missing from the store at the end:
must be 0) and what GET /api/health answered during the fault and after it. It needs root
(mount, runuser). Everything it starts is stopped and removed at the end, also on an error,
Ctrl-C or SIGTERM; the table is printed and bench/_work/collector/faults-<time>.json written.
"""

from __future__ import annotations

import argparse
import asyncio
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
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fault_injection as inject  # bench scripts are not a package: siblings import by path
import quiet
import run
import servers
from fault_load import REQUEST_TIMEOUT, Journal, Key, Tally, run_load
from load import Consents, consents_from
from report import code_version, machine

WORKERS = 2
IDLE_LIMIT = 5.0  # seconds to wait for other sessions' load to pass before a store's run
STORES = ("sqlite", "sqlite-full", "postgres")
LOG_LINES = 200  # of each collector's log, kept in the JSON


class Fault(Protocol):
    name: str
    hold: float | None  # seconds between inject and clear (None: --hold)

    def inject(self) -> str: ...
    def clear(self) -> str: ...  # undoes inject; harmless when called again


@dataclass
class Target:
    store: str
    port: int
    faults: list[Fault]
    stored: Callable[[], set[Key]]  # every key in the store, read once the load has stopped
    log: Path  # the collector's output


@dataclass
class Window:
    fault: str
    injected: float  # monotonic times
    clearing: float  # clear() called
    cleared: float  # clear() returned (a restarted server is up)
    ended: float  # the end of its recovery time
    notes: list[str] = field(default_factory=list)


@dataclass
class Row:
    store: str
    fault: str
    sent: int
    acknowledged: int
    unavailable: int  # 503s
    others: dict[str, int]
    lost: int  # acknowledged, and not in the store at the end: must be 0
    stored_refused: int  # refused or unanswered, yet stored (allowed: the client retries)
    slowest: float  # seconds, of any answered POST
    health_during: str
    health_after: str
    notes: str


# --- the stores --------------------------------------------------------------------------------


def sqlite_keys(db: Path) -> Callable[[], set[Key]]:
    def read() -> set[Key]:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            return set(conn.execute("SELECT consent_id, seq FROM consents"))

    return read


def postgres_keys(url: str) -> Callable[[], set[Key]]:
    def read() -> set[Key]:
        import psycopg

        with psycopg.connect(url) as conn:
            return set(conn.execute("SELECT consent_id::text, seq FROM consents"))

    return read


def post_one(port: int, consents: Consents) -> None:
    """One consent through HTTP, so that the table has a real row to copy for the seed."""
    body = f'{{"consent_id":"{uuid.uuid4()}","seq":1{consents.rests[0]}'.encode()
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": consents.origin}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/consent", body, headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@contextlib.contextmanager
def target(
    store: str, scratch: Path, site: Path, consents: Consents, args: argparse.Namespace
) -> Iterator[Target]:
    """Start the collector on `store` with its faults; stop it and undo every fault after."""
    port, log = servers.free_port(), scratch / f"{store}.log"
    with contextlib.ExitStack() as stack:
        if store == "postgres":
            cluster = stack.enter_context(servers.postgres_cluster())
            db = run.new_database(cluster.url, "faults")
            faults: list[Fault] = [
                inject.PostgresCrash(cluster),
                inject.TableLock(db, args.lock_seconds),
                inject.NoConnectionSlots(cluster, "faults"),
            ]
            stored = postgres_keys(db)
        else:
            folder = scratch / store
            if store == "sqlite-full":
                stack.enter_context(inject.tmpfs(folder, args.tmpfs_size))
            else:
                folder.mkdir()
            path = folder / "consents.sqlite3"
            db, stored = str(path), sqlite_keys(path)
        command = servers.collector(port, WORKERS, db, site)
        process = stack.enter_context(servers.server(command, port, log, {}))
        if store == "sqlite":
            post_one(port, consents)
            inject.seed_old_rows(path, args.purge_rows)
            faults = [
                inject.Chmod("database file read-only (0444)", path, 0o444),
                inject.Chmod("folder read-only (0555)", folder, 0o555),
                inject.LockHolder(path, args.lock_seconds),
                inject.PurgeLoop(path, args.purge_rows),
                inject.KillChild("writer process killed (kill -9)", process.pid, inject.WRITER),
                inject.KillChild("a worker killed (kill -9)", process.pid, inject.WORKER),
            ]
        elif store == "sqlite-full":
            faults = [inject.DiskFull(folder, path)]
        for fault in faults:  # the clears run before the collector stops (LIFO)
            stack.callback(fault.clear)
        yield Target(store, port, faults, stored, log)


# --- the run -----------------------------------------------------------------------------------


async def drive(
    target: Target,
    consents: Consents,
    args: argparse.Namespace,
    journal: Journal,
    windows: list[Window],
) -> None:
    """Run the load; after a baseline, inject, hold, clear each fault and let it recover."""
    stop = asyncio.Event()
    load = asyncio.create_task(run_load(target.port, consents, journal, stop, args.connections))
    try:
        await asyncio.sleep(args.recover)
        for fault in target.faults:
            journal.phase = fault.name
            window = Window(fault.name, time.monotonic(), 0.0, 0.0, 0.0)
            windows.append(window)
            try:
                window.notes.append(await asyncio.to_thread(fault.inject))
                await asyncio.sleep(args.hold if fault.hold is None else fault.hold)
            finally:
                window.clearing = time.monotonic()
                window.notes.append(await asyncio.to_thread(fault.clear))
                window.cleared = time.monotonic()
            print(f"  {fault.name}: {'; '.join(n for n in window.notes if n)}", flush=True)
            await asyncio.sleep(args.recover)
            window.ended = time.monotonic()
        journal.phase = "after the last fault"
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.wait_for(load, REQUEST_TIMEOUT + 5)


def health_during(journal: Journal, window: Window) -> str:
    seen = [(t, s) for t, s in journal.health if window.injected <= t <= window.clearing]
    first = next((t for t, s in seen if s == 503), None)
    if first is not None:
        return f"503 after {first - window.injected:.1f} s"
    return "no 503 (" + ", ".join(f"{s}×{n}" for s, n in Counter(s for _, s in seen).items()) + ")"


def health_after(journal: Journal, window: Window) -> str:
    """When health answered 200 for good after the clear (every later poll 200 too)."""
    seen = [(t, s) for t, s in journal.health if window.cleared < t <= window.ended]
    if not seen or seen[-1][1] != 200:
        return f"not 200 by the end (last: {seen[-1][1] if seen else 'none'})"
    since = seen[-1][0]
    for t, status in reversed(seen):
        if status != 200:
            break
        since = t
    return f"200 after {since - window.cleared:.1f} s"


def rows_for(store: str, journal: Journal, windows: list[Window], stored: set[Key]) -> list[Row]:
    def row(phase: str, tally: Tally, during: str, after: str, notes: str) -> Row:
        return Row(
            store, phase, tally.sent, len(tally.acknowledged), tally.unavailable, tally.others,
            sum(key not in stored for key in tally.acknowledged),
            sum(key in stored for key in tally.refused),
            round(tally.slowest, 2), during, after, notes,
        )  # fmt: skip

    by_fault = {w.fault: w for w in windows}
    rows = []
    for phase, tally in journal.tallies.items():
        window = by_fault.get(phase)
        if window is None:  # the baseline, or the tail after the last fault
            rows.append(row(phase, tally, "–", "–", ""))
        else:
            notes = "; ".join(n for n in window.notes if n)
            rows.append(row(phase, tally, health_during(journal, window),
                            health_after(journal, window), notes))  # fmt: skip
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| store | fault | requests | acknowledged | 503 | other | lost | stored, not acknowledged"
        " | slowest POST s | health during | health after | notes |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        others = ", ".join(f"{k}: {n}" for k, n in r.others.items()) or "0"
        lost = f"**{r.lost}**" if r.lost else "0"
        lines.append(
            f"| {r.store} | {r.fault} | {r.sent:,} | {r.acknowledged:,} | {r.unavailable:,} | "
            f"{others} | {lost} | {r.stored_refused:,} | {r.slowest:.2f} | {r.health_during} | "
            f"{r.health_after} | {r.notes} |"
        )
    return "\n".join(lines)


def run_store(
    store: str, scratch: Path, site: Path, consents: Consents, args: argparse.Namespace,
    deadline: float,
) -> tuple[list[Row], dict[str, list]]:  # fmt: skip
    """One store's run: its rows, its health answers (seconds since the load began) and the
    end of the collector's log."""
    journal, windows = Journal(), []
    with target(store, scratch, site, consents, args) as running:
        began = time.monotonic()
        try:
            asyncio.run(
                asyncio.wait_for(
                    drive(running, consents, args, journal, windows),
                    max(1.0, deadline - time.monotonic()),
                )
            )
        except TimeoutError:
            print(f"  {store}: the time budget ran out; what ran is reported", file=sys.stderr)
        stored = running.stored()
        log = running.log
    health = [(round(t - began, 2), s) for t, s in journal.health]
    said = log.read_text(errors="replace").splitlines()
    return rows_for(store, journal, windows, stored), {"health": health, "log": said[-LOG_LINES:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter holds and smaller seeds")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--connections", type=int, default=32, help="concurrent POST loops")
    parser.add_argument("--hold", type=float, default=4.0, help="seconds each fault lasts")
    parser.add_argument("--recover", type=float, default=4.0, help="seconds after each clear")
    parser.add_argument("--lock-seconds", type=float, default=8.0, help="the lock holder's hold")
    parser.add_argument("--purge-rows", type=int, default=100_000, help="old rows to purge")
    parser.add_argument(
        "--tmpfs-size", default="256m", help="the disk to fill (above what the load writes)"
    )
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the whole run")
    args = parser.parse_args(argv)
    if args.quick:  # shorter defaults; what the command line sets explicitly still counts
        parser.set_defaults(hold=2.0, recover=2.0, lock_seconds=6.0, purge_rows=20_000)
        args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("faults.py needs root: it mounts a tmpfs and runs PostgreSQL with runuser")
        return 2
    # SIGTERM unwinds like Ctrl-C, so that every fault is cleared and every server stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    start = time.monotonic()
    rows: list[Row] = []
    details: dict[str, dict] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as name:
        scratch = Path(name)
        site = run.build_site(scratch)
        consents = consents_from(site / "policy.json")
        for store in args.stores:
            quiet.wait_for_idle(IDLE_LIMIT)
            print(f"{store} ...", flush=True)
            try:
                mine, details[store] = run_store(
                    store, scratch, site, consents, args, start + args.budget
                )
                rows += mine
            except (
                RuntimeError,
                OSError,
                subprocess.SubprocessError,
                sqlite3.Error,
                psycopg.Error,
            ) as error:
                errors[store] = str(error).strip()
                print(f"  {store} failed: {errors[store]}", file=sys.stderr)
    report = table(rows)
    print(f"\n{machine()}, {dt.date.today()}, {code_version()}, {WORKERS} workers, "
          f"{args.connections} connections, hold {args.hold:g} s, recover {args.recover:g} s, "
          f"total {time.monotonic() - start:.0f} s\n")  # fmt: skip
    print(report)
    lost = sum(r.lost for r in rows)
    print(f"\nlost: {lost} of {sum(r.acknowledged for r in rows):,} acknowledged")
    run.OUT.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results = {
        "args": vars(args),
        "machine": machine(),
        "code": code_version(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": [asdict(r) for r in rows],
        "errors": errors,
        "stores": details,
        "table": report,
    }
    (run.OUT / f"faults-{stamp}.json").write_text(json.dumps(results, indent=1))
    return 1 if lost or errors else 0


if __name__ == "__main__":
    sys.exit(main())
