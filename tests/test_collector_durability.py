"""A 201 survives kill -9: load `python build.py collector`, SIGKILL it mid-load, restart it,
and find every acknowledged record in the store, on SQLite and on PostgreSQL.

docs/collector.md, *Durability*."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from collector_fixtures.support import ORIGIN, SITE, body, fresh_database
from conftest import free_port, wait_for_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8
LOAD_SECONDS = 3.0  # the most any client thread runs
KILL_AFTER_ACKS = 200  # kill once this many 201s are in, so the kill lands mid-load


def start_collector(db_args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "build.py", "collector", "--port", str(port), "--site", str(SITE),
         "--workers", "2", "--rate-limit", "0", *db_args],
        cwd=ROOT, env={**os.environ, **env}, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: SIGKILL reaches uvicorn's workers too
    )  # fmt: skip
    process.port = port  # type: ignore[attr-defined]
    wait_for_port(port, timeout=30)
    return process


def kill_group(process: subprocess.Popen, sig: int) -> None:
    os.killpg(process.pid, sig)
    process.wait(timeout=30)


def client(port: int, acked: list[tuple[str, int, int]], stop: threading.Event) -> None:
    """Post consents until stopped, the server dies, or LOAD_SECONDS pass; record each 201."""
    deadline = time.monotonic() + LOAD_SECONDS
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            data = body()
            connection.request(
                "POST",
                "/api/consent",
                body=json.dumps(data),
                headers={"content-type": "text/plain;charset=UTF-8", "origin": ORIGIN},
            )
            response = connection.getresponse()
            reply = response.read()
            if response.status == 201:
                leaf = json.loads(reply)["receipt"]["leaf_index"]
                acked.append((data["consent_id"], data["seq"], leaf))
    except (OSError, http.client.HTTPException):
        return  # killed under us: what was acknowledged before is what must survive
    finally:
        connection.close()


def load_and_kill(process: subprocess.Popen) -> list[tuple[str, int, int]]:
    acked: list[tuple[str, int, int]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(process.port, acked, stop)) for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    while len(acked) < KILL_AFTER_ACKS and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    kill_group(process, signal.SIGKILL)  # kill -9 while the clients are still posting
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    return acked


def check_after_restart(
    db_args: list[str], env: dict[str, str], log: Path, stored, acked: list, key_file: Path
) -> None:
    assert len(acked) >= KILL_AFTER_ACKS, log.read_text()
    process = start_collector(db_args, env, log)  # recovery and migrations on a killed store
    try:
        connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=5)
        connection.request("GET", "/api/health")
        health = connection.getresponse()
        assert health.status == 200
        assert json.loads(health.read())["status"] == "ok"
        consent_id, seq, leaf = acked[-1]
        connection.request("GET", f"/api/consent/{consent_id}")
        mine = json.loads(connection.getresponse().read())
        assert [r["seq"] for r in mine["records"]] == [seq]
        assert [r["leaf_index"] for r in mine["receipts"]] == [leaf]
    finally:
        kill_group(process, signal.SIGTERM)
    rows = stored()
    missing = [ack for ack in acked if ack not in rows]
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged records were lost"
    audit = subprocess.run(
        [sys.executable, "build.py", "consents", "verify", *db_args, "--key", public_key(key_file)],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr  # the log survived kill -9 too
    assert audit.stdout.startswith("intact: ")


def public_key(key_file: Path) -> str:
    from policysite.collector.core.log_key import read_signer

    return read_signer(key_file, "ximgo.com/consent-log").verifier.key_text()


def test_every_201_survives_kill_9_on_sqlite(tmp_path):
    db = tmp_path / "var" / "consents.sqlite3"
    log = tmp_path / "collector.log"
    args = ["--db", str(db)]
    acked = load_and_kill(start_collector(args, {}, log))

    def stored() -> set[tuple[str, int, int]]:
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            return set(conn.execute("SELECT consent_id, seq, leaf_index FROM consents"))

    check_after_restart(args, {}, log, stored, acked, db.parent / "consent-log.key")


@pytest.mark.postgres
def test_every_201_survives_kill_9_on_postgres(tmp_path, postgres):
    url = fresh_database(postgres.url)
    log = tmp_path / "collector.log"
    # The variables operators set, instead of --db and --log-key.
    env = {"DATABASE_URL": url, "POLICYSITE_LOG_KEY": str(tmp_path / "consent-log.key")}
    acked = load_and_kill(start_collector([], env, log))

    def stored() -> set[tuple[str, int, int]]:
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT consent_id::text, seq, leaf_index FROM consents")
            return set(rows.fetchall())

    check_after_restart([], env, log, stored, acked, tmp_path / "consent-log.key")


@pytest.mark.postgres
def test_two_collectors_share_one_log_and_one_killed_mid_load_loses_nothing(tmp_path, postgres):
    """Any number of collectors append; one at a time integrates and signs (an advisory lock
    its session holds). SIGKILL one mid-load: the other goes on, the log stays verifiable,
    and every acknowledged record, from either, is in it."""
    url = fresh_database(postgres.url)
    key = tmp_path / "consent-log.key"
    env = {"DATABASE_URL": url, "POLICYSITE_LOG_KEY": str(key)}
    first = start_collector([], env, tmp_path / "first.log")
    second = start_collector([], env, tmp_path / "second.log")
    acked: list[tuple[str, int, int]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(process.port, acked, stop))
        for process in (first, second)
        for _ in range(THREADS // 2)
    ]
    for thread in threads:
        thread.start()
    try:
        while len(acked) < KILL_AFTER_ACKS and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        kill_group(first, signal.SIGKILL)  # it may hold the lock, mid-transaction
        killed_at = len(acked)
        deadline = time.monotonic() + 10
        while len(acked) < killed_at + 200 and time.monotonic() < deadline:
            time.sleep(0.01)  # the second goes on appending: it took the lock over
        assert len(acked) >= killed_at + 200, "the surviving collector stopped appending"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        kill_group(second, signal.SIGTERM)
    with psycopg.connect(url) as conn:
        rows = set(conn.execute("SELECT consent_id::text, seq, leaf_index FROM consents"))
    missing = [ack for ack in acked if ack not in rows]
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged records were lost"
    indices = sorted(leaf for _, _, leaf in rows)
    assert indices == list(range(len(rows)))  # one tree: no index twice, none skipped
    audit = subprocess.run(
        [sys.executable, "build.py", "consents", "verify", "--key", public_key(key)],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith(f"intact: {len(rows)} leaves")
