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
from pathlib import Path

from policysite.collector.core import files, merkle, tree_log
from policysite.collector.core.checkpoint import Signer
from policysite.collector.core.record import ConsentRecord, utc_timestamp
from policysite.collector.core.store import (
    Aggregate,
    BatchPlan,
    Committed,
    Stored,
    StoreUnavailable,
    answer_batch,
    apply_migrations,
    plan_batch,
)
from policysite.collector.core.store.log_tables import LogSnapshot, LogTables
from policysite.collector.core.store.sqlite_rows import (
    AGGREGATE,
    RECORD_INSERTS,
    SELECT,
    SELECT_STORED,
    insert_rows,
    record_of,
    rows_of,
    stored_of,
)
from policysite.collector.core.store.sqlite_schema import LATEST, MIGRATIONS, NO_DELETE, PROBE
from policysite.collector.core.store.write_lock import WriteLock
from policysite.collector.core.tree_log import ArchiveClock, Leaf, Logged
from policysite.errors import PolicyError, Problem

BUSY_TIMEOUT = 5.0  # seconds a writer waits for another process's write lock
PURGE_TIMEOUT = 60.0  # an operator's purge waits longer for its turns than a request does
PURGE_CHUNK = 1000  # rows deleted per transaction: each holds the write turn a few ms
PURGE_PAUSE = 0.01  # seconds between them, for the writers waiting
MIN_FREE_BYTES = 1 << 20  # less free space than this on the database's disk: unhealthy

_LOG = LogTables("?")


_REMOVE = {  # the records each removal takes, at most PURGE_CHUNK at a time
    "purged": "SELECT id, leaf_index FROM consents WHERE received_at < ?"
    " ORDER BY received_at LIMIT ?",
    "erased": "SELECT id, leaf_index FROM consents WHERE consent_id = ? LIMIT ?",
}


def _bounds(since: dt.datetime | None, until: dt.datetime | None) -> tuple[str, str]:
    """[since, until) as received_at text compares: everything when a bound is None."""
    return (utc_timestamp(since) if since else "", utc_timestamp(until) if until else "\uffff")


def _remove_chunk(conn: sqlite3.Connection, why: str, key: str) -> int:
    """Delete up to PURGE_CHUNK records that `why`'s query selects for `key`, in one
    transaction, keeping a row in log_removed for each leaf (its hash stays in log_batches).

    The delete trigger is lifted only inside it (DDL is transactional in SQLite).
    """
    conn.execute("BEGIN IMMEDIATE")
    rows = conn.execute(_REMOVE[why], (key, PURGE_CHUNK)).fetchall()
    now = utc_timestamp()
    conn.executemany(
        "INSERT INTO log_removed VALUES (?, ?, ?)",
        [(leaf, why, now) for _, leaf in rows if leaf is not None],
    )
    conn.execute("DROP TRIGGER consents_no_delete")
    conn.executemany("DELETE FROM consents WHERE id = ?", [(row_id,) for row_id, _ in rows])
    conn.execute(NO_DELETE)
    conn.execute("COMMIT")
    return len(rows)


