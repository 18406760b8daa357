"""The SQLite writer process (policysite.collector.core.writer): every worker's batches committed by
one process, with the same answers as committing in the worker, and a worker that commits
itself when the writer is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collector_fixtures.support import SITE, Collector, WriterThread, body, check_receipt
from conftest import free_port, wait_for_port

from policysite.collector.core.settings import CollectorSettings
from policysite.collector.core.wire import frame, take_frames

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "var" / "consents.sqlite3")


@pytest.fixture
def writer(db, tmp_path):
    from policysite.collector.core.store import open_store

    open_store(db).close()  # created and migrated, as `collector` does before starting it
    started = WriterThread(db, str(tmp_path / "writer.sock"))
    yield started
    started.stop()


def stored(db: str) -> list[tuple[str, int, str]]:
    with sqlite3.connect(db) as conn:
        query = "SELECT consent_id, seq, leaf_index FROM consents ORDER BY id"
        return conn.execute(query).fetchall()


def test_a_consent_is_committed_by_the_writer_and_acknowledged_after(db, writer):
    client = Collector(db, settings=writer.settings())
    try:
        data = body()
        response = client.post(data)
        assert response.status_code == 201
        assert stored(db) == [(data["consent_id"], 1, response.json()["receipt"]["leaf_index"])]
        assert check_receipt(response.json()["receipt"], db).tree_size == 1
        assert writer.writer.committed == 1  # the writer committed it, not the worker
    finally:
        client.close()


def test_two_workers_share_the_writer_and_a_repeat_gets_the_stored_receipt(db, writer):
    first, second = (Collector(db, settings=writer.settings()) for _ in range(2))
    try:
        data = body()
        created = first.post(data)
        repeat = second.post(data)  # the widget retried through the other worker
        assert (created.status_code, repeat.status_code) == (201, 200)
        assert repeat.json() == created.json()
        conflict = second.post({**data, "choices": {**data["choices"], "analytics": False}})
        assert conflict.status_code == 409
        assert conflict.json()["field"] == "seq"
        assert len(stored(db)) == 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("damage", ["file read-only", "folder read-only"])
def test_the_writer_answers_503_while_the_store_is_unwritable_then_resumes(db, writer, damage):
    client = Collector(db, settings=writer.settings())
    target = db if damage == "file read-only" else os.path.dirname(db)
    mode = os.stat(target).st_mode & 0o777
    try:
        assert client.post(body()).status_code == 201
        os.chmod(target, mode & ~0o222)
        try:
            refused = client.post(body())
        finally:
            os.chmod(target, mode)
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
        assert client.post(body()).status_code == 201
        assert len(stored(db)) == 2
        assert writer.writer.committed == 2
    finally:
        client.close()


def test_a_worker_commits_itself_once_the_writer_is_gone(db, writer):
    client = Collector(db, settings=writer.settings())
    try:
        assert client.post(body()).status_code == 201
        writer.writer.close()  # every connection dropped, as when the process is killed
        writer.stop()
        later = body()
        response = client.post(later)
        assert response.status_code == 201  # nothing of it had been sent: committed here
        assert stored(db)[-1][:2] == (later["consent_id"], 1)
        assert len(stored(db)) == 2
        assert writer.writer.committed == 1
    finally:
        client.close()


def test_a_worker_commits_itself_when_no_writer_listens(db, tmp_path):
    settings = CollectorSettings(rate_limit="0", writer_socket=str(tmp_path / "nobody.sock"))
    client = Collector(db, settings=settings)
    try:
        data = body()
        assert client.post(data).status_code == 201
        assert [row[:2] for row in stored(db)] == [(data["consent_id"], 1)]
    finally:
        client.close()


def test_frames_come_out_whole_however_the_bytes_arrive():
    payloads = [(0, [("a", 1, None, True)]), (1, []), (2, 3, "é" * 300), (3, 0, None)]
    data = b"".join(frame(payload) for payload in payloads)
    for step in (1, 3, 7, len(data)):
        inbox, seen = bytearray(), []
        for start in range(0, len(data), step):
            inbox += data[start : start + step]
            seen += take_frames(inbox)
        assert seen == payloads
        assert inbox == b""


def test_a_frame_that_is_not_marshal_data_is_refused():
    inbox = bytearray(len(b"\xff\x00").to_bytes(4, "big") + b"\xff\x00")
    with pytest.raises((ValueError, EOFError, TypeError)):
        take_frames(inbox)


# --- the process that `collector` starts ---------------------------------------------------


def _children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`: {pid: command line}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def _listening_path(pid: int) -> Path:
    """The path of the Unix socket that process `pid` listens on (from /proc/net/unix)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[6] in inodes:
            return Path(fields[7])
    raise AssertionError(f"process {pid} listens on no Unix socket with a path")


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_collector_runs_one_writer_and_stops_it_with_itself(tmp_path, workers):
    import http.client
    import json

    db = tmp_path / "var" / "consents.sqlite3"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "build.py", "collector", "--port", str(port), "--site", str(SITE),
         "--workers", str(workers), "--rate-limit", "0", "--db", str(db)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        writers = {
            pid: command
            for pid, command in _children(process.pid).items()
            if "policysite.collector.core.writer" in command
        }
        assert len(writers) == 1, _children(process.pid)
        (writer_pid,) = writers
        folder = _listening_path(writer_pid).parent
        assert folder.name.startswith("policysite-writer-")
        assert folder.stat().st_mode & 0o777 == 0o700  # only this user may hand it records
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        data = body()
        connection.request("POST", "/api/consent", body=json.dumps(data),
                           headers={"content-type": "application/json"})  # fmt: skip
        assert connection.getresponse().status == 201
        connection.close()
        process.send_signal(signal.SIGTERM)  # as systemd stops it: the main process only
        process.wait(timeout=40)
        assert _gone(writer_pid, timeout=10), "the writer outlived the collector"
        assert not folder.exists()
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT consent_id FROM consents").fetchall() == [
                (data["consent_id"],)
            ]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_checkpoints_run_beside_the_commits_and_the_wal_starts_over(db, tmp_path, monkeypatch):
    from policysite.collector.core import writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_SECONDS", 0.01)
    monkeypatch.setattr(writer_module, "RESTART_FRAMES", 8)
    from policysite.collector.core.store import open_store

    open_store(db).close()
    started = WriterThread(db, str(tmp_path / "writer.sock"))
    client = Collector(db, settings=started.settings())
    try:
        sent = [body() for _ in range(200)]
        for data in sent:  # one commit each: about 3 WAL frames (4 KiB pages) each
            assert client.post(data).status_code == 201
        time.sleep(0.1)  # a few checkpoint periods
        wal = os.path.getsize(db + "-wal")
        # The database file alone (no WAL) already holds the records: checkpoints ran.
        copy = tmp_path / "main-file-only.sqlite3"
        copy.write_bytes(Path(db).read_bytes())
        with sqlite3.connect(copy) as conn:
            in_file = {row[0] for row in conn.execute("SELECT consent_id FROM consents")}
        assert len(in_file) >= 150
    finally:
        client.close()
        started.stop()
    # Without restarts the WAL would hold every commit's frames: 200 × 3 × 4 KiB ≈ 2.4 MB.
    assert wal < 1_000_000, f"the WAL grew to {wal} bytes: it never started over"


