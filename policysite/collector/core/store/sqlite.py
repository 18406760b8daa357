"""The SQLite store: WAL mode, synchronous=FULL, append-only by trigger.

One file (default var/consents.sqlite3) shared by every collector process on the host.
Writers in several processes take turns (write_lock.py), waiting at most BUSY_TIMEOUT: a POST
that cannot get its turn in that time gets 503 rather than hang. BEGIN IMMEDIATE still guards
against writers that skip the turn (the sqlite3 shell), and makes concurrent migrations safe.
`purge` deletes in short transactions, so it never holds the turn for long.

The database file, and so its -wal and -shm files, and the lock file are created with the
collector's file mode (files.py), whatever the umask.

`synchronous=FULL` fsyncs the WAL at every commit, so a committed batch survives kill -9 and a
power cut; group commit (committer.py) keeps that to one fsync per batch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path

from policysite.collector.core import files
from policysite.collector.core.record import COLUMNS, ConsentRecord, utc_timestamp
from policysite.collector.core.store import StoreUnavailable, apply_migrations
from policysite.collector.core.store.write_lock import WriteLock
from policysite.errors import PolicyError, Problem

BUSY_TIMEOUT = 5.0  # seconds a writer waits for another process's write lock
PURGE_TIMEOUT = 60.0  # an operator's purge waits longer for its turns than a request does
PURGE_CHUNK = 1000  # rows deleted per transaction: each holds the write turn a few ms
PURGE_PAUSE = 0.01  # seconds between them, for the writers waiting
MIN_FREE_BYTES = 1 << 20  # less free space than this on the database's disk: unhealthy

_NO_DELETE = """CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN SELECT RAISE(ABORT, 'consents are append-only: use `consents purge`'); END"""

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE consents (
                id INTEGER PRIMARY KEY,
                received_at TEXT NOT NULL,
                consent_id TEXT NOT NULL,
                seq INTEGER NOT NULL CHECK (seq >= 1),
                document TEXT NOT NULL,
                version TEXT NOT NULL,
                language TEXT NOT NULL,
                policy_sha256 TEXT NOT NULL,
                action TEXT NOT NULL,
                choices TEXT NOT NULL,
                gpc INTEGER,
                page TEXT,
                user_agent TEXT,
                ip TEXT,
                receipt TEXT NOT NULL,
                UNIQUE (consent_id, seq)
            ) STRICT""",
            "CREATE INDEX consents_received_at ON consents (received_at)",
            """CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
            BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END""",
            _NO_DELETE,
        ],
    ),
    # A side table the health check writes to: proof that a write would succeed now,
    # without a consent record (one row, overwritten).
    (
        2,
        [
            """CREATE TABLE health_probe (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                checked_at TEXT NOT NULL
            ) STRICT""",
        ],
    ),
]
LATEST = MIGRATIONS[-1][0]
_PROBE = (
    "INSERT INTO health_probe VALUES (1, ?)"
    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
)

_COLUMN_LIST = ", ".join(COLUMNS)
# A batch is one multi-row INSERT with bound parameters: one sqlite3_step, so the writer gives
# the GIL away once per batch (executemany re-takes it per row, and each re-take can wait a
# whole switch interval, 5 ms, behind the busy event-loop thread). Statements come in a few
# sizes (steps of at most 25 %), so each is compiled once and then found in the statement
# cache; a batch is padded to the next size with copies of its last record, which ON CONFLICT
# DO NOTHING skips. Compared with one statement over json_each(), this costs a third the CPU.
ROWS_PER_STATEMENT = (1, 2, 3, *(p * q // 4 for p in (4, 8, 16, 32, 64, 128, 256, 512, 1024)
                                 for q in (4, 5, 6, 7)), 2048)  # fmt: skip
assert ROWS_PER_STATEMENT[-1] * len(COLUMNS) <= 32766  # SQLite's limit on bound parameters
_ROW = "(" + ", ".join("?" * len(COLUMNS)) + ")"
_INSERTS = {
    rows: f"INSERT INTO consents ({_COLUMN_LIST}) VALUES "
    + ", ".join([_ROW] * rows)
    + " ON CONFLICT (consent_id, seq) DO NOTHING"
    for rows in ROWS_PER_STATEMENT
}
_SIZES = [next(size for size in ROWS_PER_STATEMENT if size >= n) for n in range(2049)]
_SELECT = f"SELECT {_COLUMN_LIST} FROM consents"


