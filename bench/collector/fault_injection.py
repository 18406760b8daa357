"""The faults that faults.py injects into a running collector, and clears again.

Each has a `name`, a `hold` (seconds it lasts, or None for faults.py's --hold), `inject()`
and `clear()`; both return a short note for the table. `clear()` undoes `inject()` and does
nothing when called again, so faults.py also calls every one on its way out (an error, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import quiet
import servers

WRITER = "policysite.collector.core.writer"  # in the writer process's command line
WORKER = "multiprocessing.spawn"  # in a uvicorn worker's
OLD = "2006-01-01T00:00:00.000000Z"  # received_at of the seeded rows: 20 years old
PURGE_DAYS = "3650"  # purges what is older than 10 years: the seeded rows, never the load's
HOLD_LOCK = """import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


# --- SQLite ------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (created) for the block; unmounted after."""
    folder.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield folder
    finally:
        done = subprocess.run(["umount", str(folder)], capture_output=True, timeout=30)
        if done.returncode != 0:  # something still has a file open there: detach it anyway
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def seed_old_rows(db: Path, count: int) -> None:
    """Copy the table's one row `count` times as 20 years old, for `consents purge` to delete
    (it holds the write lock while it deletes them). Their ids are not the load's."""
    with contextlib.closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(consents)")]
        columns.remove("id")
        made = {"consent_id": "printf('seed-%08d', n.i)", "received_at": f"'{OLD}'"}
        picks = ", ".join(made.get(c, f"t.{c}") for c in columns)
        conn.execute(
            f"INSERT INTO consents ({', '.join(columns)})"
            " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            f" SELECT {picks} FROM n, (SELECT * FROM consents LIMIT 1) AS t",
            (count,),
        )


class Chmod:
    """A file or folder made read-only (we run as root, so only the collector's own checks
    can notice: the kernel lets root write anyway)."""

    hold = None

    def __init__(self, name: str, path: Path, mode: int) -> None:
        self.name, self.path, self.mode = name, path, mode
        self.saved: int | None = None

    def inject(self) -> str:
        self.saved = self.path.stat().st_mode & 0o7777
        os.chmod(self.path, self.mode)
        return ""

    def clear(self) -> str:
        if self.saved is not None:
            os.chmod(self.path, self.saved)
            self.saved = None
        return ""


