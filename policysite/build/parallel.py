"""Run a build step over chunks of work on every core (`--jobs`, docs/fast-builds.md).

Rendering is CPU-bound Python (Markdown, difflib, Jinja2), so threads would not help: chunks go
to processes. On Linux the workers are plain forks: they start at once with the loaded site,
the compiled templates and every imported module already in memory, take chunks from a table
in shared memory (`_Runs`: each its own run of consecutive chunks, then the others' leftovers),
and write their results into an in-memory file that the parent reads at the end. That is all
a build needs of a process pool, without importing `concurrent.futures` and `multiprocessing`
(a tenth of a cold build's serial start-up) or running their queue threads. Elsewhere a
spawned `ProcessPoolExecutor` gets the state pickled once per worker. Results come back in
chunk order, so the output does not depend on the number of workers.
"""

from __future__ import annotations

import gc
import mmap
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

if sys.platform == "linux":  # the forked workers' shared runs (elsewhere: a spawned pool)
    import fcntl

T = TypeVar("T")
R = TypeVar("R")

_state: Any = None  # what a spawned worker reads: set by _init


def default_jobs() -> int:
    """Every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init(state: Any) -> None:
    global _state
    _state = state


def _call(function: Callable[[Any, T], R], chunk: T) -> R:
    return function(_state, chunk)


def chunked(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    """`items` cut into at most `parts` runs of consecutive items, of near-equal length.
    Consecutive pages share texts (a version page and its diff), so runs keep them together."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        out.append(items[start:end])
        start = end
    return [run for run in out if run]


def map_chunks(
    function: Callable[[Any, T], R],
    chunks: Sequence[T],
    state: Any,
    jobs: int,
    while_waiting: Callable[[], None] | None = None,
) -> list[R]:
    """Return `[function(state, chunk) for chunk in chunks]`, computed by up to `jobs`
    processes, while this one runs `while_waiting` (work the chunks do not need).
    `function` must be a module-level function (spawned workers look it up by name)."""
    if jobs <= 1 or len(chunks) <= 1:
        results = [function(state, chunk) for chunk in chunks]
        if while_waiting is not None:
            while_waiting()
        return results
    workers = min(jobs, len(chunks))
    if sys.platform == "linux":
        return _forked(function, chunks, state, workers, while_waiting)
    return _spawned(function, chunks, state, workers, while_waiting)


_FRAME = struct.Struct("=Q")  # the length of one pickled result


class _Runs:
    """Which chunks are left, shared by forked workers: each worker starts with a run of
    consecutive chunks and takes them from its front; when its run is empty, it takes the
    last chunk of the longest other run. So each worker renders consecutive pages, which
    share texts (a diff needs the previous version), yet they all finish together.

    The runs are (next, end) pairs in shared memory, changed under a POSIX record lock,
    which is held per process: forked workers exclude each other."""

    _PAIR = struct.Struct("=qq")

    def __init__(self, chunks: int, workers: int) -> None:
        self.workers = workers
        self.fd = os.memfd_create("policysite-runs", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, self._PAIR.size * workers)
        self.memory = mmap.mmap(self.fd, self._PAIR.size * workers)
        for worker in range(workers):
            first, end = chunks * worker // workers, chunks * (worker + 1) // workers
            self._PAIR.pack_into(self.memory, self._PAIR.size * worker, first, end)

    def take(self, worker: int) -> int | None:
        """The next chunk for `worker`, or None when every run is empty."""
        fcntl.lockf(self.fd, fcntl.LOCK_EX)
        try:
            runs = [
                self._PAIR.unpack_from(self.memory, self._PAIR.size * w)
                for w in range(self.workers)
            ]
            first, end = runs[worker]
            if first < end:
                self._PAIR.pack_into(self.memory, self._PAIR.size * worker, first + 1, end)
                return first
            victim = max(range(self.workers), key=lambda w: runs[w][1] - runs[w][0])
            first, end = runs[victim]
            if first >= end:
                return None
            self._PAIR.pack_into(self.memory, self._PAIR.size * victim, first, end - 1)
            return end - 1
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.memory.close()
        os.close(self.fd)


def _forked(
    function: Callable[[Any, T], R],
    chunks: Sequence[T],
    state: Any,
    workers: int,
    while_waiting: Callable[[], None] | None,
) -> list[R]:
    runs = _Runs(len(chunks), workers)
    outputs = [os.memfd_create("policysite-results", os.MFD_CLOEXEC) for _ in range(workers)]
    pids: list[int] = []
    # Objects the workers inherit stay out of their garbage collector: its passes would
    # write to every one of them and so copy every page of memory the fork shares.
    gc.freeze()
    try:
        for worker, output in enumerate(outputs):
            pid = os.fork()
            if pid == 0:  # never returns, never runs the parent's clean-ups
                _work(function, chunks, state, runs, worker, output)
            pids.append(pid)
        if while_waiting is not None:
            while_waiting()
        failed = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
        pids.clear()
        results: dict[int, Any] = {}
        errors: dict[int, Exception] = {}
        for output in outputs:
            for index, ok, value in _frames(output):
                (results if ok else errors)[index] = value
        if errors:  # the one a serial build would have met first
            raise errors[min(errors)]
        if failed or len(results) != len(chunks):
            raise RuntimeError(f"a render worker died (process {failed[0] if failed else '?'})")
        return [results[index] for index in range(len(chunks))]
    finally:
        for pid in pids:  # interrupted: the workers must not outlive the build
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        runs.close()
        for output in outputs:
            os.close(output)
        gc.unfreeze()


def _work(
    function: Callable[[Any, T], R],
    chunks: Sequence[T],
    state: Any,
    runs: _Runs,
    worker: int,
    output: int,
) -> None:
    """A forked worker: take chunks until none is left, append each result (or the error
    that stopped it) to `output`, and exit."""
    status = 1
    try:
        with os.fdopen(output, "wb", closefd=False) as out:
            while (index := runs.take(worker)) is not None:
                try:
                    frame = pickle.dumps((index, True, function(state, chunks[index])), 5)
                except Exception as error:  # the parent raises it, as a serial build would
                    frame = _pickled_error(index, error)
                    out.write(_FRAME.pack(len(frame)) + frame)
                    break
                out.write(_FRAME.pack(len(frame)))
                out.write(frame)
        status = 0
    finally:
        os._exit(status)


def _pickled_error(index: int, error: Exception) -> bytes:
    try:
        return pickle.dumps((index, False, error), 5)
    except Exception:  # an exception that cannot cross processes: keep its message
        return pickle.dumps((index, False, RuntimeError(f"{type(error).__name__}: {error}")), 5)


def _frames(output: int) -> list[tuple[int, bool, Any]]:
    os.lseek(output, 0, os.SEEK_SET)
    with os.fdopen(output, "rb", closefd=False) as data:
        frames, size = [], data.read(_FRAME.size)
        while size:
            frames.append(pickle.loads(data.read(_FRAME.unpack(size)[0])))
            size = data.read(_FRAME.size)
    return frames


def _spawned(
    function: Callable[[Any, T], R],
    chunks: Sequence[T],
    state: Any,
    workers: int,
    while_waiting: Callable[[], None] | None,
) -> list[R]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(state,),
    ) as pool:
        futures = pool.map(_call, [function] * len(chunks), chunks)  # all submitted now
        if while_waiting is not None:
            while_waiting()
        return list(futures)