MAX_ROWS = ROWS_PER_STATEMENT[-1]
_PURGE = (
    "DELETE FROM consents WHERE id IN"
    " (SELECT id FROM consents WHERE received_at < ? ORDER BY received_at LIMIT ?)"
)


def _purge_chunk(conn: sqlite3.Connection, cutoff: str) -> int:
    """Delete up to PURGE_CHUNK records received before `cutoff` in one transaction.

    The delete trigger is lifted only inside it (DDL is transactional in SQLite).
    """
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DROP TRIGGER consents_no_delete")
    deleted = conn.execute(_PURGE, (cutoff, PURGE_CHUNK)).rowcount
    conn.execute(_NO_DELETE)
    conn.execute("COMMIT")
    return deleted


def _insert(conn: sqlite3.Connection, records: Sequence[ConsentRecord]) -> None:
    """Insert up to MAX_ROWS records with one statement (padded to its size)."""
    size = _SIZES[len(records)]
    rows = list(records)
    rows += [rows[-1]] * (size - len(rows))
    conn.execute(_INSERTS[size], list(chain.from_iterable(rows)))


def _record(row: tuple) -> ConsentRecord:
    values = list(row)
    gpc = values[COLUMNS.index("gpc")]
    values[COLUMNS.index("gpc")] = None if gpc is None else bool(gpc)
    return ConsentRecord(*values)


