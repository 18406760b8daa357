"""The PostgreSQL store (psycopg 3), for several collector hosts sharing one database.

A batch is one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING: one round trip
and one durable commit however many records it holds. Connections are per thread and are
re-opened after any error, so the collector resumes by itself when the server is back.
Migrations take pg_advisory_xact_lock, so workers starting together migrate once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import Iterator, Sequence

from policysite.collector.core.record import (
    COLUMNS,
    ConsentRecord,
    canonical_choices,
    utc_timestamp,
)
from policysite.collector.core.store import StoreUnavailable, apply_migrations
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

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE consents (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                received_at timestamptz NOT NULL,
                consent_id uuid NOT NULL,
                seq bigint NOT NULL CHECK (seq >= 1),
                document text NOT NULL,
                version text NOT NULL,
                language text NOT NULL,
                policy_sha256 text NOT NULL,
                action text NOT NULL,
                choices jsonb NOT NULL,
                gpc boolean,
                page text,
                user_agent text,
                ip text,
                receipt text NOT NULL,
                UNIQUE (consent_id, seq)
            )""",
            "CREATE INDEX consents_received_at ON consents (received_at)",
            # Append-only: only `consents purge` sets policysite.purge inside its transaction.
            """CREATE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND current_setting('policysite.purge', true) = 'on' THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'consents are append-only (% refused): use `consents purge`',
                    TG_OP;
            END $$""",
            """CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
            FOR EACH ROW EXECUTE FUNCTION consents_append_only()""",
            """CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents
            FOR EACH STATEMENT EXECUTE FUNCTION consents_append_only()""",
            "REVOKE UPDATE, DELETE, TRUNCATE ON consents FROM PUBLIC",
        ],
    ),
    # A side table the health check writes to: proof that a write would succeed now,
    # without a consent record (one row, overwritten).
    (
        2,
        [
            """CREATE TABLE health_probe (
                id integer PRIMARY KEY CHECK (id = 1),
                checked_at timestamptz NOT NULL
            )""",
        ],
    ),
]
LATEST = MIGRATIONS[-1][0]
_PROBE = (
    "INSERT INTO health_probe VALUES (1, %s)"
    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
)

_TYPES = {
    "received_at": "timestamptz",
    "consent_id": "uuid",
    "seq": "int8",
    "choices": "jsonb",
    "gpc": "bool",
}
_COLUMN_LIST = ", ".join(COLUMNS)
_INSERT = (
    f"INSERT INTO consents ({_COLUMN_LIST}) SELECT * FROM unnest("
    + ", ".join(f"%s::{_TYPES.get(name, 'text')}[]" for name in COLUMNS)
    + ") ON CONFLICT (consent_id, seq) DO NOTHING"
)
_SELECT = f"SELECT {_COLUMN_LIST} FROM consents"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return url.split("@")[-1]
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    return f"postgresql://{params.get('user', '')}@{host}:{port}/{params.get('dbname', '')}"


def _record(row: tuple) -> ConsentRecord:
    values = list(row)
    values[0] = utc_timestamp(values[0])
    values[1] = str(values[1])
    values[8] = canonical_choices(values[8])
    return ConsentRecord(*values)


class PostgresStore:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
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
                conn.execute(_PROBE, (dt.datetime.now(dt.UTC),))
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def write_turn(self, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # the server orders concurrent transactions itself

    def insert_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[ConsentRecord]:
        conn = self._conn()
        columns = list(zip(*records, strict=True))  # records are tuples in COLUMNS order
        try:
            if wait is not None and wait != LOCK_TIMEOUT:  # only while the store is failing
                conn.execute(f"SET lock_timeout = {int(wait * 1000)}")
            try:
                inserted = conn.execute(_INSERT, [list(column) for column in columns]).rowcount
            finally:
                if wait is not None and wait != LOCK_TIMEOUT and not conn.broken:
                    conn.execute(f"SET lock_timeout = {int(LOCK_TIMEOUT * 1000)}")
            if inserted == len(records):
                return list(records)
            # Some keys existed (the new records are committed already): answer each with
            # what is stored under its key.
            found = {
                (r.consent_id, r.seq): r
                for r in map(
                    _record,
                    conn.execute(
                        f"{_SELECT} WHERE (consent_id, seq) IN"
                        " (SELECT * FROM unnest(%s::uuid[], %s::int8[]))",
                        [list(columns[1]), list(columns[2])],
                    ),
                )
            }
        except psycopg.Error as error:
            raise self._failed(conn, error) from error
        try:
            return [found[(r.consent_id, r.seq)] for r in records]
        except KeyError:  # purged between the two statements: the client will retry
            raise StoreUnavailable("a record changed while it was being read back") from None

    def records_for(self, consent_id: str) -> list[ConsentRecord]:
        conn = self._conn()
        try:
            rows = conn.execute(
                f"{_SELECT} WHERE consent_id = %s ORDER BY seq, id", (uuid.UUID(consent_id),)
            ).fetchall()
            conn.rollback()
        except psycopg.Error as error:
            raise self._failed(conn, error) from error
        return [_record(row) for row in rows]

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
                    f"{_SELECT} WHERE (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)"
                    " AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)"
                    " ORDER BY received_at, id",
                    {"since": since, "until": until},
                )
                for row in cursor:
                    yield _record(row)
        except psycopg.Error as error:
            raise StoreUnavailable(str(error).strip()) from error
        finally:
            conn.close()

    def purge(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        conn = self._conn()
        try:
            with conn.transaction():
                if dry_run:
                    row = conn.execute(
                        "SELECT count(*) FROM consents WHERE received_at < %s", (before,)
                    ).fetchone()
                    return row[0]
                conn.execute("SET LOCAL policysite.purge = 'on'")
                deleted = conn.execute("DELETE FROM consents WHERE received_at < %s", (before,))
                count = deleted.rowcount
            conn.commit()
            return count
        except psycopg.Error as error:
            raise self._failed(conn, error) from error

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
