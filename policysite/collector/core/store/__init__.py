"""The consent store: one protocol, two implementations (SQLite and PostgreSQL).

Both are synchronous and thread-safe (a connection per thread): the service calls them from
its group-commit writer thread and a small reader pool, never from the event loop. Records are
append-only; `purge` and `erase` are the only ways to delete, and only operators run them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from policysite.collector.core import files
from policysite.collector.core.checkpoint import Signer
from policysite.collector.core.record import ConsentRecord
from policysite.collector.core.tree_log import Appended, Leaf, Logged
from policysite.errors import PolicyError, Problem

if TYPE_CHECKING:
    from policysite.collector.core.store.log_tables import LogSnapshot

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailable(Exception):
    """The database cannot be reached or written right now; the caller may retry later."""


class Committed(NamedTuple):
    """What a commit answers for one record: the record stored under its key (the one sent,
    or the one stored before), and where it is in the log (None when the log is off)."""

    record: ConsentRecord
    logged: Logged | None


class Aggregate(NamedTuple):
    """The report's and `consents stats`' counts, added up by the database (docs/collector.md,
    *Report*): rows grouped by day (UTC), language and policy version, which the commands
    then add up along each dimension, so no record is ever held in memory."""

    # (day, language, document, version, action, gpc, decisions, first received_at, last)
    decisions: list[tuple]
    # (day, language, document, version, category, decisions that granted it)
    grants: list[tuple]
    pages: list[tuple[str | None, int]]  # the most frequent pages first, at most TOP_PAGES
    # (day, category, decisions that refused it right after one of the same id granted it)
    withdrawals: list[tuple]
    # (document, version, action, decisions): answers of visitors whose previous decision
    # was for another version, that is, who were asked again
    answers_again: list[tuple]


TOP_PAGES = 20


class Stored(NamedTuple):
    """A record read back with its place in the log (None: stored while the log was off)."""

    record: ConsentRecord
    leaf_index: int | None
    ip_salt: bytes | None


class BatchPlan(NamedTuple):
    """Which records of a batch are new: the rest repeat a key stored before, or one earlier
    in the same batch."""

    new: list[int]  # positions to insert, in the order they join the log
    same_as: dict[int, int]  # a repeat within the batch: position → the one it repeats
    existing: dict[int, Stored]  # position → what was stored under its key before


def plan_batch(
    records: Sequence[ConsentRecord], stored: dict[tuple[str, int], Stored]
) -> BatchPlan:
    """The plan for `records`, given what is stored under their keys (`stored`)."""
    plan = BatchPlan([], {}, {})
    first: dict[tuple[str, int], int] = {}
    for position, record in enumerate(records):
        key = (record.consent_id, record.seq)
        if key in stored:
            plan.existing[position] = stored[key]
        elif key in first:
            plan.same_as[position] = first[key]
        else:
            first[key] = position
            plan.new.append(position)
    return plan


def answer_batch(
    records: Sequence[ConsentRecord],
    leaves: Sequence[Leaf] | None,
    plan: BatchPlan | None,
    appended: Appended | None,
    logged_before: Callable[[Stored], Logged | None],
) -> list[Committed]:
    """Each record's Committed once the batch is committed. `plan` None: every record was
    new; `logged_before` gives the proof of a record stored before, to the latest checkpoint."""
    proofs = appended.proofs() if appended is not None else []
    if plan is None:
        plan = BatchPlan(list(range(len(records))), {}, {})
    logged: dict[int, Logged] = {}
    if appended is not None and leaves is not None:
        for k, position in enumerate(plan.new):
            leaf = leaves[position]
            logged[position] = Logged(
                appended.first + k, leaf.ip_commitment, leaf.hash, proofs[k], appended.checkpoint
            )
    answers = []
    for position in range(len(records)):
        before = plan.existing.get(position)
        if before is not None:
            answers.append(Committed(before.record, logged_before(before)))
        else:
            position = plan.same_as.get(position, position)
            answers.append(Committed(records[position], logged.get(position)))
    return answers


class Store(Protocol):
    kind: str  # "sqlite" or "postgresql"
    where: str  # for messages: the file, or the URL without its password

    def migrate(self) -> int:
        """Bring the schema to the current version (safe when several processes race)."""
        ...

    def probe(self, timeout: float) -> None:
        """Raise StoreUnavailable, saying why, unless a write would succeed now.

        It writes one row of the side table health_probe (never a consent), waiting at most
        about `timeout` seconds for the write turn, and checks what a write needs that the
        write itself may not show yet (SQLite: the file and folder are writable, the disk
        is not full).
        """
        ...

    def write_turn(self, wait: float | None = None) -> AbstractContextManager[None]:
        """Hold the turn to write, where writers in several processes take turns (SQLite).

        Raise StoreUnavailable when the turn cannot be taken within `wait` seconds (None: the
        store's busy timeout, 5 s). insert_batch takes it itself; holding it around
        insert_batch lets the caller gather what arrives while it waits.
        """
        ...

    def insert_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[ConsentRecord]:
        """Durably commit the new records in one transaction, waiting at most about `wait`
        seconds (None: the busy timeout) for locks others hold; else StoreUnavailable.

        Return, for each input, the record stored under its (consent_id, seq): the input
        itself when it was inserted, or the earlier record when the key already existed.
        """
        ...

    def commit_batch(
        self, records: Sequence[ConsentRecord], wait: float | None = None
    ) -> list[Committed]:
        """insert_batch, answering each record with its place in the log and its inclusion
        proof to the checkpoint signed for this batch (or, for a record stored before, to
        the latest one)."""
        ...

    def records_for(self, consent_id: str) -> list[ConsentRecord]: ...

    def receipts_for(self, consent_id: str) -> list[Committed]:
        """The consent id's records, each with its inclusion proof to the latest checkpoint."""
        ...

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The latest signed checkpoint, (tree size, note), or None before the first."""
        ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[new_size]) from the stored nodes (O(log n) reads)."""
        ...

    def log_snapshot(self) -> AbstractContextManager[LogSnapshot]:
        """One consistent, streamed read of the whole log (log_tables.LogSnapshot)."""
        ...

    def iter_records(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[ConsentRecord]:
        """Stream records with since <= received_at < until, oldest first, without buffering."""
        ...

    def aggregate(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Aggregate:
        """The counts of the records received in [since, until), grouped (Aggregate)."""
        ...

    def purge(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        """Delete records received before `before`; return how many (would be) deleted.

        Each leaf's hash stays, marked purged in log_removed: the tree and every checkpoint
        still verify without the record."""
        ...

    def erase(self, consent_id: str, *, dry_run: bool = False) -> int:
        """Delete every record of a consent id (a request for erasure), as purge does."""
        ...

    def close(self) -> None: ...


Migrations = Sequence[tuple[int, Sequence[str]]]  # (version, its statements), oldest first


def apply_migrations(
    conn: Any, migrations: Migrations, *, placeholder: str, applied_at: object, where: str
) -> int:
    """Run the migrations newer than schema_version records, inside the caller's transaction.

    Both stores share this; each passes its parameter marker ("?" or "%s") and the time to
    record. A database newer than this collector is refused: running old code on it could
    write what the new schema forbids. Return the latest version.
    """
    latest = migrations[-1][0]
    current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    if current > latest:
        raise PolicyError(
            Problem(
                None,
                f"{where}: database schema version {current} is newer than "
                f"this collector's ({latest})",
                "upgrade policysite before running it against this database",
            )
        )
    record = f"INSERT INTO schema_version VALUES ({placeholder}, {placeholder})"
    for version, statements in migrations:
        if version > current:
            for statement in statements:
                conn.execute(statement)
            conn.execute(record, (version, applied_at))
    return latest


def open_store(
    db: str, *, create: bool = True, file_mode: int = files.PRIVATE, signer: Signer | None = None
) -> Store:
    """Given --db (a file path or a postgresql:// URL), return a migrated store.

    `file_mode` is the mode of the SQLite files it creates (files.py). Records it commits join
    the log, each batch's checkpoint signed by `signer`; without one they are stored outside
    the log (commands that only read or remove need none; the collector always has one
    unless the log is turned off for a measurement). Raise PolicyError
    for a bad URL or a database that cannot be reached or created, so the collector refuses
    to start instead of answering 503 forever.
    """
    if not db:
        raise PolicyError("--db is empty: give a file path or a postgresql:// URL")
    if db.startswith(POSTGRES_SCHEMES):
        from policysite.collector.core.store.postgres import PostgresStore

        store: Store = PostgresStore(db, signer)
    elif "://" in db:
        scheme = db.split("://", 1)[0]
        raise PolicyError(
            Problem(
                None,
                f"--db: unsupported database URL scheme {scheme}://",
                "give a SQLite file path (var/consents.sqlite3) or postgresql://user@host/db",
            )
        )
    else:
        from policysite.collector.core.store.sqlite import SQLiteStore

        path = Path(db)
        if not create and not path.exists():
            raise PolicyError(
                Problem(
                    path,
                    "no consent database here",
                    "pass --db (or DATABASE_URL) pointing at the collector's database",
                )
            )
        store = SQLiteStore(path, file_mode, signer)
    try:
        store.migrate()
    except StoreUnavailable as error:
        store.close()
        raise PolicyError(
            Problem(None, f"cannot open the consent store {store.where}: {error}")
        ) from error
    except BaseException:
        store.close()
        raise
    return store
