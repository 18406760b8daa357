"""The consent store: one protocol, two implementations (SQLite and PostgreSQL).

Both are synchronous and thread-safe (a connection per thread): the service calls them from
its group-commit writer thread and a small reader pool, never from the event loop. Records are
append-only; `purge` is the only way to delete, and only operators run it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from policysite.collector.core import files
from policysite.collector.core.record import ConsentRecord
from policysite.errors import PolicyError, Problem

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailable(Exception):
    """The database cannot be reached or written right now; the caller may retry later."""


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

    def records_for(self, consent_id: str) -> list[ConsentRecord]: ...

    def iter_records(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[ConsentRecord]:
        """Stream records with since <= received_at < until, oldest first, without buffering."""
        ...

    def purge(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        """Delete records received before `before`; return how many (would be) deleted."""
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


def open_store(db: str, *, create: bool = True, file_mode: int = files.PRIVATE) -> Store:
    """Given --db (a file path or a postgresql:// URL), return a migrated store.

    `file_mode` is the mode of the SQLite files it creates (files.py). Raise PolicyError
    for a bad URL or a database that cannot be reached or created, so the collector refuses
    to start instead of answering 503 forever.
    """
    if not db:
        raise PolicyError("--db is empty: give a file path or a postgresql:// URL")
    if db.startswith(POSTGRES_SCHEMES):
        from policysite.collector.core.store.postgres import PostgresStore

        store: Store = PostgresStore(db)
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
        store = SQLiteStore(path, file_mode)
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
