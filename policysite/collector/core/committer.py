"""Group commit: many requests become one durable transaction, and a 201 follows its commit.

GroupCommitter commits from a writer thread in this process (PostgreSQL; SQLite when no
writer process runs, as under a bare `uvicorn` or in tests); RemoteCommitter hands the batches
to the SQLite writer process that `collector` starts (writer.py) and falls back to a
GroupCommitter if that process is gone.

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
import itertools
import logging
import queue
import socket
import threading
from collections.abc import Callable, Sequence

from policysite.collector.core.logs import Outage
from policysite.collector.core.record import ConsentRecord
from policysite.collector.core.store import Committed, Store, StoreUnavailable
from policysite.collector.core.tree_log import Logged
from policysite.collector.core.wire import STORED, STORED_AS_SENT, UNAVAILABLE, frame, take_frames

log = logging.getLogger("policysite.collector")

MAX_BATCH = 2048
OUTAGE_WAIT = 0.5  # seconds a batch waits for the store while it is failing
_STOP = object()

Item = tuple[ConsentRecord, asyncio.Future]


class GroupCommitter:
    """Commits from one writer thread in this process."""

    def __init__(self, store: Store, max_pending: int = 50_000) -> None:
        self._store = store
        self._outage = Outage(f"consent store {store.where}", log)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # lists of Items, or _STOP
        self._buffers: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.max_pending = max_pending
        # Each counter has one writing thread (the event loop; the writer), so none is lost.
        self._submitted = 0
        self._completed = 0

    def submit(self, record: ConsentRecord) -> asyncio.Future:
        """Queue a record; the future resolves to its Committed (store.py), or raises."""
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

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

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

        def collect() -> list[ConsentRecord]:
            nonlocal stop
            stop = self._gather(batch)
            return [record for record, _ in batch]

        outcome = write_batch(self._store, collect, self._outage)
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


def write_batch(
    store: Store, collect: Callable[[], list[ConsentRecord]], outage: Outage
) -> Sequence[Committed] | BaseException:
    """Commit what `collect()` returns, calling it once the write turn is ours: what each
    record is stored as (store.commit_batch), or the error to answer each request with.

    `collect` is called once in any case: when the turn cannot be had, what is queued is
    refused at once rather than waiting behind the same failure. Failures are logged by
    `outage`, once when they start and once when they end, not once per batch.
    """
    records: list[ConsentRecord] | None = None
    # While the store is failing, a batch waits OUTAGE_WAIT for its turn, not the full busy
    # timeout: its requests have already waited behind the batch that failed, and must get
    # their 503 within about one busy timeout, not one per batch queued before them.
    wait = OUTAGE_WAIT if outage.since is not None else None
    try:
        # Waiting for the write turn (another process may be committing) is when most requests
        # arrive: collect once the turn is ours, so that they share this commit.
        with store.write_turn(wait):
            records = collect()
            stored = store.commit_batch(records, wait)
    except StoreUnavailable as error:
        outage.failed(len(records if records is not None else collect()), error)
        return error
    except Exception as error:  # a bug: fail these requests, keep the writer alive
        count = len(records if records is not None else collect())
        outage.failed(count, f"{type(error).__name__}: {error}", exc_info=error)
        return error
    outage.succeeded()
    return stored


def _resolve(results: list[tuple[asyncio.Future, object]]) -> None:
    for future, result in results:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class RemoteCommitter:
    """Hands each loop's batch to the writer process; resolves the futures from its answers.

    If the writer cannot be reached, or the connection to it breaks, this worker commits from
    its own GroupCommitter from then on (`fallback`): slower, but as durable. Batches that were
    sent and not answered get 503 (StoreUnavailable); the widget sends them again, and a repeat
    of a stored (consent_id, seq) is answered 200 with the stored receipt.
    """

    def __init__(
        self, path: str, fallback: Callable[[], GroupCommitter], max_pending: int = 50_000
    ) -> None:
        self._path = path
        self._make_fallback = fallback
        self._fallback: GroupCommitter | None = None
        self._links: dict[asyncio.AbstractEventLoop, _Link] = {}
        self._buffers: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        self._numbers = itertools.count()
        self._closing = False
        self.max_pending = max_pending

    def submit(self, record: ConsentRecord) -> asyncio.Future:
        """Queue a record; the future resolves to its Committed (store.py), or raises."""
        if self._fallback is not None:
            return self._fallback.submit(record)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        buffer = self._buffers.get(loop)
        if buffer is None:
            buffer = self._buffers[loop] = []
            loop.call_soon(self._flush, loop)  # once the loop has gathered what is ready
        buffer.append((record, future))
        return future

    @property
    def overloaded(self) -> bool:
        waiting = sum(link.waiting for link in self._links.values())
        if self._fallback is not None and self._fallback.overloaded:
            return True
        return waiting >= self.max_pending

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        items = self._buffers.pop(loop)
        link = self._links.get(loop)
        if link is None and self._fallback is None:
            link = self._connect(loop)
        if link is not None and link.send(next(self._numbers), items):
            return
        fallback = self._use_fallback()  # nothing of these was sent: commit them here
        for record, future in items:
            _forward(fallback.submit(record), future)

    def _connect(self, loop: asyncio.AbstractEventLoop) -> _Link | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._path)
        except OSError as error:
            sock.close()
            log.error("cannot reach the consent writer at %s: %s", self._path, error)
            return None
        sock.setblocking(False)
        link = self._links[loop] = _Link(sock, loop, self._lost)
        return link

    def _lost(self, link: _Link) -> None:
        self._links = {loop: other for loop, other in self._links.items() if other is not link}
        if not self._closing:
            self._use_fallback()

    def _use_fallback(self) -> GroupCommitter:
        if self._fallback is None:
            log.error("the consent writer is gone: this worker commits its records itself")
            self._fallback = self._make_fallback()
        return self._fallback

    async def aclose(self) -> None:
        self._closing = True
        for link in list(self._links.values()):
            link.close("the collector is stopping")
        self._links.clear()
        if self._fallback is not None:
            await self._fallback.aclose()


class _Link:
    """One event loop's connection to the writer process: batches out, answers in."""

    def __init__(
        self, sock: socket.socket, loop: asyncio.AbstractEventLoop, lost: Callable[[_Link], None]
    ) -> None:
        self._sock = sock
        self._loop = loop
        self._lost = lost
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._sent: dict[int, list[Item]] = {}  # by batch number, until answered
        self.waiting = 0  # records sent and not answered
        loop.add_reader(sock.fileno(), self._readable)

    def send(self, number: int, items: list[Item]) -> bool:
        """Send a batch; False when the connection is broken and nothing of it was sent."""
        data = frame((number, [tuple(record) for record, _ in items]))
        if not self._outbox:
            try:
                sent = self._sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                self.close(f"the consent writer is gone: {error}")
                return False
            data = data[sent:]
            if data:
                self._loop.add_writer(self._sock.fileno(), self._writable)
        self._outbox += data
        self._sent[number] = items
        self.waiting += len(items)
        return True

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._outbox)
        except BlockingIOError:
            return
        except OSError as error:
            self.close(f"the consent writer is gone: {error}")
            return
        del self._outbox[:sent]
        if not self._outbox:
            self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        try:
            data = self._sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close("the consent writer closed the connection")
            return
        self._inbox += data
        try:
            answers = take_frames(self._inbox)
        except (ValueError, EOFError, TypeError):
            self.close("the consent writer sent something that is not an answer")
            return
        for number, status, detail in answers:
            items = self._sent.pop(number, None)
            if items is not None:
                self.waiting -= len(items)
                _settle(items, status, detail)

    def close(self, why: str) -> None:
        """Stop using the connection; the batches still unanswered get StoreUnavailable."""
        if self._sock.fileno() == -1:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        sent, self._sent, self.waiting = self._sent, {}, 0
        for items in sent.values():
            _settle(items, UNAVAILABLE, why)
        self._lost(self)


def _settle(items: list[Item], status: int, detail: object) -> None:
    """Resolve a batch's futures from the writer's answer (writer.commit)."""
    if status == STORED_AS_SENT:
        results: Sequence[object] = [
            Committed(record, _logged(logged))
            for (record, _), logged in zip(items, detail, strict=True)  # type: ignore[call-overload]
        ]
    elif status == STORED:
        results = [
            Committed(ConsentRecord._make(row), _logged(logged))
            for row, logged in detail  # type: ignore[attr-defined]
        ]
    else:
        error = StoreUnavailable(detail) if status == UNAVAILABLE else RuntimeError(detail)
        results = [error] * len(items)
    _resolve([(future, result) for (_, future), result in zip(items, results, strict=True)])


def _logged(fields: tuple | None) -> Logged | None:
    return None if fields is None else Logged._make(fields)


def _forward(source: asyncio.Future, target: asyncio.Future) -> None:
    """Resolve `target` as `source` resolves."""

    def copy(done: asyncio.Future) -> None:
        if target.done():
            return
        if done.exception() is not None:
            target.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
