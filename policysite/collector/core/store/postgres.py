"""The PostgreSQL store (psycopg 3), for several collector hosts sharing one database.

A batch is one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING: one round trip
and one durable commit however many records it holds. Connections are per thread and are
re-opened after any error, so the collector resumes by itself when the server is back.
Migrations take pg_advisory_xact_lock, so workers starting together migrate once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Iterator, Sequence

from policysite.collector.core import merkle, tree_log
from policysite.collector.core.checkpoint import Signer
from policysite.collector.core.record import (
    ConsentRecord,
    utc_timestamp,
)
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
from policysite.collector.core.store.postgres_rows import (
    AGGREGATE,
    INSERT,
    INSERT_NEW,
    SELECT,
    SELECT_KEYS,
    SELECT_STORED,
    columns_of,
    record_of,
    stored_of,
)
from policysite.collector.core.store.postgres_schema import LATEST, MIGRATIONS, PROBE
from policysite.collector.core.tree_log import Appended, ArchiveClock, Leaf, Logged
from policysite.errors import PolicyError, Problem

try:
    import psycopg
    from psycopg import conninfo
except ImportError as error:  # the optional extra is not installed
    raise PolicyError(
        Problem(
            None,
            "PostgreSQL needs psycopg, which is not installed",
            "pip install 'policysite[postgres]'",
        )
    ) from error

CONNECT_TIMEOUT = 2  # seconds (libpq's least); a request waits at most this long for its 503
LOCK_TIMEOUT = 5.0  # seconds an insert waits for a lock another session holds (as SQLite's)
MIGRATION_LOCK = 0x706F6C6963790001  # pg_advisory_xact_lock key: "policy" + 1
EXPORT_BATCH = 2000

# One session at a time appends to the tree (pg_advisory_xact_lock: "policy" + 2). It is held
# until the transaction ends, and a session that dies (kill -9, a lost host) ends with it, so
# the next collector takes over as soon as the server notices.
LOG_LOCK = 0x706F6C6963790002


_LOG = LogTables("%s")


def _lock_log(conn: psycopg.Connection, wait: float | None) -> None:
    """Take the log's turn for this transaction, waiting for locks at most `wait` seconds
    (only set while the store is failing; else LOCK_TIMEOUT, the session's)."""
    if wait is not None and wait != LOCK_TIMEOUT:
        conn.execute(f"SET LOCAL lock_timeout = {int(wait * 1000)}")
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOG_LOCK,))


class _Repeats(Exception):
    """Some keys of the batch exist already: its first insert is rolled back."""


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return url.split("@")[-1]
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    return f"postgresql://{params.get('user', '')}@{host}:{port}/{params.get('dbname', '')}"