class SQLiteStore:
    kind = "sqlite"

    def __init__(self, path: Path, file_mode: int = files.PRIVATE) -> None:
        self.path = path
        self.where = str(path)
        self.file_mode = file_mode
        try:
            files.make_folder(path.parent, file_mode)
            if not files.create_file(path, file_mode):
                files.warn_if_exposed(path, file_mode)
        except OSError as error:
            raise PolicyError(
                Problem(path, f"cannot create the database file: {error.strerror}")
            ) from error
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._turn = WriteLock(path, file_mode)
        self._deferred = False  # defer_checkpoints()

    # --- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=len(_INSERTS) + 32,
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            if self._deferred:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as error:
            raise StoreUnavailable(f"{self.path}: {error}") from error
        if mode != "wal":
            conn.close()
            raise StoreUnavailable(f"{self.path}: cannot use WAL mode here (got {mode})")
        with self._lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            self._local.identity = self._identity()
        return conn

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _discard(self) -> None:
        """Drop this thread's connection after an error; the next call reconnects."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.rollback()
                conn.close()
            except sqlite3.Error:
                pass
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def _writing(self, timeout: float = BUSY_TIMEOUT) -> contextlib.AbstractContextManager[None]:
        return self._turn.held(timeout)

    def write_turn(self, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
        return self._writing(BUSY_TIMEOUT if wait is None else wait)

    @contextlib.contextmanager
    def _busy_timeout(self, conn: sqlite3.Connection, wait: float | None) -> Iterator[None]:
        """SQLite's own wait for a lock held outside the flock (the sqlite3 shell), if not the
        connection's usual BUSY_TIMEOUT."""
        if wait is None or wait == BUSY_TIMEOUT:
            yield
            return
        conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    def _check_writable(self) -> None:
        """Refuse writes the open connection would still accept (one stat per batch).

        An open file descriptor keeps writing after the file is made read-only, deleted or
        replaced; writing into a deleted file would acknowledge records that are lost.
        """
        try:
            st = os.stat(self.path)
            folder = os.stat(self.path.parent)
        except FileNotFoundError:
            self._discard()
            raise StoreUnavailable(f"{self.path} has disappeared") from None
        if not st.st_mode & 0o222:
            raise StoreUnavailable(f"{self.path} is read-only")
        if not folder.st_mode & 0o222:
            raise StoreUnavailable(f"{self.path.parent} is read-only")
        if getattr(self._local, "identity", None) != (st.st_dev, st.st_ino):
            self._discard()  # replaced (e.g. restored from a backup): reopen the new file

    # --- the protocol -----------------------------------------------------------------------

    def migrate(self) -> int:
        conn = self._conn()
        try:
            with self._writing():
                return self._migrate(conn)
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def _migrate(self, conn: sqlite3.Connection) -> int:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
        )
        try:
            apply_migrations(
                conn, MIGRATIONS, placeholder="?", applied_at=utc_timestamp(), where=self.where
            )
        except PolicyError:  # a newer schema; an sqlite3.Error discards the connection instead
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return LATEST

    def _check_free_space(self) -> None:
        try:
            fs = os.statvfs(self.path.parent)
        except OSError as error:
            raise StoreUnavailable(f"{self.path.parent}: {error.strerror}") from error
        free = fs.f_bavail * fs.f_frsize
        if free < MIN_FREE_BYTES:
            raise StoreUnavailable(f"the disk of {self.path} is full ({free:,} bytes free)")

    def probe(self, timeout: float) -> None:
        self._check_writable()
        self._check_free_space()
        conn = self._conn()
        try:
            with self._writing(timeout / 2), self._busy_timeout(conn, timeout / 2):
                conn.execute(_PROBE, (utc_timestamp(),))
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def insert_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[ConsentRecord]:
        self._check_writable()
        conn = self._conn()
        chunks = [records[i : i + MAX_ROWS] for i in range(0, len(records), MAX_ROWS)]
        try:
            with self.write_turn(wait), self._busy_timeout(conn, wait):
                before = conn.total_changes
                if len(chunks) == 1:
                    # One statement in autocommit mode is one atomic, fsynced transaction.
                    _insert(conn, chunks[0])
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    for chunk in chunks:
                        _insert(conn, chunk)
                    conn.execute("COMMIT")
            if conn.total_changes - before == len(records):
                return list(records)
            # Some keys existed already: answer each with what is stored under it.
            query = f"{_SELECT} WHERE consent_id = ? AND seq = ?"
            return [_record(conn.execute(query, (r.consent_id, r.seq)).fetchone()) for r in records]
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def defer_checkpoints(self) -> None:
        """Stop commits from checkpointing: the caller calls checkpoint() instead.

        SQLite's automatic checkpoint runs inside the commit that fills the WAL past 1000
        pages, so that commit, and every request waiting for it, took milliseconds longer.
        """
        self._deferred = True
        self.close()  # connections opened from now on are made without it

    def checkpoint(self) -> tuple[int, int]:
        """Copy committed WAL frames into the database file, beside the writer (PASSIVE).

        Return (frames in the WAL, frames copied). When they are equal, the next commit
        starts the WAL over from its beginning, so the file stops growing.
        """
        try:
            ((_, frames, copied),) = (
                self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            )
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error
        return frames, copied

    def records_for(self, consent_id: str) -> list[ConsentRecord]:
        try:
            rows = self._conn().execute(
                f"{_SELECT} WHERE consent_id = ? ORDER BY seq, id", (consent_id,)
            )
            return [_record(row) for row in rows]
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def iter_records(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[ConsentRecord]:
        low = utc_timestamp(since) if since else ""
        high = utc_timestamp(until) if until else "\uffff"
        conn = self._connect()  # its own connection: the caller may interleave other calls
        try:
            rows = conn.execute(
                f"{_SELECT} WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id",
                (low, high),
            )
            for row in rows:  # the cursor steps through the table; nothing is buffered
                yield _record(row)
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        finally:
            conn.close()
            with self._lock:
                self._all.remove(conn)

    def purge(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        cutoff = utc_timestamp(before)
        conn = self._conn()
        try:
            if dry_run:
                query = "SELECT count(*) FROM consents WHERE received_at < ?"
                return conn.execute(query, (cutoff,)).fetchone()[0]
            count = 0
            while True:  # short transactions: requests commit between them
                with self._writing(PURGE_TIMEOUT):
                    deleted = _purge_chunk(conn, cutoff)
                count += deleted
                if deleted < PURGE_CHUNK:
                    return count
                # A flock is not fair: without a pause this loop would take it straight back
                # from writers that poll for it.
                time.sleep(PURGE_PAUSE)
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
        self._turn.close()
