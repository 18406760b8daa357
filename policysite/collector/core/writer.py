"""One SQLite writer process for every collector worker on the host.

When each uvicorn worker committed its own batches, the workers took turns at the file's write
lock: one fsync per worker per round, small batches, and each worker's GIL spent binding rows
instead of answering HTTP. So `collector` on SQLite starts this process first. Workers send it
their batches over a Unix socket (RemoteCommitter in committer.py); it commits what every
worker sent in one transaction and then answers each batch. A 201 is still sent only after the
commit that holds its record.

    python -m policysite.collector.core.writer --db var/consents.sqlite3 [--socket PATH]

Without --socket it listens in a new folder under $TMPDIR that only this user can enter
(whoever can write to the socket can add records), prints "ready <socket>" and removes the
folder when it exits. It stops on SIGTERM, or when the process that started it is gone, once
the workers connected to it have hung up (at most STOP_GRACE seconds later): they may still be
finishing requests that wait for its answers. The frames are wire.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from policysite.collector.core.committer import write_batch
from policysite.collector.core.log_key import read_signer
from policysite.collector.core.logs import FORMATS, LEVELS, Outage, configure, logging_config
from policysite.collector.core.record import ConsentRecord
from policysite.collector.core.settings import tune_garbage_collector
from policysite.collector.core.store import StoreUnavailable, open_store
from policysite.collector.core.store.sqlite import SQLiteStore
from policysite.collector.core.tree_log import Logged
from policysite.collector.core.wire import (
    FAILED,
    STORED,
    STORED_AS_SENT,
    UNAVAILABLE,
    frame,
    take_frames,
)
from policysite.errors import PolicyError

log = logging.getLogger("policysite.collector")

POLL_SECONDS = 0.5  # how soon a writer whose parent died notices it
STOP_GRACE = 30.0  # seconds a stopping writer still serves connected workers
CHECKPOINT_SECONDS = 0.25  # how often committed WAL frames are copied into the database
RESTART_FRAMES = 4096  # WAL frames (4 KiB pages) past which the WAL is made to start over
CATCH_UP_FRAMES = 64  # frames few enough to copy while commits wait (a millisecond or two)
CATCH_UP_PASSES = 8  # at most, before those commits wait anyway
SEND_TIMEOUT = 5.0  # a worker that reads no answer for this long is dropped (its batches: 503)
READY = "ready"


@dataclass
class _Batch:
    sock: socket.socket
    number: int
    records: list[ConsentRecord]


def commit(
    store: SQLiteStore, batches: Sequence[_Batch], outage: Outage
) -> tuple[dict[socket.socket, list[tuple]], bool]:
    """Commit every batch in one transaction; return the answers to send, by socket, and
    whether the commit succeeded. `outage` logs failures (write_batch).

    Each answer is (batch number, status, detail), as wire.py describes.
    """
    stored = write_batch(
        store, lambda: [record for batch in batches for record in batch.records], outage
    )
    outcome: tuple | None = None
    if isinstance(stored, StoreUnavailable):
        outcome = (UNAVAILABLE, str(stored))
    elif isinstance(stored, BaseException):
        outcome = (FAILED, f"{type(stored).__name__}: {stored}")
    answers: dict[socket.socket, list[tuple]] = {}
    start = 0
    for batch in batches:
        if outcome is not None:
            answer = (batch.number, *outcome)
        else:
            mine = stored[start : start + len(batch.records)]
            if all(c.record is r for c, r in zip(mine, batch.records, strict=True)):
                answer = (batch.number, STORED_AS_SENT, [_fields(c.logged) for c in mine])
            else:
                answer = (
                    batch.number, STORED, [(tuple(c.record), _fields(c.logged)) for c in mine]
                )  # fmt: skip
        start += len(batch.records)
        answers.setdefault(batch.sock, []).append(answer)
    return answers, outcome is None


def _fields(logged: Logged | None) -> tuple | None:
    return None if logged is None else tuple(logged)


class Writer:
    """The writer's loop: gather what the workers sent, commit it, answer, repeat."""

    def __init__(self, store: SQLiteStore, listener: socket.socket) -> None:
        self.store = store
        self._listener = listener
        self._selector = selectors.DefaultSelector()
        self._inboxes: dict[socket.socket, bytearray] = {}
        self._stopping = False
        self.committed = 0  # records committed, for tests and logs
        self._committing = threading.Lock()  # held around each commit
        self._done = threading.Event()
        self._outage = Outage(f"consent store {store.where}", log)
        self._checkpoint_outage = Outage(
            f"checkpoints of consent store {store.where}", log,
            refused="checkpoint(s) failed", down="failing", up="working again",
            level=logging.WARNING,
        )  # fmt: skip
        store.defer_checkpoints()  # _checkpoints() makes them, beside the commits
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)

    def stop(self) -> None:
        """Ask run() to return once the connected workers hang up (safe in a signal handler)."""
        self._stopping = True

    def run(self, parent: int | None = None) -> None:
        """Serve until stop(), or until `parent` (a pid) is no longer this process's parent."""
        checkpoints = threading.Thread(target=self._checkpoints, name="checkpoints", daemon=True)
        checkpoints.start()
        try:
            self._serve(parent)
        finally:
            self._done.set()
            checkpoints.join()

    def _serve(self, parent: int | None) -> None:
        deadline: float | None = None
        while deadline is None or (self._inboxes and time.monotonic() < deadline):
            batches = self._receive()
            if batches:
                with self._committing:
                    answers, committed = commit(self.store, batches, self._outage)
                if committed:
                    self.committed += sum(len(batch.records) for batch in batches)
                for sock, mine in answers.items():
                    self._answer(sock, mine)
            if deadline is None and (
                self._stopping or (parent is not None and os.getppid() != parent)
            ):
                deadline = time.monotonic() + STOP_GRACE
                self._stop_listening()

    def _checkpoints(self) -> None:
        """Copy the WAL into the database file beside the commits, not inside one of them.

        A PASSIVE checkpoint never waits for the writer, but commits land while it runs, and
        the WAL only starts over when a commit begins with every frame copied. So when the
        WAL is long, more passes copy what was committed during the one before (less each
        time), and a last, short one runs while no commit does.
        """
        while not self._done.wait(CHECKPOINT_SECONDS):
            try:
                self._checkpoint()
            except StoreUnavailable as error:
                self._checkpoint_outage.failed(1, error)  # retried CHECKPOINT_SECONDS later
            else:
                self._checkpoint_outage.succeeded()

    def _checkpoint(self) -> None:
        frames, _ = self.store.checkpoint()
        if frames < RESTART_FRAMES:
            return
        for _ in range(CATCH_UP_PASSES):
            previous, (frames, _) = frames, self.store.checkpoint()
            if frames - previous <= CATCH_UP_FRAMES:
                break
        with self._committing:
            self.store.checkpoint()

    def _stop_listening(self) -> None:
        """Refuse new workers: they commit their records themselves (RemoteCommitter)."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._listener)
        with contextlib.suppress(OSError):
            os.unlink(self._listener.getsockname())
        self._listener.close()

    def _receive(self) -> list[_Batch]:
        batches: list[_Batch] = []
        try:
            events = self._selector.select(POLL_SECONDS)
        except InterruptedError:  # a signal: the loop checks whether to stop
            return batches
        for key, _ in events:
            sock = key.fileobj
            if sock is self._listener:
                self._accept()
                continue
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:  # the worker closed or died; what it sent was answered or is lost
                self._drop(sock)
                continue
            inbox = self._inboxes[sock]
            inbox += data
            try:
                payloads = take_frames(inbox)
            except (ValueError, EOFError, TypeError):
                log.error("a worker sent a frame that is not a batch: dropping it")
                self._drop(sock)
                continue
            batches += [
                _Batch(sock, number, [ConsentRecord._make(row) for row in rows])
                for number, rows in payloads
            ]
        return batches

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.settimeout(SEND_TIMEOUT)  # recv only runs when readable; sendall may wait
        self._inboxes[sock] = bytearray()
        self._selector.register(sock, selectors.EVENT_READ)

    def _answer(self, sock: socket.socket, answers: list[tuple]) -> None:
        if sock not in self._inboxes:
            return  # dropped meanwhile: nobody waits for these answers
        try:
            sock.sendall(b"".join(frame(answer) for answer in answers))
        except OSError as error:
            log.warning("a worker stopped reading its answers (%s): dropping it", error)
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        self._inboxes.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()

    def close(self) -> None:
        for sock in list(self._inboxes):
            self._drop(sock)
        self._selector.close()
        self._listener.close()
        self.store.close()


# --- the process ------------------------------------------------------------------------


class WriterProcess:
    """The writer as a child process of `collector` (start_writer); stop() ends it."""

    def __init__(self, process: subprocess.Popen, socket_path: str) -> None:
        self.process = process
        self.socket = socket_path

    def stop(self, timeout: float = STOP_GRACE + 5) -> None:
        """Let it commit and answer what it holds, then exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_writer(
    db: str,
    log_level: str = "info",
    log_format: str = "text",
    log_key: Path | None = None,
    log_name: str | None = None,
    timeout: float = 30.0,
) -> WriterProcess:
    """Start the writer for the SQLite file `db` and wait until it listens; PolicyError if not.

    It signs the consent log's checkpoints with the key in `log_key`, the key of `log_name`
    (without them, records are stored outside the log). It logs at `log_level` in
    `log_format`, as the workers do (logs.py)."""
    logging_config(log_level, log_format)  # a bad one: PolicyError here, not the child's usage
    # The package's folder first on its path: `python build.py collector` also runs from a
    # checkout that is not installed, and from another working folder.
    package_root = str(Path(__file__).resolve().parents[3])
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "policysite.collector.core.writer", "--db", db]
    command += ["--log-level", log_level, "--log-format", log_format]
    if log_key is not None and log_name is not None:
        command += ["--log-key", str(log_key), "--log-name", log_name]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": python_path},
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        line = process.stdout.readline() if selector.select(timeout) else b""
    process.stdout.close()
    word, _, path = line.decode("utf-8", "replace").strip().partition(" ")
    if word != READY or not path:
        WriterProcess(process, path).stop(timeout=5)
        raise PolicyError(f"the consent writer for {db} did not start (its error is above)")
    return WriterProcess(process, path)


