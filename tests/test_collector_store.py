"""The store on SQLite and PostgreSQL: migrations, idempotency, append-only, ranges, purge."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

import psycopg
import pytest
from collector_fixtures.support import fresh_database, make_record

from policysite.collector.core.record import verify_receipt
from policysite.collector.core.store import open_store
from policysite.errors import PolicyError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "new" / "folder" / "consents.sqlite3")
    return fresh_database(request.getfixturevalue("postgres").url)


@pytest.fixture
def store(db):
    opened = open_store(db)
    yield opened
    opened.close()


def sql(db: str, statement: str) -> list[tuple]:
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as conn:
            return conn.execute(statement).fetchall()
    with sqlite3.connect(db) as conn:
        return conn.execute(statement).fetchall()


def test_store_creates_its_schema_once_and_records_the_version(db, store):
    assert store.migrate() == 3  # again: nothing to do
    assert [row[0] for row in sql(db, "SELECT version FROM schema_version")] == [1, 2, 3]
    if store.kind == "sqlite":
        assert sql(db, "PRAGMA journal_mode") == [("wal",)]


def test_store_migrations_are_safe_when_workers_start_together(db):
    code = (
        "import sys; from policysite.collector.core.store import open_store; "
        "open_store(sys.argv[1])"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, db], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [w.communicate(timeout=60)[1].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], errors
    assert [row[0] for row in sql(db, "SELECT version FROM schema_version")] == [1, 2, 3]


def test_store_refuses_a_schema_newer_than_it_knows(db, store):
    store.close()
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as conn:
            conn.execute("INSERT INTO schema_version VALUES (99, now())")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(PolicyError, match="schema version 99 is newer than this collector's"):
        open_store(db)


def test_store_insert_is_idempotent_on_consent_id_and_seq(store):
    first = make_record("2026-11-25T01:00:00.000000Z")
    assert store.insert_batch([first]) == [first]
    other = make_record("2026-11-25T02:00:00.000000Z")
    later = first._replace(received_at="2026-11-26T00:00:00.000000Z", receipt="r")
    # A key that exists and the same key twice in one batch: each gets what is stored under it.
    assert store.insert_batch([later, other, other]) == [first, other, other]
    assert [r.receipt for r in store.records_for(first.consent_id)] == [first.receipt]
    assert all(verify_receipt(r) for r in store.iter_records())
    assert len(list(store.iter_records())) == 2


def test_store_inserts_batches_of_any_size_in_one_go(store):
    # Sizes between the statement sizes (padded), and past the largest one (several statements
    # in one transaction), with an existing key at the very end, where the padding copies it.
    first = make_record("2026-11-25T01:00:00.000000Z")
    store.insert_batch([first])
    for size in (2, 9, 2049, 3000):
        batch = [make_record("2026-11-25T02:00:00.000000Z") for _ in range(size - 1)]
        assert store.insert_batch([*batch, first]) == [*batch, first]
    assert len(list(store.iter_records())) == 1 + 1 + 8 + 2048 + 2999


def test_store_refuses_update_and_delete(db, store):
    store.insert_batch([make_record("2026-11-25T01:00:00.000000Z")])
    for statement in ("UPDATE consents SET action = 'accept_all'", "DELETE FROM consents"):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            sql(db, statement)
    if store.kind == "postgresql":
        with pytest.raises(psycopg.Error, match="append-only"):
            sql(db, "TRUNCATE consents")
    assert sql(db, "SELECT count(*) FROM consents") == [(1,)]


def test_store_streams_records_in_a_date_range(store):
    days = ["2026-11-20", "2026-11-23", "2026-11-24", "2026-11-30"]
    store.insert_batch([make_record(f"{day}T10:00:00.000000Z") for day in days])
    since = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    until = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    records = store.iter_records(since, until)  # streaming: test_export_streams_instead_of...
    assert [r.received_at[:10] for r in records] == ["2026-11-23", "2026-11-24"]


def test_store_purge_is_the_only_delete_and_counts(db, store):
    store.insert_batch(
        [make_record(f"2026-{month}-01T00:00:00.000000Z") for month in ("01", "02", "03")]
    )
    cutoff = dt.datetime(2026, 2, 15, tzinfo=dt.UTC)
    assert store.purge(cutoff, dry_run=True) == 2
    assert store.purge(cutoff) == 2
    assert [r.received_at[:7] for r in store.iter_records()] == ["2026-03"]
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
        sql(db, "DELETE FROM consents")  # the guard is back after the purge


def test_open_store_refuses_bad_urls_and_unreachable_servers(tmp_path):
    with pytest.raises(PolicyError, match="unsupported database URL scheme mysql://"):
        open_store("mysql://localhost/x")
    with pytest.raises(PolicyError, match="cannot open the consent store postgresql://"):
        open_store("postgresql://postgres:secret@127.0.0.1:1/nothing")
    with pytest.raises(PolicyError) as caught:
        open_store("postgresql://postgres:secret@127.0.0.1:1/nothing")
    assert "secret" not in str(caught.value)
    with pytest.raises(PolicyError, match="no consent database here"):
        open_store(str(tmp_path / "missing.sqlite3"), create=False)


def test_both_stores_migrate_through_one_function(db, store):
    # One migration newer than the store's schema: only it runs, and its version is recorded.
    from policysite.collector.core.store import apply_migrations

    store.close()
    postgres = db.startswith("postgresql://")
    latest = sql(db, "SELECT max(version) FROM schema_version")[0][0]
    newer = [
        (latest, ["CREATE TABLE never_run (x integer)"]),
        (latest + 1, ["CREATE TABLE t (x integer)"]),
    ]
    conn = psycopg.connect(db) if postgres else sqlite3.connect(db)
    with conn:
        applied = apply_migrations(
            conn,
            newer,
            placeholder="%s" if postgres else "?",
            applied_at=dt.datetime.now(dt.UTC).isoformat(),
            where=db,
        )
    conn.close()
    assert applied == latest + 1
    assert sql(db, "SELECT max(version) FROM schema_version") == [(latest + 1,)]
    assert sql(db, "SELECT count(*) FROM t") == [(0,)]
    with pytest.raises(PolicyError, match="newer than this collector's"):
        open_store(db)  # the stores' own migrate() goes through the same check


def test_export_streams_instead_of_loading_every_record(store):
    n = 20_000  # 10 PostgreSQL fetches of EXPORT_BATCH rows
    # Reading every record while keeping none must peak far below holding them all at once.
    store.insert_batch([make_record(f"2026-11-25T00:00:{i % 60:02}.{i:06}Z") for i in range(n)])
    tracemalloc.start()
    try:
        whole = list(store.iter_records())
        held = tracemalloc.get_traced_memory()[1]
        del whole
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        count = sum(1 for _ in store.iter_records())
        streamed = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert count == n
    assert streamed < held / 4, (streamed, held)
