"""The turn to write a SQLite file, shared by every process that writes it.

A flock on a sidecar file (consents.sqlite3.lock) orders the writer process, a worker that
lost it, `consents purge` and the health probe. SQLite's own busy handler sleeps up to 100 ms
a time, which made two workers slower than one. Here a free flock is taken at once, and a
held one is tried again every 0.5 to 2 ms: a flock is not fair, and a holder that commits
back to back lets go for moments only, which a longer sleep would miss (the health probe did,
behind workers committing for themselves). At most for the caller's timeout; then
StoreUnavailable: a request waiting for its turn gets 503, it does not hang.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from policysite.collector.core import files
from policysite.collector.core.store import StoreUnavailable

POLL_FIRST, POLL_MAX = 0.0005, 0.002  # seconds between tries for a held flock


def take_flock(fd: int, timeout: float) -> bool:
    """Take an exclusive flock on `fd` within `timeout` seconds; False if it stayed held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    deadline = time.monotonic() + timeout
    delay = POLL_FIRST
    while True:
        time.sleep(delay)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
        delay = min(delay * 2, POLL_MAX)


class WriteLock:
    """The flock next to `database`, opened on first use with the collector's file mode."""

    def __init__(self, database: Path, file_mode: int) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._mode = file_mode
        self._fd: int | None = None
        self._local = threading.local()

    @contextlib.contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        """Hold the turn, waiting at most `timeout` seconds for it.

        Re-entrant within a thread: the group-commit writer holds it around insert_batch.
        """
        if getattr(self._local, "holding", False):
            yield
            return
        if self._fd is None:
            try:
                self._fd = files.open_lock_file(self.path, self._mode)
            except OSError as error:
                raise StoreUnavailable(f"{self.path}: {error.strerror}") from error
        if not take_flock(self._fd, timeout):
            raise StoreUnavailable(
                f"another process has held the write lock on {self.database} for more than "
                f"{timeout:g} s (consents purge, a backup, the sqlite3 shell?)"
            )
        self._local.holding = True
        try:
            yield
        finally:
            self._local.holding = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._local = threading.local()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