def test_start_writer_refuses_what_it_cannot_serve_with_a_clear_error(tmp_path):
    from policysite.collector.core.writer import start_writer
    from policysite.errors import PolicyError

    with pytest.raises(PolicyError, match="did not start"):
        start_writer("postgresql://nobody@127.0.0.1:1/none", timeout=20)
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    with pytest.raises(PolicyError, match="did not start"):
        start_writer(str(not_a_folder / "consents.sqlite3"), timeout=20)


def test_a_killed_writers_socket_folder_is_removed_by_the_next_one(tmp_path):
    import socket

    from policysite.collector.core.writer import FOLDER_PREFIX, remove_stale_folders

    stale, live, unbound, abandoned = (
        tmp_path / f"{FOLDER_PREFIX}{name}" for name in ("a", "b", "c", "d")
    )
    for folder in (stale, live, unbound, abandoned):
        folder.mkdir(mode=0o700)
    os.utime(abandoned, (time.time() - 3600, time.time() - 3600))  # never got its socket
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale / "writer.sock"))  # bound, then its process "died": nobody listens
    dead.close()
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(live / "writer.sock"))
    listening.listen()
    try:
        remove_stale_folders(str(tmp_path))
    finally:
        listening.close()
    assert not stale.exists() and not abandoned.exists()
    assert live.exists() and unbound.exists()


@pytest.mark.parametrize("committer", ["in-process", "writer process"])
def test_back_pressure_answers_503_while_the_store_is_stuck_then_commits(db, tmp_path, committer):
    """max_pending records waiting for a commit: the next request gets 503 at once, and those
    waiting get their 201 once the store moves again (here: the writers' lock is held)."""
    import asyncio
    import fcntl
    import json

    import httpx

    from policysite.collector.core.store import open_store

    open_store(db).close()
    started = WriterThread(db, str(tmp_path / "w.sock")) if committer != "in-process" else None
    settings = CollectorSettings(
        rate_limit="0", max_pending=2, writer_socket=started.socket if started else None
    )
    client = Collector(db, settings=settings)
    lock = os.open(db + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a long `consents purge` would: no commit can start

    async def scenario() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=client.app, client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as http:

            async def post() -> int:
                response = await http.post(
                    "/api/consent", content=json.dumps(body()),
                    headers={"content-type": "application/json"},
                )  # fmt: skip
                return response.status_code

            waiting = [asyncio.ensure_future(post()) for _ in range(2)]
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in waiting)
            refused = await asyncio.wait_for(post(), timeout=5)
            fcntl.flock(lock, fcntl.LOCK_UN)
            return list(await asyncio.wait_for(asyncio.gather(*waiting), timeout=10)), refused

    try:
        committed, refused = client.loop.run_until_complete(scenario())
    finally:
        os.close(lock)
        client.close()
        if started:
            started.stop()
    assert refused == 503
    assert committed == [201, 201]
    assert len(stored(db)) == 2