FOLDER_PREFIX = "policysite-writer-"


def remove_stale_folders(parent: str | None = None) -> None:
    """Remove the socket folders of writers that were killed (kill -9 cannot clean up).

    A folder is stale when its socket refuses connections (no process listens on it), or
    when it has stayed without a socket for a minute. A live writer's folder, and one whose
    writer is about to bind its socket, are left alone.
    """
    for folder in Path(parent or tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        sock_path = folder / "writer.sock"
        try:
            info = folder.stat()
        except OSError:
            continue
        if info.st_uid != os.getuid():
            continue
        if not sock_path.exists():
            if time.time() - info.st_mtime > 60:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            continue
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(sock_path))
        except ConnectionRefusedError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
        finally:
            probe.close()


@contextlib.contextmanager
def _listening(path: str | None) -> Iterator[socket.socket]:
    """A listening Unix socket at `path`, or in a new private folder removed afterwards."""
    if not path:
        remove_stale_folders()
    folder = None if path else tempfile.mkdtemp(prefix=FOLDER_PREFIX)  # mode 0700
    path = path or os.path.join(folder, "writer.sock")  # type: ignore[arg-type]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(128)
        yield listener
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policysite.collector.core.writer")
    parser.add_argument("--db", required=True, help="the SQLite file")
    parser.add_argument("--socket", help="the Unix socket to listen on (default: a new one)")
    parser.add_argument("--log-level", choices=LEVELS, default="info", help="default: info")
    parser.add_argument("--log-format", choices=FORMATS, default="text", help="default: text")
    parser.add_argument("--log-key", type=Path, help="the consent log's signing key file")
    parser.add_argument("--log-name", help="the consent log's name (the key must be its)")
    args = parser.parse_args(argv)
    configure(args.log_level, args.log_format, role="writer")
    parent = os.getppid()
    try:
        signer = read_signer(args.log_key, args.log_name) if args.log_key else None
        store = open_store(args.db, signer=signer)
    except PolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not isinstance(store, SQLiteStore):
        store.close()
        print("error: --db: the writer is for a SQLite file; PostgreSQL takes writes from "
              "every worker itself", file=sys.stderr)  # fmt: skip
        return 2
    with _listening(args.socket) as listener:
        writer = Writer(store, listener)
        tune_garbage_collector()  # each batch makes its proofs and answers: many small objects
        signal.signal(signal.SIGTERM, lambda *_: writer.stop())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the collector stops us in order
        print(READY, listener.getsockname(), flush=True)
        log.info("consent writer for %s listening at %s", store.where, listener.getsockname())
        try:
            writer.run(parent)
        finally:
            writer.close()
            log.info("consent writer stopped; %d record(s) committed", writer.committed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
