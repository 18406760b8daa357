"""Rendered Markdown and diffs, cached by content hash in memory and on disk.

docs/fast-builds.md, *Where the cache lives, and how to clear it*, is the operators' side.

Markdown and the word diff are the build's CPU-heavy steps, and both are pure functions of
their text. Texts are rendered section by section (policysite.render.sections), so a new version
re-renders only the sections it changed. A result is stored under the sha256 of everything
that shapes it: the inputs, the source of `markup.py`/`sections.py`/`diff.py` and the
versions of Python, Python-Markdown and lxml. So an entry can never be stale: a change to any
of them is a different key. Nothing depends on mtimes.

On disk (`.policysite-cache/texts.pack` in the working folder, see docs/fast-builds.md) the
entries live in one file of marshal segments, read once per build and replaced (atomically:
temp file + rename) only when the build computed something new. One file instead of one per
entry: a cold build makes a few thousand sections, and a file each would cost more than
rendering. Render workers marshal what they computed into segments themselves (`segment`),
so a build that only adds entries writes the pack as it was plus the new segments, without
the parent decoding and encoding megabytes of HTML.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import marshal
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import lxml.etree
import markdown

from policysite.render import blocks, diff, markup, sections
from policysite.render.diff import Diff
from policysite.render.markup import Rendered
from policysite.render.sections import Piece

PACK_NAME = "texts.pack"
MEMORY_ENTRIES = 16384  # every section, text and diff of a site of a few hundred versions
PRUNE_AFTER_DAYS = 7


class TextRequest(NamedTuple):
    """One Markdown text to render, with what `render_markdown` embeds in it."""

    body: str
    cookie_table: str
    anchor_label: str


class DiffRequest(NamedTuple):
    """Two versions' rendered HTML to compare, with the page language's labels."""

    old_html: str
    new_html: str
    added_label: str
    removed_label: str


def _code_salt() -> bytes:
    """What else shapes a result: our renderer's code and the libraries under it."""
    salt = hashlib.sha256()
    for module in (markup, sections, diff):
        salt.update(Path(module.__file__).read_bytes())
    salt.update(f"markdown {markdown.__version__}; lxml {lxml.etree.LXML_VERSION}".encode())
    salt.update(f"python {sys.version}; marshal {marshal.version}".encode())
    return salt.digest()


_SALT = _code_salt()


def key_of(kind: str, parts: tuple[str, ...]) -> str:
    """The cache key of one result: sha256 of the code salt, the kind and the inputs."""
    digest = hashlib.sha256(_SALT)
    digest.update(kind.encode())
    for part in parts:
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(data)
    return digest.hexdigest()


@dataclass
class CacheStats:
    """Per kind ("markdown": texts and sections, "diff"): results read from disk, and results
    computed. A result used on several pages of one build counts once."""

    hits: dict[str, int] = field(default_factory=lambda: {"markdown": 0, "diff": 0})
    misses: dict[str, int] = field(default_factory=lambda: {"markdown": 0, "diff": 0})

    def add(self, other: CacheStats) -> None:
        for kind in self.hits:
            self.hits[kind] += other.hits[kind]
            self.misses[kind] += other.misses[kind]

    def __str__(self) -> str:
        return (
            f"markdown {self.hits['markdown']} cached, {self.misses['markdown']} rendered; "
            f"diffs {self.hits['diff']} cached, {self.misses['diff']} computed"
        )


Entry = tuple  # a result as plain tuples, strings and ints: what marshal stores


def _piece(request: TextRequest) -> Entry:
    piece = markup.render_piece(
        request.body, cookie_table=request.cookie_table, anchor_label=request.anchor_label
    )
    return (piece.html, piece.toc, piece.heading_ids)