class PostgresStore:
    kind = "postgresql"

    def __init__(self, url: str, signer: Signer | None = None) -> None:
        try:
            conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise PolicyError(
                Problem(None, f"--db: not a valid PostgreSQL URL: {error}")
            ) from error
        self.url = url
        self.where = redact(url)
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        # Without a signer the records are stored outside the log (measurements only).
        self._appender = tree_log.TreeAppender(signer) if signer is not None else None
        self._archive = ArchiveClock()

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        try:
            # Autocommit: a batch's INSERT is its own transaction, committed (and flushed, see
            # below) before its result comes back: one round trip, not BEGIN, INSERT, COMMIT.
            # Multi-statement work (migrations, purge) opens conn.transaction() explicitly.
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
            # A 201 promises durability whatever the server's default is; a session that holds
            # a lock on consents (LOCK TABLE, a long migration) makes requests wait LOCK_TIMEOUT
            # for their 503, not for as long as it holds it.
            conn.execute("SET synchronous_commit = on")
            conn.execute(f"SET lock_timeout = {int(LOCK_TIMEOUT * 1000)}")
        except psycopg.Error as error:
            raise StoreUnavailable(str(error).strip()) from error
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _failed(self, conn: psycopg.Connection, error: psycopg.Error) -> StoreUnavailable:
        """Roll back or drop the connection after an error; the next call reconnects."""
        try:
            conn.rollback()
        except psycopg.Error:
            conn.close()
        if isinstance(error, psycopg.OperationalError) or conn.broken:
            conn.close()
        return StoreUnavailable(str(error).strip())

    def migrate(self) -> int:
        conn = self._conn()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                # Only DDL when needed: a collector role may lack CREATE (docs/collector.md).
                if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
                    conn.execute(
                        "CREATE TABLE schema_version"
                        " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
                    )
                now = dt.datetime.now(dt.UTC)
                apply_migrations(
                    conn, MIGRATIONS, placeholder="%s", applied_at=now, where=self.where
                )
            conn.commit()
        except psycopg.Error as error:
            raise self._failed(conn, error) from error
        return LATEST

    def probe(self, timeout: float) -> None:
        conn = self._conn()
        milliseconds = max(1, int(timeout * 1000))
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL statement_timeout = {milliseconds}")
                # Shorter, so that a held lock is reported as one.
                conn.execute(f"SET LOCAL lock_timeout = {milliseconds * 4 // 5}")
                # The lock an INSERT takes: a session holding a conflicting one (LOCK TABLE)
                # would make every POST wait, so health must see it too. No row is written.
                conn.execute("LOCK TABLE consents IN ROW EXCLUSIVE MODE")
                conn.execute(PROBE, (dt.datetime.now(dt.UTC),))
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def write_turn(self, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # the server orders concurrent transactions itself

    def insert_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[ConsentRecord]:
        return [committed.record for committed in self.commit_batch(records, wait)]

    def commit_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[Committed]:
        conn = self._conn()
        appender = self._appender
        if appender is None:  # outside the log: one statement, as before the log existed
            return [Committed(r, None) for r in self._insert_unlogged(conn, records, wait)]
        leaves = tree_log.leaves(records)
        archive = self._archive.due()
        plan = None
        try:
            try:
                appended = self._append(conn, records, leaves, wait, archive)
            except _Repeats:
                plan, appended = self._append_repeats(conn, records, leaves, wait, archive)
        except psycopg.Error as error:
            appender.forget()
            raise self._failed(conn, error) from error
        except BaseException:
            appender.forget()
            raise
        if appended is not None:
            appender.committed(appended)
            if archive:
                self._archive.saved()
        try:
            return answer_batch(records, leaves, plan, appended, self._logged)
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def _append(
        self,
        conn: psycopg.Connection,
        records: Sequence[ConsentRecord],
        leaves: Sequence[Leaf],
        wait: float | None,
        archive: bool,
    ) -> Appended:
        """The usual batch, every key new, in two round trips (pipeline mode): take the log's
        lock and read its size; then insert the records and the tree's batch, sign, commit.
        The insert has no ON CONFLICT: a key stored before fails it and rolls everything
        back (_Repeats), and the caller takes the slower path that looks keys up."""
        appender = self._appender
        assert appender is not None
        try:
            with conn.pipeline() as pipeline:
                conn.execute("BEGIN")
                _lock_log(conn, wait)
                size = _LOG.tree_size(conn)
                conn.execute(INSERT_NEW, columns_of(records, leaves, range(len(records)), size))
                now = dt.datetime.now(dt.UTC)
                appended = _LOG.append(
                    conn, appender, size, [leaf.hash for leaf in leaves], now, archive
                )
                conn.execute("COMMIT")
                pipeline.sync()
        except psycopg.errors.UniqueViolation:
            conn.execute("ROLLBACK")
            raise _Repeats from None
        except BaseException:
            if not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        return appended

    def _append_repeats(
        self,
        conn: psycopg.Connection,
        records: Sequence[ConsentRecord],
        leaves: Sequence[Leaf],
        wait: float | None,
        archive: bool,
    ) -> tuple[BatchPlan | None, Appended | None]:
        """A batch with keys stored before, or repeated in it: insert what is new, look up
        the rest, in one transaction."""
        appender = self._appender
        assert appender is not None
        appended = None
        with conn.transaction():
            _lock_log(conn, wait)
            size = _LOG.tree_size(conn)
            plan = self._insert_new(conn, records, leaves, size)
            new = range(len(records)) if plan is None else plan.new
            if new:
                hashes = [leaves[i].hash for i in new]
                now = dt.datetime.now(dt.UTC)
                appended = _LOG.append(conn, appender, size, hashes, now, archive)
        return plan, appended

    def _insert_unlogged(
        self, conn: psycopg.Connection, records: Sequence[ConsentRecord], wait: float | None
    ) -> list[ConsentRecord]:
        """Records stored outside the log (it is off): one autocommit INSERT, one round trip."""
        try:
            if wait is not None and wait != LOCK_TIMEOUT:
                conn.execute(f"SET lock_timeout = {int(wait * 1000)}")
            try:
                columns = columns_of(records, None, range(len(records)), 0)
                inserted = conn.execute(INSERT, columns).rowcount
            finally:
                if wait is not None and wait != LOCK_TIMEOUT and not conn.broken:
                    conn.execute(f"SET lock_timeout = {int(LOCK_TIMEOUT * 1000)}")
            if inserted == len(records):
                return list(records)
            keys = [[r.consent_id for r in records], [r.seq for r in records]]
            found = {
                (s.record.consent_id, s.record.seq): s.record
                for s in map(stored_of, conn.execute(SELECT_KEYS, keys))
            }
        except psycopg.Error as error:
            raise self._failed(conn, error) from error
        try:
            return [found[(r.consent_id, r.seq)] for r in records]
        except KeyError:  # purged between the two statements: the client will retry
            raise StoreUnavailable("a record changed while it was being read back") from None

    def _insert_new(
        self,
        conn: psycopg.Connection,
        records: Sequence[ConsentRecord],
        leaves: Sequence[Leaf] | None,
        size: int,
    ) -> BatchPlan | None:
        """Insert the records whose keys are new, the k-th at leaf index size + k; None when
        that was all of them (the usual case: no lookup first, the count shows it)."""
        try:
            with conn.transaction():  # a savepoint
                columns = columns_of(records, leaves, range(len(records)), size)
                if conn.execute(INSERT, columns).rowcount != len(records):
                    raise _Repeats
            return None
        except _Repeats:
            pass
        keys = [[r.consent_id for r in records], [r.seq for r in records]]
        stored = {
            (s.record.consent_id, s.record.seq): s
            for s in map(stored_of, conn.execute(SELECT_KEYS, keys))
        }
        plan = plan_batch(records, stored)
        if plan.new:
            columns = columns_of(records, leaves, plan.new, size)
            if conn.execute(INSERT, columns).rowcount != len(plan.new):
                raise StoreUnavailable(
                    f"{self.where}: the log's leaves and its records disagree"
                    " (run `consents verify`)"
                )
        return plan

    def _logged(self, stored: Stored) -> Logged | None:
        return _LOG.logged(self._conn(), stored)

    def receipts_for(self, consent_id: str) -> list[Committed]:
        conn = self._conn()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                rows = conn.execute(
                    f"{SELECT_STORED} WHERE consent_id = %s ORDER BY seq, id",
                    (uuid.UUID(consent_id),),
                ).fetchall()
                return [Committed(s.record, self._logged(s)) for s in map(stored_of, rows)]
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    @contextlib.contextmanager
    def log_snapshot(self) -> Iterator[LogSnapshot]:
        try:  # its own connection: server-side cursors in one REPEATABLE READ transaction
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as error:
            raise StoreUnavailable(str(error).strip()) from error
        names = itertools.count()

        def stream(query: str) -> Iterator[tuple]:
            with conn.cursor(name=f"consent_log_{next(names)}") as cursor:
                cursor.itersize = EXPORT_BATCH
                cursor.execute(query)
                yield from cursor

        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield LogSnapshot(conn, stream, stored_of, SELECT_STORED)
        except psycopg.Error as error:
            raise StoreUnavailable(str(error).strip()) from error
        finally:
            conn.close()

    def latest_checkpoint(self) -> tuple[int, str] | None:
        conn = self._conn()
        try:
            return _LOG.head(conn)
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        conn = self._conn()
        try:
            return merkle.consistency_proof(_LOG.nodes(conn), old_size, new_size)
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def records_for(self, consent_id: str) -> list[ConsentRecord]:
        conn = self._conn()
        try:
            rows = conn.execute(
                f"{SELECT} WHERE consent_id = %s ORDER BY seq, id", (uuid.UUID(consent_id),)
            ).fetchall()
            conn.rollback()
        except psycopg.Error as error:
            raise self._failed(conn, error) from error
        return [record_of(row) for row in rows]

    def iter_records(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[ConsentRecord]:
        try:  # its own connection, with a server-side cursor: rows arrive EXPORT_BATCH at a time
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as error:
            raise StoreUnavailable(str(error).strip()) from error
        try:
            with conn.transaction(), conn.cursor(name="consents_export") as cursor:
                cursor.itersize = EXPORT_BATCH
                cursor.execute(
                    f"{SELECT} WHERE (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)"
                    " AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)"
                    " ORDER BY received_at, id",
                    {"since": since, "until": until},
                )
                for row in cursor:
                    yield record_of(row)
        except psycopg.Error as error:
            raise StoreUnavailable(str(error).strip()) from error
        finally:
            conn.close()

    def aggregate(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Aggregate:
        conn = self._conn()
        bounds = {"since": since, "until": until}
        try:
            with conn.transaction():  # one snapshot for all of them
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                decisions = [
                    (*row[:-2], utc_timestamp(row[-2]), utc_timestamp(row[-1]))
                    for row in conn.execute(AGGREGATE.decisions, bounds)
                ]
                rest = [conn.execute(query, bounds).fetchall() for query in AGGREGATE[1:]]
        except psycopg.Error as error:
            raise self._failed(conn, error) from error
        return Aggregate(decisions, *rest)

    def purge(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        return self._remove("purged", "received_at < %s", before, dry_run)

    def erase(self, consent_id: str, *, dry_run: bool = False) -> int:
        return self._remove("erased", "consent_id = %s", uuid.UUID(consent_id), dry_run)

    def _remove(self, why: str, where: str, key: object, dry_run: bool) -> int:
        """Delete the records `where` selects, keeping a row in log_removed for each leaf
        (its hash stays in log_batches), in one transaction."""
        conn = self._conn()
        try:
            with conn.transaction():
                if dry_run:
                    return conn.execute(
                        f"SELECT count(*) FROM consents WHERE {where}", (key,)
                    ).fetchone()[0]
                conn.execute("SET LOCAL policysite.purge = 'on'")
                cursor = conn.execute(
                    f"WITH gone AS (DELETE FROM consents WHERE {where} RETURNING leaf_index),"
                    " kept AS (INSERT INTO log_removed SELECT leaf_index, %s, now() FROM gone"
                    " WHERE leaf_index IS NOT NULL)"
                    " SELECT count(*) FROM gone",
                    (key, why),
                )
                count = cursor.fetchone()[0]
            return count
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
