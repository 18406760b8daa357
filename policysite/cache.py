"""Rendered Markdown and diffs, cached by content hash in memory and on disk (issue #5).

Markdown and the word diff are the build's CPU-heavy steps, and both are pure functions of
their text. A result is stored under the sha256 of everything that shapes it: the inputs,
the source of `markup.py`/`diff.py` and the versions of Python-Markdown and lxml. So an entry
can never be stale: a change to any of them is a different key. Nothing depends on mtimes.

On disk (`.policysite-cache/` in the working folder, see docs/fast-builds.md) each entry is one
small JSON file written atomically, so builds in parallel processes may share the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import lxml.etree
import markdown

from policysite import diff, markup
from policysite.diff import Diff
from policysite.markup import Rendered

CACHE_NAME = ".policysite-cache"
MEMORY_ENTRIES = 4096  # a few MB: every text and diff of a site of a few hundred versions
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
    for module in (markup, diff):
        salt.update(Path(module.__file__).read_bytes())
    salt.update(f"markdown {markdown.__version__}; lxml {lxml.etree.LXML_VERSION}".encode())
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


def _encode_rendered(rendered: Rendered) -> dict:
    return {"html": rendered.html, "toc": rendered.toc}


def _decode_rendered(data: dict) -> Rendered:
    return Rendered(html=data["html"], toc=[tuple(item) for item in data["toc"]])


def _encode_diff(result: Diff) -> dict:
    return {
        "html": result.html,
        "toc": result.toc,
        "added": result.added,
        "removed": result.removed,
    }


def _decode_diff(data: dict) -> Diff:
    return Diff(
        html=data["html"],
        toc=[tuple(item) for item in data["toc"]],
        added=data["added"],
        removed=data["removed"],
    )


def compute_markdown(request: TextRequest) -> Rendered:
    return markup.render_markdown(
        request.body, cookie_table=request.cookie_table, anchor_label=request.anchor_label
    )


def compute_diff(request: DiffRequest) -> Diff:
    return diff.diff_html(
        request.old_html,
        request.new_html,
        added_label=request.added_label,
        removed_label=request.removed_label,
    )


@dataclass
class CacheStats:
    """Per kind ("markdown", "diff"): results read from disk, and results computed. A text
    shown on several pages of one build counts once."""

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


class TextCache:
    """Markdown and diff results by content hash: in memory, and under `root` when given."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.stats = CacheStats()
        self.used: set[str] = set()  # keys this build asked for: `prune` keeps them
        self._memory: dict[tuple, Rendered | Diff] = {}
        self._keys: dict[tuple, str] = {}

    def markdown(self, request: TextRequest) -> Rendered:
        """Given a text to render, return it rendered, from the cache when possible."""
        return self._get("markdown", request, compute_markdown, _encode_rendered, _decode_rendered)

    def diff(self, request: DiffRequest) -> Diff:
        """Given two rendered texts, return their word diff, from the cache when possible."""
        return self._get("diff", request, compute_diff, _encode_diff, _decode_diff)

    def _get(self, kind, request, compute, encode, decode):
        # In memory, the request itself is the key: its strings hash once and are shared
        # by every page that shows the same text.
        found = self._memory.get(request)
        if found is not None:
            self.used.add(self._keys[request])
            return found
        key = key_of(kind, tuple(request))
        self.used.add(key)
        found = self._read(kind, key, decode) if self.root is not None else None
        if found is not None:
            self.stats.hits[kind] += 1
        else:
            self.stats.misses[kind] += 1
            found = compute(request)
            if self.root is not None:
                self._write(kind, key, encode(found))
        if len(self._memory) >= MEMORY_ENTRIES:
            self._memory.clear()
            self._keys.clear()
        self._memory[request] = found
        self._keys[request] = key
        return found

    def _path(self, kind: str, key: str) -> Path:
        assert self.root is not None
        return self.root / kind / key[:2] / f"{key}.json"

    def _read(self, kind, key, decode):
        try:
            return decode(json.loads(self._path(kind, key).read_bytes()))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, or cut short by a crash: compute it again

    def _write(self, kind: str, key: str, data: dict) -> None:
        """Write atomically (temp file + rename). A cache that cannot be written only makes
        builds slower, so errors are not the user's problem."""
        target = self._path(kind, key)
        with contextlib.suppress(OSError):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(json.dumps(data, ensure_ascii=False).encode("utf-8"))
                os.replace(tmp, target)
            except OSError:
                Path(tmp).unlink(missing_ok=True)
                raise


def prune(root: Path, used: set[str], days: int = PRUNE_AFTER_DAYS) -> int:
    """Delete entries under `root` that the last build did not use (`used` keys) and that
    nothing wrote for `days`. Return how many went: the cache stays the size of what recent
    builds need."""
    limit = time.time() - days * 86400
    removed = 0
    for kind in ("markdown", "diff"):
        for path in (root / kind).glob("*/*.json"):
            if path.stem in used:
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
    return removed


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
