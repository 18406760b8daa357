"""Run a build step over chunks of work on every core (issue #5, `--jobs`).

Rendering is CPU-bound Python (Markdown, difflib, Jinja2), so threads would not help: chunks go
to a pool of processes. On Linux the pool forks, so workers start at once with the loaded site,
the compiled templates and every imported module already in memory; elsewhere the state is
pickled to each worker once. Each chunk's result comes back in order, so the output does not
depend on the number of workers.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_state: Any = None  # what workers read: set in the parent before forking, or by _init


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
    `function` must be a module-level function (workers look it up by name)."""
    global _state
    if jobs <= 1 or len(chunks) <= 1:
        results = [function(state, chunk) for chunk in chunks]
        if while_waiting is not None:
            while_waiting()
        return results
    fork = sys.platform == "linux"
    context = multiprocessing.get_context("fork" if fork else "spawn")
    previous, _state = _state, state
    # Objects the workers inherit stay out of their garbage collector: its passes would
    # write to every one of them and so copy every page of memory the fork shares.
    gc.freeze()
    try:
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(chunks)),
            mp_context=context,
            initializer=None if fork else _init,
            initargs=() if fork else (state,),
        ) as pool:
            futures = pool.map(_call, [function] * len(chunks), chunks)  # all submitted now
            if while_waiting is not None:
                while_waiting()
            return list(futures)
    finally:
        gc.unfreeze()
        _state = previous