class SQLiteStore:
    kind = "sqlite"

    def __init__(
        self, path: Path, file_mode: int = files.PRIVATE, signer: Signer | None = None
    ) -> None:
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
        # Without a signer the records are stored outside the log (measurements only).
        self._appender = tree_log.TreeAppender(signer) if signer is not None else None
        self._archive = ArchiveClock()

    # --- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=len(RECORD_INSERTS) + 32,
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
                conn.execute(PROBE, (utc_timestamp(),))
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def insert_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[ConsentRecord]:
        return [committed.record for committed in self.commit_batch(records, wait)]

    def commit_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[Committed]:
        self._check_writable()
        conn = self._conn()
        appender = self._appender
        leaves = tree_log.leaves(records) if appender is not None else None
        appended = None
        archive = self._archive.due()
        try:
            with self.write_turn(wait), self._busy_timeout(conn, wait):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    size = _LOG.tree_size(conn) if appender is not None else 0
                    plan = self._insert_new(conn, records, leaves, size)
                    new = range(len(records)) if plan is None else plan.new
                    if appender is not None and leaves is not None and new:
                        appended = _LOG.append(
                            conn, appender, size, [leaves[i].hash for i in new],
                            utc_timestamp(), archive,
                        )  # fmt: skip
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if appender is not None:
                        appender.forget()
                    raise
            if appended is not None:
                appender.committed(appended)  # type: ignore[union-attr]
                if archive:
                    self._archive.saved()
            return answer_batch(records, leaves, plan, appended, self._logged)
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def _insert_new(
        self,
        conn: sqlite3.Connection,
        records: Sequence[ConsentRecord],
        leaves: Sequence[Leaf] | None,
        size: int,
    ) -> BatchPlan | None:
        """Insert the records whose keys are new, the k-th at leaf index size + k; None when
        that was all of them (the usual case: no lookup first, the count shows it)."""
        before = conn.total_changes
        conn.execute("SAVEPOINT batch")
        insert_rows(conn, RECORD_INSERTS, rows_of(records, leaves, range(len(records)), size))
        if conn.total_changes - before == len(records):
            conn.execute("RELEASE batch")
            return None
        conn.execute("ROLLBACK TO batch")  # some keys exist, or repeat within the batch
        keys = {(r.consent_id, r.seq) for r in records}
        query = f"{SELECT_STORED} WHERE consent_id = ? AND seq = ?"
        stored = {}
        for key in keys:
            row = conn.execute(query, key).fetchone()
            if row is not None:
                stored[key] = stored_of(row)
        plan = plan_batch(records, stored)
        before = conn.total_changes
        insert_rows(conn, RECORD_INSERTS, rows_of(records, leaves, plan.new, size))
        if conn.total_changes - before != len(plan.new):
            raise StoreUnavailable(
                f"{self.path}: the log's leaves and its records disagree (run `consents verify`)"
            )
        conn.execute("RELEASE batch")
        return plan

    def _logged(self, stored: Stored) -> Logged | None:
        return _LOG.logged(self._conn(), stored)

    def receipts_for(self, consent_id: str) -> list[Committed]:
        conn = self._conn()
        try:
            conn.execute("BEGIN")  # one snapshot: the head and the nodes under it
            try:
                rows = conn.execute(
                    f"{SELECT_STORED} WHERE consent_id = ? ORDER BY seq, id", (consent_id,)
                ).fetchall()
                return [Committed(s.record, self._logged(s)) for s in map(stored_of, rows)]
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    @contextlib.contextmanager
    def log_snapshot(self) -> Iterator[LogSnapshot]:
        with self._own_connection() as conn:  # a read transaction sees one moment of the file
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM log_head").fetchone()  # the snapshot starts here
            yield LogSnapshot(conn, conn.execute, stored_of, SELECT_STORED)

    @contextlib.contextmanager
    def _own_connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of the caller's own, closed after: for reads that stream while the
        caller may interleave other calls; an error on it is StoreUnavailable."""
        conn = self._connect()
        try:
            yield conn
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        finally:
            conn.close()
            with self._lock:
                self._all.remove(conn)

    def latest_checkpoint(self) -> tuple[int, str] | None:
        try:
            return _LOG.head(self._conn())
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        try:
            return merkle.consistency_proof(_LOG.nodes(self._conn()), old_size, new_size)
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
                f"{SELECT} WHERE consent_id = ? ORDER BY seq, id", (consent_id,)
            )
            return [record_of(row) for row in rows]
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def iter_records(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[ConsentRecord]:
        with self._own_connection() as conn:
            rows = conn.execute(
                f"{SELECT} WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id",
                _bounds(since, until),
            )
            for row in rows:  # the cursor steps through the table; nothing is buffered
                yield record_of(row)

    def aggregate(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Aggregate:
        bounds = (
            utc_timestamp(since) if since else "",
            utc_timestamp(until) if until else "\uffff",
        )
        with self._own_connection() as conn:
            conn.execute("BEGIN")  # one snapshot for all of them
            try:
                return Aggregate(*(conn.execute(q, bounds).fetchall() for q in AGGREGATE))
            finally:
                conn.execute("ROLLBACK")

    def purge(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        cutoff = utc_timestamp(before)
        if dry_run:
            return self._count("SELECT count(*) FROM consents WHERE received_at < ?", cutoff)
        return self._remove("purged", cutoff)

    def erase(self, consent_id: str, *, dry_run: bool = False) -> int:
        if dry_run:
            return self._count("SELECT count(*) FROM consents WHERE consent_id = ?", consent_id)
        return self._remove("erased", consent_id)

    def _count(self, query: str, key: str) -> int:
        try:
            return self._conn().execute(query, (key,)).fetchone()[0]
        except sqlite3.Error as error:
            self._discard()
            raise StoreUnavailable(str(error)) from error

    def _remove(self, why: str, key: str) -> int:
        conn = self._conn()
        try:
            count = 0
            while True:  # short transactions: requests commit between them
                with self._writing(PURGE_TIMEOUT):
                    deleted = _remove_chunk(conn, why, key)
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
