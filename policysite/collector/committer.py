"""Group commit: one writer thread per process turns many requests into one transaction.

Requests add (record, future) to a per-loop buffer and await the future. The buffer goes to
the writer once the event loop has run everything that is ready (a call_soon callback), so a
batch holds every request the loop could gather, not the first one that happened to arrive;
handing items over one by one made the writer commit tiny batches back to back. The writer
merges what is queued, commits it in one durable transaction, then resolves the futures on
their loops: a 201 is only ever sent after the commit that holds its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Sequence

from policysite.collector.record import ConsentRecord
from policysite.collector.store import Store, StoreUnavailable

log = logging.getLogger("policysite.collector")

MAX_BATCH = 2048
_STOP = object()

Item = tuple[ConsentRecord, asyncio.Future]


class GroupCommitter:
    def __init__(self, store: Store, max_pending: int = 50_000) -> None:
        self._store = store
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # lists of Items, or _STOP
        self._buffers: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.max_pending = max_pending
        # Each counter has one writing thread (the event loop; the writer), so none is lost.
        self._submitted = 0
        self._completed = 0

    def submit(self, record: ConsentRecord) -> asyncio.Future:
        """Queue a record; the future resolves to what is stored under its key, or raises."""
        if self._thread is None:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        buffer = self._buffers.get(loop)
        if buffer is None:
            buffer = self._buffers[loop] = []
            loop.call_soon(self._flush, loop)
        buffer.append((record, future))
        self._submitted += 1
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._buffers.pop(loop))

    @property
    def overloaded(self) -> bool:
        return self._submitted - self._completed >= self.max_pending

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="consent-writer", daemon=True)
                thread.start()
                self._thread = thread

    def close(self) -> None:
        """Commit what is queued, then stop the writer (blocking: call from a thread)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        while True:
            items = self._queue.get()
            if items is _STOP or self._commit(list(items)):
                return

    def _gather(self, batch: list[Item]) -> bool:
        """Add what is queued to `batch` (up to MAX_BATCH); True when asked to stop."""
        get_nowait = self._queue.get_nowait
        while len(batch) < MAX_BATCH:
            try:
                items = get_nowait()
            except queue.Empty:
                return False
            if items is _STOP:
                return True
            batch.extend(items)
        return False

    def _commit(self, batch: list[Item]) -> bool:
        """Commit `batch` and what else is queued; answer each request. True: stop after it."""
        stop = False
        try:
            # Waiting for the write turn (another worker process may be committing) is when
            # most requests arrive: gather once the turn is ours, so they share this commit.
            with self._store.write_turn():
                stop = self._gather(batch)
                outcome: Sequence[ConsentRecord] | BaseException = self._store.insert_batch(
                    [record for record, _ in batch]
                )
        except StoreUnavailable as error:
            log.warning(
                "store %s unavailable, %d request(s) get 503: %s",
                self._store.where,
                len(batch),
                error,
            )
            outcome = error
        except Exception as error:  # a bug: fail these requests, keep the writer alive
            log.exception("writing a batch of %d consent(s) failed", len(batch))
            outcome = error
        self._completed += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, object]]] = {}
        for index, (_, future) in enumerate(batch):
            result = outcome if isinstance(outcome, BaseException) else outcome[index]
            by_loop.setdefault(future.get_loop(), []).append((future, result))
        for loop, results in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, results)
        return stop


def _resolve(results: list[tuple[asyncio.Future, object]]) -> None:
    for future, result in results:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
