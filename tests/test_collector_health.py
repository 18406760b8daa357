"""GET /api/health tells the truth: 503 with a reason, within 2 s, whenever a write would fail,
and 200 again once it clears (docs/collector.md, "Health check"). Real SQLite files, a real
tmpfs, real lock holders in other processes, and the suite's PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from collector_fixtures.support import Collector, body, fresh_database, make_record

from policysite.collector.core.committer import OUTAGE_WAIT
from policysite.collector.core.health import HEALTH_CACHE
from policysite.collector.core.store import StoreUnavailable, open_store
from policysite.collector.core.store.postgres import LOCK_TIMEOUT
from policysite.collector.core.store.sqlite import BUSY_TIMEOUT, PURGE_CHUNK

DEADLINE = 2.0  # seconds the health check may take to say 503


def health(client: Collector) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = client.request("GET", "/api/health")
    return response.status_code, response.json(), time.monotonic() - started


def assert_unhealthy(client: Collector, *words: str) -> str:
    """Within DEADLINE of the fault (injected just before the call), health says 503 with a
    reason naming `words`. Earlier checks may still answer from the last probe."""
    since = time.monotonic()
    while True:
        status, answer, _ = health(client)
        if status == 503:
            break
        assert status == 200
        assert time.monotonic() - since < DEADLINE, "health still says 200"
        time.sleep(0.05)
    assert time.monotonic() - since < DEADLINE, f"503 came after {time.monotonic() - since} s"
    assert answer["status"] == "unavailable"
    for word in words:
        assert word in answer["reason"], answer["reason"]
    return answer["reason"]


def assert_recovers(client: Collector, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, answer, _ = health(client)
        if status == 200:
            assert answer["status"] == "ok"
            assert client.post(body()).status_code == 201
            return
        assert time.monotonic() < deadline, f"still {status}: {answer}"
        time.sleep(0.2)


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[tuple[Collector, Path]]:
    db = tmp_path / "var" / "consents.sqlite3"
    client = Collector(str(db))
    yield client, db
    client.close()


def test_health_is_ok_and_writes_no_consent_record(sqlite_client):
    client, db = sqlite_client
    for _ in range(3):
        status, answer, _ = health(client)
        assert (status, answer) == (200, {"status": "ok", "store": "sqlite"})
    store = open_store(str(db), create=False)
    try:
        assert list(store.iter_records()) == []
    finally:
        store.close()


def test_a_read_only_database_file_is_unhealthy_until_writable(sqlite_client):
    client, db = sqlite_client
    db.chmod(0o444)
    try:
        assert_unhealthy(client, "read-only", str(db))
        assert client.post(body()).status_code == 503
    finally:
        db.chmod(0o600)
    assert_recovers(client)


def test_a_read_only_folder_is_unhealthy_until_writable(sqlite_client):
    client, db = sqlite_client
    db.parent.chmod(0o555)
    try:
        assert_unhealthy(client, "read-only", str(db.parent))
    finally:
        db.parent.chmod(0o700)
    assert_recovers(client)


def _mount_tmpfs(folder: Path, size: str) -> None:
    command = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"this test mounts a small tmpfs: {result.stderr}"


def test_a_full_disk_is_unhealthy_and_a_freed_one_healthy_again(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    _mount_tmpfs(mount, "4m")
    client = None
    try:
        client = Collector(str(mount / "consents.sqlite3"))
        assert client.post(body()).status_code == 201
        filler = mount / "filler"
        with open(filler, "wb") as out:
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass
        assert_unhealthy(client, "full")
        filler.unlink()
        assert_recovers(client)
    finally:
        if client is not None:
            client.close()
        umount = ["umount", str(mount)]
        subprocess.run(umount if os.geteuid() == 0 else ["sudo", "-n", *umount], check=True)


HOLD_SQLITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def _hold(code: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_another_program_holding_the_write_lock_is_unhealthy_and_posts_get_503(sqlite_client):
    client, db = sqlite_client
    holder = _hold(HOLD_SQLITE_LOCK, str(db), str(BUSY_TIMEOUT + 6))
    try:
        assert_unhealthy(client, "locked")
        started = time.monotonic()
        assert client.post(body()).status_code == 503  # after the busy timeout, not a hang
        assert time.monotonic() - started < BUSY_TIMEOUT + 2
        # While it lasts, later requests wait a short while, not a busy timeout each.
        started = time.monotonic()
        assert client.post(body()).status_code == 503
        assert time.monotonic() - started < OUTAGE_WAIT + 1
    finally:
        holder.kill()
        holder.wait()
    assert_recovers(client)


HOLD_FLOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_writer_turn_held_too_long_is_unhealthy_and_posts_get_503(sqlite_client):
    client, db = sqlite_client
    lock = db.with_name(db.name + ".lock")
    holder = _hold(HOLD_FLOCK, str(lock), str(BUSY_TIMEOUT + 4))
    try:
        assert_unhealthy(client, "write lock", "more than")
        started = time.monotonic()
        assert client.post(body()).status_code == 503
        assert time.monotonic() - started < BUSY_TIMEOUT + 2
    finally:
        holder.kill()
        holder.wait()
    assert_recovers(client)


def test_purge_never_blocks_posts_or_health(tmp_path):
    db = tmp_path / "consents.sqlite3"
    store = open_store(str(db))
    old = [make_record(f"2020-01-01T00:00:{i % 60:02d}.{i:06d}Z") for i in range(PURGE_CHUNK * 30)]
    for start in range(0, len(old), 2000):
        store.insert_batch(old[start : start + 2000])
    client = Collector(str(db))
    outcome: list[int] = []
    before = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    purger = threading.Thread(target=lambda: outcome.append(store.purge(before)))
    try:
        purger.start()
        slowest = 0.0
        statuses = set()
        while purger.is_alive():
            started = time.monotonic()
            statuses.add(client.post(body()).status_code)
            statuses.add(health(client)[0])
            slowest = max(slowest, time.monotonic() - started)
        purger.join()
        assert outcome == [len(old)]
        assert statuses == {200, 201}
        assert slowest < BUSY_TIMEOUT  # each waited at most for one short transaction
    finally:
        client.close()
        store.close()


@pytest.mark.postgres
def test_an_unreachable_postgresql_is_unhealthy_until_it_accepts_connections(postgres):
    database = fresh_database(postgres.url)
    name = database.rsplit("/", 1)[-1]
    client = Collector(database)
    try:
        assert health(client)[:2] == (200, {"status": "ok", "store": "postgresql"})
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                assert_unhealthy(client, "connection")
                assert client.post(body()).status_code == 503
            finally:
                admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        assert_recovers(client, timeout=15)
    finally:
        client.close()


@pytest.mark.postgres
def test_a_session_locking_the_table_is_unhealthy_and_posts_get_503_in_time(postgres):
    database = fresh_database(postgres.url)
    client = Collector(database)
    try:
        assert client.post(body()).status_code == 201
        with psycopg.connect(database) as other:
            other.execute("LOCK TABLE consents IN ACCESS EXCLUSIVE MODE")  # held until commit
            assert_unhealthy(client, "lock")
            started = time.monotonic()
            assert client.post(body()).status_code == 503
            assert time.monotonic() - started < LOCK_TIMEOUT + 2
            other.rollback()
        assert_recovers(client)
    finally:
        client.close()


def test_health_probes_at_most_twice_a_second(sqlite_client, monkeypatch):
    """Each probe is a commit: a load balancer polling hard must not become a write load."""
    client, _ = sqlite_client
    store = client.service.store
    probes = []
    real_probe = store.probe
    monkeypatch.setattr(store, "probe", lambda timeout: probes.append(1) or real_probe(timeout))
    started = time.monotonic()
    for _ in range(40):
        assert health(client)[0] == 200
    elapsed = time.monotonic() - started
    assert 1 <= len(probes) <= 1 + elapsed / HEALTH_CACHE


def test_a_failed_commit_is_reported_even_while_the_probe_passes(sqlite_client, monkeypatch):
    """The probe is one check; a commit that failed since the last good probe is another."""
    client, _ = sqlite_client
    assert health(client)[0] == 200  # a good probe, cached for a second

    def refuse(records, wait=None):
        raise StoreUnavailable("disk I/O error")

    monkeypatch.setattr(client.service.store, "commit_batch", refuse)
    assert client.post(body()).status_code == 503
    assert_unhealthy(client, "the last commit failed", "disk I/O error")
    monkeypatch.undo()
    assert_recovers(client)  # the next probe, after the failure, succeeds