class LockHolder:
    """Another program that takes SQLite's write lock (BEGIN IMMEDIATE) and sleeps with it."""

    name = "another program holds the write lock"

    def __init__(self, db: Path, seconds: float) -> None:
        self.db, self.hold = db, seconds
        self.process: subprocess.Popen | None = None

    def inject(self) -> str:
        command = [sys.executable, "-c", HOLD_LOCK, str(self.db), str(self.hold)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        line = self.process.stdout.readline() if self.process.stdout else ""
        if line.strip() != "locked":
            return "the lock holder did not get the lock"
        return f"locked after {time.monotonic() - started:.1f} s, for {self.hold:g} s"

    def clear(self) -> str:
        if self.process is not None:
            _end(self.process, self.hold + 10)
            self.process = None
        return ""


class PurgeLoop:
    """`build.py consents purge --older-than 3650` run again and again while the fault lasts;
    the first run deletes the seeded old rows and holds the write lock meanwhile."""

    hold = None

    def __init__(self, db: Path, seeded: int) -> None:
        self.db = db
        self.name = f"`consents purge` in a loop ({seeded:,} old rows)"
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.runs: list[tuple[int, float, str]] = []  # exit code, seconds, last line

    def _loop(self) -> None:
        command = [sys.executable, "build.py", "consents", "purge", "--older-than", PURGE_DAYS]
        while not self.stop.is_set():
            started = time.monotonic()
            done = subprocess.run(
                [*command, "--db", str(self.db)],
                cwd=servers.ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            said = (done.stdout + done.stderr).strip().splitlines() or [""]
            self.runs.append((done.returncode, time.monotonic() - started, said[-1]))

    def inject(self) -> str:
        self.stop.clear()
        self.thread = threading.Thread(target=self._loop, name="purges", daemon=True)
        self.thread.start()
        return ""

    def clear(self) -> str:
        if self.thread is None:
            return ""
        self.stop.set()
        self.thread.join(130)
        self.thread = None
        if not self.runs:
            return "no purge finished"
        code, seconds, said = self.runs[0]
        longest = max(s for _, s, _ in self.runs)
        failed = sum(c != 0 for c, _, _ in self.runs)
        return (f"{len(self.runs)} purges ({failed} failed), longest {longest:.1f} s; "
                f"the first (exit {code}, {seconds:.1f} s): {said}")  # fmt: skip


class KillChild:
    """kill -9 of the collector's child process whose command line has `needle` in it."""

    hold = None

    def __init__(self, name: str, parent: int, needle: str) -> None:
        self.name, self.parent, self.needle = name, parent, needle

    def inject(self) -> str:
        for pid in quiet.children_pids(self.parent)[1:]:
            with contextlib.suppress(OSError):
                if self.needle in Path(f"/proc/{pid}/cmdline").read_bytes().decode():
                    os.kill(pid, signal.SIGKILL)
                    return f"killed pid {pid}"
        return "no such process to kill"

    def clear(self) -> str:
        return ""


class DiskFull:
    """The database's disk made full by a filler file, then freed by deleting it."""

    name = "disk full"
    hold = None

    def __init__(self, folder: Path, db: Path) -> None:
        self.filler = folder / "filler"
        self.db = db

    def inject(self) -> str:
        stat = os.statvfs(self.filler.parent)
        with open(self.filler, "wb", buffering=0) as out:
            with contextlib.suppress(OSError):
                os.posix_fallocate(out.fileno(), 0, stat.f_bavail * stat.f_frsize)
            out.seek(0, os.SEEK_END)
            block = b"\0" * 65536
            while len(block):  # what fallocate left, then smaller and smaller pieces
                try:
                    out.write(block)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    block = block[: len(block) // 2]
        wal = self.db.with_name(self.db.name + "-wal")
        size = sum(p.stat().st_size for p in (self.db, wal) if p.exists()) >> 20
        filler = self.filler.stat().st_size >> 20
        return f"filler {filler} MiB beside {size} MiB of database and WAL"

    def clear(self) -> str:
        self.filler.unlink(missing_ok=True)
        return ""


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_ctl(cluster: servers.Cluster, *args: str) -> None:
    """pg_ctl on the cluster, as the postgres user (as servers.postgres_cluster runs it)."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_user, str(servers._pg_bindir() / "pg_ctl"), "-D", str(cluster.data), *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


class PostgresCrash:
    """The server stopped without a shutdown checkpoint (`-m immediate`: as a crash), then
    started again with the options it had (pg_ctl restart reads postmaster.opts)."""

    name = "PostgreSQL crashed, then started"
    hold = None

    def __init__(self, cluster: servers.Cluster) -> None:
        self.cluster = cluster
        self.down = False

    def inject(self) -> str:
        pg_ctl(self.cluster, "stop", "-m", "immediate", "-w")
        self.down = True
        return ""

    def clear(self) -> str:
        if not self.down:
            return ""
        started = time.monotonic()
        pg_ctl(self.cluster, "restart", "-w", "-l", str(self.cluster.data.parent / "log"))
        self.down = False
        return f"up again after {time.monotonic() - started:.1f} s"


class TableLock:
    """Another session holding an ACCESS EXCLUSIVE lock on the table: every insert waits."""

    name = "table locked by another session (too slow)"

    def __init__(self, url: str, seconds: float) -> None:
        self.url, self.hold = url, seconds
        self.conn = None

    def inject(self) -> str:
        import psycopg

        self.conn = psycopg.connect(self.url)  # not autocommit: the lock lasts until close
        self.conn.execute("LOCK TABLE consents IN ACCESS EXCLUSIVE MODE")
        return ""

    def clear(self) -> str:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        return ""


class NoConnectionSlots:
    """Every connection slot taken (max_connections) after the collector's own connections
    were terminated, so that it must reconnect and hears "too many clients"."""

    name = "every connection slot taken"
    hold = None

    def __init__(self, cluster: servers.Cluster, database: str) -> None:
        self.cluster, self.database = cluster, database
        self.held: list = []

    def inject(self) -> str:
        import psycopg

        admin = psycopg.connect(self.cluster.url, autocommit=True)
        self.held.append(admin)
        admin.execute(f"ALTER DATABASE {self.database} ALLOW_CONNECTIONS false")
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (self.database,),
        ).fetchone()[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(self.held) < 1000:
            try:
                self.held.append(psycopg.connect(self.cluster.url, connect_timeout=2))
            except psycopg.OperationalError:
                if len(self.held) > 3:
                    break
                time.sleep(0.05)
        admin.execute(f"ALTER DATABASE {self.database} ALLOW_CONNECTIONS true")
        return f"{ended} of the collector's connections ended, {len(self.held)} slots held"

    def clear(self) -> str:
        held, self.held = self.held, []
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()
        return ""


# --- processes ---------------------------------------------------------------------------------


def _end(process: subprocess.Popen, limit: float) -> None:
    try:
        process.wait(limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