class TextCache:
    """Markdown and diff results by content hash: in memory, and under `root` when given.

    `fresh` holds what this cache computed and `used` the keys it asked for, so the process
    that writes the pack (`save`) can gather them from worker processes.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.stats = CacheStats()
        self.used: set[str] = set()
        self.fresh: dict[str, Entry] = {}
        self._stored: dict[str, tuple[int, Entry]] | None = None
        self._memory: dict[tuple, Any] = {}
        self._parts: dict[str, tuple[str, ...]] = {}  # a text's HTML -> its sections' HTML

    def load(self) -> None:
        """Read the pack now (before worker processes fork, so they share it)."""
        if self._stored is None:
            self._stored = read_pack(self.root) if self.root is not None else {}

    def add_segment(self, data: bytes) -> None:
        """Take the entries another process computed (a render worker's segment), so this
        one reads them instead of computing them again."""
        entries = _entries(data) if data else None
        if entries:
            self.load()
            assert self._stored is not None
            self._stored.update(entries)

    def markdown(self, request: TextRequest) -> Rendered:
        """Given a text to render, return it rendered, from the cache when possible."""
        found = self._memory.get(request)
        if found is not None:
            return found
        parts = sections.split(request.body)
        joined = None
        if parts is not None and len(parts) > 1:
            pieces = [
                Piece(*self._get("markdown", request._replace(body=part), _piece)) for part in parts
            ]
            joined = sections.join(parts, pieces)
        if joined is not None:
            rendered = Rendered(html=joined[0], toc=joined[1])
            self._parts[rendered.html] = tuple(piece.html for piece in pieces)
        else:
            html, toc, _ids = self._get("markdown", request, _piece)
            rendered = Rendered(html=html, toc=list(toc))
        self._remember(request, rendered)
        return rendered

    def diff(self, request: DiffRequest) -> Diff:
        """Given two rendered texts, return their word diff, from the cache when possible."""
        found = self._memory.get(request)
        if found is None:
            html, toc, added, removed = self._get("diff", request, self._compute_diff)
            found = Diff(html=html, toc=list(toc), added=added, removed=removed)
            self._remember(request, found)
        return found

    def _compute_diff(self, request: DiffRequest) -> Entry:
        old = blocks.blocks_of(self._parts.get(request.old_html, (request.old_html,)))
        new = blocks.blocks_of(self._parts.get(request.new_html, (request.new_html,)))
        result = diff.diff_blocks(
            old, new, added_label=request.added_label, removed_label=request.removed_label
        )
        return (result.html, tuple(result.toc), result.added, result.removed)

    def _get(self, kind: str, request: tuple, compute: Callable[[Any], Entry]) -> Entry:
        memo = (kind, request)
        found = self._memory.get(memo)
        if found is not None:
            return found
        key = key_of(kind, tuple(request))
        self.used.add(key)
        self.load()
        assert self._stored is not None
        stored = self._stored.get(key)
        if key in self.fresh:  # computed by this cache earlier, then dropped from memory
            found = self.fresh[key]
        elif stored is not None:
            found = stored[1]
            self.stats.hits[kind] += 1
        else:
            found = compute(request)
            self.stats.misses[kind] += 1
            if self.root is not None:
                self.fresh[key] = found
        self._remember(memo, found)
        return found

    def _remember(self, key: tuple, value: Any) -> None:
        if len(self._memory) >= MEMORY_ENTRIES:
            self._memory.clear()
            self._parts.clear()
        self._memory[key] = value

    def take_news(self) -> tuple[set[str], bytes]:
        """The keys used since the last call, and the entries computed since then as a
        segment of the pack, for `save`."""
        used, fresh = self.used, self.fresh
        self.used, self.fresh = set(), {}
        day = _today()
        if self._stored is not None:
            self._stored.update((key, (day, entry)) for key, entry in fresh.items())
        return used, segment(fresh, day)


# --- the pack on disk ---------------------------------------------------------------------------


def _today() -> int:
    return int(time.time() // 86400)


def _pack(root: Path) -> Path:
    return root / PACK_NAME


def segment(fresh: dict[str, Entry], day: int) -> bytes:
    """Entries computed on `day`, as a segment of the pack (b"" for none)."""
    if not fresh:
        return b""
    return marshal.dumps((_SALT, {key: (day, entry) for key, entry in fresh.items()}))


def read_pack(root: Path) -> dict[str, tuple[int, Entry]]:
    """The stored entries (key -> (day last used, entry)); empty if absent, damaged or made
    by other code (a different salt)."""
    return _read(root)[0]


def _read(root: Path) -> tuple[dict[str, tuple[int, Entry]], bytes]:
    """The stored entries and the pack's bytes (b"" when they are not to be trusted)."""
    try:
        data = _pack(root).read_bytes()
    except OSError:
        return {}, b""
    entries = _entries(data)
    return ({}, b"") if entries is None else (entries, data)


def _entries(data: bytes) -> dict[str, tuple[int, Entry]] | None:
    """The entries of one or more segments (a later one wins); None if any is damaged or
    was made by other code."""
    entries: dict[str, tuple[int, Entry]] = {}
    stream = io.BytesIO(data)
    try:
        while stream.tell() < len(data):
            salt, part = marshal.load(stream)
            if salt != _SALT or not isinstance(part, dict):
                return None
            entries.update(part)
    except (EOFError, ValueError, TypeError):
        return None
    return entries


def save(root: Path, used: set[str], segments: list[bytes], days: int = PRUNE_AFTER_DAYS) -> None:
    """Merge a build's results into the pack: new entries (`segments`), and the day of those
    it used. Entries nothing used for `days` are dropped, so the pack stays the size of what
    recent builds need. Nothing is written when nothing changed. A cache that cannot be
    written only makes builds slower, so errors are not the user's problem."""
    today = _today()
    entries, data = _read(root)
    segments = [part for part in segments if part]
    redated = {key for key in used if key in entries and entries[key][0] != today}
    expired = {key for key, (day, _) in entries.items() if today - day > days}
    if redated or expired:  # one segment of everything kept
        for part in segments:
            entries.update(_entries(part) or {})
        for key in redated:
            entries[key] = (today, entries[key][1])
        kept = {key: value for key, value in entries.items() if today - value[0] <= days}
        pack = marshal.dumps((_SALT, kept))
    elif segments:  # only new entries: the pack as it was, then theirs
        pack = data + b"".join(segments)
    else:
        return
    with contextlib.suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pack)
            os.replace(tmp, _pack(root))
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise


_current = TextCache()


def texts_cache() -> TextCache:
    """The cache that rendering uses now (memory only unless a build installs its own)."""
    return _current


@contextlib.contextmanager
def using(cache: TextCache) -> Iterator[TextCache]:
    """Render with `cache` inside the block (a build installs its on-disk cache this way)."""
    global _current
    previous, _current = _current, cache
    try:
        yield cache
    finally:
        _current = previous
