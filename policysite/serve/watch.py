"""Watch the source trees for `serve`, fast: inotify through watchfiles, bursts grouped in ~20 ms.

livereload's own Watcher stats every file every 800 ms (its inotify variant needs pyinotify,
unmaintained since 2015). At that rate the watcher alone would spend most of the 250 ms
edit → browser budget (docs/performance.md). watchfiles (Rust `notify`, inotify on Linux,
polling only where the kernel gives no events) wakes on the kernel's event and costs nothing
while idle. Its `step` is our debounce window: a batch is handed over once no new change
arrived for `step` ms, so an editor's write-temp / rename / chmod dance gives one rebuild, not
three.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import watchfiles

from policysite.build.manifest import CACHE_NAME

DEBOUNCE_MS = 20
"""Quiet time that closes a burst of saves. Editors finish their save dance within a few ms."""

MAX_BATCH_MS = 1_000
"""A steady stream of changes (a `git checkout`) still gives a rebuild at least this often."""

IGNORED_NAMES = (
    r"^versions\.lock$",  # written by the build itself: watching it would rebuild forever
    r"^4913$",  # vim's probe file
    r"\.tmp$",
    r"\.bak$",
)


class SourceFilter(watchfiles.DefaultFilter):
    """watchfiles' default ignores (.git, swap files, `~` backups) plus build outputs."""

    ignore_dirs = (*watchfiles.DefaultFilter.ignore_dirs, CACHE_NAME)  # the build's own cache
    ignore_entity_patterns = (*watchfiles.DefaultFilter.ignore_entity_patterns, *IGNORED_NAMES)


def existing_roots(roots: Iterable[Path]) -> list[Path]:
    """Return the roots that exist, absolute and without duplicates, in their given order."""
    seen: dict[Path, None] = {}
    for root in roots:
        if root.exists():
            seen.setdefault(root.resolve(), None)
    return list(seen)


async def watch_sources(
    roots: Sequence[Path],
    *,
    ignore: Sequence[Path] = (),
    stop: asyncio.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
) -> AsyncIterator[set[Path]]:
    """Yield the set of changed paths under `roots`, one set per burst of changes.

    Paths under `ignore` (e.g. an output folder inside a source tree) never count. Changes that
    happen while the caller is busy with the previous set are kept and come as the next set.
    Stops when `stop` is set.
    """
    watch_filter = SourceFilter(ignore_paths=[p.resolve() for p in ignore])
    async for changes in watchfiles.awatch(
        *existing_roots(roots),
        watch_filter=watch_filter,
        debounce=MAX_BATCH_MS,
        step=debounce_ms,
        stop_event=stop,
    ):
        yield {Path(path) for _, path in changes}
