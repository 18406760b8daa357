"""Word-level diff of two versions' rendered text: the diff page (docs/build-output.md).

Both versions are compared as rendered HTML, so what a reader sees is what gets compared:
the cookie table, lists and headings included, Markdown syntax excluded. Each document is
cut into blocks (headings, paragraphs, list items, table rows) and the blocks into words
(blocks.py).
Blocks equal on both sides are matched first (difflib on whole blocks); between them, changed
blocks are paired by their rare words (`_anchors`) and then each with a similar block a few
blocks ahead (`_pair_near`), and only paired blocks are diffed by word. So the work grows with
the text, not with its square, even when a version rewrites everything (bench/README.md,
*Diff growth*). Every block of either version appears in the result, in reading order, and
changed words are wrapped in `<ins>`/`<del>` with a visually hidden label, so the change is
announced and never shown by colour alone (WCAG 1.4.1).
"""

from __future__ import annotations

import bisect
import difflib
import functools
import html
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from policysite.render.blocks import HEADINGS, blocks, solid, tokens
from policysite.render.markup import slugify

_WORD = re.compile(r"\w")
_WORD_RUNS = re.compile(r"\w+")


@dataclass(frozen=True)
class Diff:
    """A diff page's body: HTML, its headings (level, id, plain title) and word counts."""

    html: str
    toc: list[tuple[int, str, str]] = field(default_factory=list)
    added: int = 0
    removed: int = 0

    @property
    def unchanged(self) -> bool:
        return self.added == 0 and self.removed == 0


# The work per block is bounded: difflib sees at most _PAIR_TOKENS words of a pair of blocks
# (beyond, `_opcodes`), a changed block looks for its pair _LOOKAHEAD blocks ahead, and a word
# in m old and n new blocks votes for pairs (`_anchors`) if m × n <= _RARE.
_PAIR_TOKENS = 2000
_LOOKAHEAD = 8
_RARE = 8


# What diffs have cost since WORK.clear(): "matchers" made by difflib, the "tokens" they were
# given, and block "pairs" compared. Tests bound a diff's work with it, as wall time cannot.
WORK: Counter[str] = Counter()


def _matcher(a: Sequence, b: Sequence, *, autojunk: bool = False) -> difflib.SequenceMatcher:
    WORK["matchers"] += 1
    WORK["tokens"] += len(a) + len(b)
    return difflib.SequenceMatcher(None, a, b, autojunk=autojunk)


def _ends(a: Sequence, b: Sequence) -> tuple[int, int]:
    """The lengths of the common start and the common end of a and b (not overlapping)."""
    short, head, tail = min(len(a), len(b)), 0, 0
    while head < short and a[head] == b[head]:
        head += 1
    while tail < short - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


Opcode = tuple[str, int, int, int, int]


def _opcodes(a: Sequence[str], b: Sequence[str], limit: int) -> list[Opcode]:
    """difflib's opcodes for a → b, for at most `limit` tokens of work: longer sequences
    keep their common start and end, and difflib sees only what lies between, or, if that is
    still longer, it is replaced whole."""
    if len(a) + len(b) <= limit:
        return _matcher(a, b).get_opcodes()
    head, tail = _ends(a, b)
    end_a, end_b = len(a) - tail, len(b) - tail
    ops: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    if end_a + end_b - 2 * head <= limit:
        middle = _matcher(a[head:end_a], b[head:end_b]).get_opcodes()
        ops += [(t, i1 + head, i2 + head, j1 + head, j2 + head) for t, i1, i2, j1, j2 in middle]
    else:
        ops.append(("replace", head, end_a, head, end_b))
    return ops + ([("equal", end_a, len(a), end_b, len(b))] if tail else [])


def _merged_opcodes(opcodes: list[Opcode], old: Sequence[str]) -> list[Opcode]:
    """Opcodes with whitespace-only matches between two changes folded into one change,
    so "a b c" → "x y z" reads as one replacement instead of three."""
    merged: list[list] = []
    for op in opcodes:
        tag, i1, i2, _j1, j2 = op
        trivial = tag == "equal" and all(t == " " for t in old[i1:i2])
        if merged and merged[-1][0] != "equal" and (tag != "equal" or trivial):
            last = merged[-1]
            merged[-1] = ["replace", last[1], i2, last[3], j2]
        else:
            merged.append(list(op))
    return [tuple(op) for op in merged]


Segments = list[tuple[str, str]]  # (op, text), op in equal | insert | delete


def _word_diff(old: str, new: str) -> tuple[Segments, int, int]:
    """Given two blocks' text, return their word-level segments and the words added/removed."""
    a, b = tokens(old), tokens(new)
    segments: Segments = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in _merged_opcodes(_opcodes(a, b, 2 * _PAIR_TOKENS), a):
        if tag == "equal":
            segments.append(("equal", "".join(b[j1:j2])))
            continue
        segments += [("delete", "".join(a[i1:i2])), ("insert", "".join(b[j1:j2]))]
        removed += _count_words(a[i1:i2])
        added += _count_words(b[j1:j2])
    return segments, added, removed


@functools.lru_cache(maxsize=8192)
def _similar(old: str, new: str) -> bool:
    """Whether two blocks are one block edited (diff by word) or two different blocks:
    difflib's ratio() of their words is at least 0.5 (of the bounded opcodes, `_opcodes`).

    The cheap upper bounds decide most pairs, as difflib's real_quick_ratio() and
    quick_ratio() would (ratio() <= quick_ratio() <= real_quick_ratio(), the same formula),
    but without building a SequenceMatcher, and with each block's word counts made once."""
    WORK["pairs"] += 1
    a, b = solid(old), solid(new)
    total = len(a) + len(b)
    if not total:
        return True  # difflib: two empty sequences are identical
    if 2.0 * min(len(a), len(b)) / total < 0.5:
        return False
    counts, other = sorted((_counts(old), _counts(new)), key=len)
    common = sum(map(min, counts.values(), map(other.get, counts, itertools.repeat(0))))
    if 2.0 * common / total < 0.5:
        return False
    same = sum(i2 - i1 for tag, i1, i2, _, _ in _opcodes(a, b, _PAIR_TOKENS) if tag == "equal")
    return 2.0 * same / total >= 0.5


@functools.lru_cache(maxsize=8192)
def _counts(text: str) -> dict[str, int]:
    return Counter(solid(text))


Block = tuple[str, str]
Paired = list[tuple[str, Segments, int, int]]


def _pair_blocks(old: list[Block], new: list[Block]) -> Paired:
    """Blocks in reading order as (kind, segments, added, removed): equal blocks as they are,
    edited blocks diffed by word, and others whole as removed or added."""
    out: Paired = []
    # autojunk: in texts of 200 blocks or more, a block found in over 1% of them (a table's
    # repeated row) does not anchor a match, but still joins one beside it; anchoring on it
    # would make difflib's work grow with the cube of its copies.
    for tag, i1, i2, j1, j2 in _matcher(old, new, autojunk=True).get_opcodes():
        if tag == "equal":
            out += [(kind, [("equal", text)], 0, 0) for kind, text in new[j1:j2]]
        else:
            out += _pair_changed(old[i1:i2], new[j1:j2])
    return out


def _pair_changed(old: list[Block], new: list[Block]) -> Paired:
    """Changed blocks paired: first the anchors (`_anchors`), then between two anchors each
    block with a similar one at most `_LOOKAHEAD` blocks ahead (`_pair_near`)."""
    out: Paired = []
    i = j = 0
    for anchor_i, anchor_j in [*_anchors(old, new), (len(old), len(new))]:
        out += _pair_near(old[i:anchor_i], new[j:anchor_j])
        if anchor_i < len(old):
            out.append((new[anchor_j][0], *_word_diff(old[anchor_i][1], new[anchor_j][1])))
        i, j = anchor_i + 1, anchor_j + 1
    return out


def _pair_near(old: list[Block], new: list[Block]) -> Paired:
    """Pair each old block with the next new one if they are similar; drop it (removed) if no
    new block up to `_LOOKAHEAD` ahead is similar; otherwise the new block is added."""
    out: Paired = []
    i = j = 0
    while i < len(old) or j < len(new):
        if i < len(old) and j < len(new) and _similar(old[i][1], new[j][1]):
            out.append((new[j][0], *_word_diff(old[i][1], new[j][1])))
            i, j = i + 1, j + 1
        elif i < len(old) and not any(
            _similar(old[i][1], n[1]) for n in new[j + 1 : j + 1 + _LOOKAHEAD]
        ):
            out.append((old[i][0], [("delete", old[i][1])], 0, _words_in(old[i][1])))
            i += 1
        else:
            out.append((new[j][0], [("insert", new[j][1])], _words_in(new[j][1]), 0))
            j += 1
    return out


def _anchors(old: list[Block], new: list[Block]) -> list[tuple[int, int]]:
    """Pairs (i, j) of similar blocks, in reading order on both sides, found by their rare
    words, as histogram diff (git diff --histogram) pairs lines by their rarest ones.

    A word in m old blocks and n new ones, m × n at most `_RARE`, gives each of those pairs
    a vote of 1 / (m × n). A pair is a candidate when each block is the other's most voted,
    and the longest run of candidates in order on both sides is kept. Gaps that `_pair_near`
    sees whole need none (the result is the same as without anchors)."""
    if len(new) <= _LOOKAHEAD + 1:
        return []
    in_old, in_new = _where(old), _where(new)
    votes: dict[tuple[int, int], float] = Counter()
    for token, olds in in_old.items():
        news = in_new.get(token, ())
        if news and len(olds) * len(news) <= _RARE:
            for pair in itertools.product(olds, news):
                votes[pair] += 1 / (len(olds) * len(news))
    best_of_old: dict[int, tuple[float, int]] = {}  # block: (votes, -index of its best pair)
    best_of_new: dict[int, tuple[float, int]] = {}  # (-index: the first of equals wins)
    for (i, j), n in sorted(votes.items()):
        best_of_old[i] = max(best_of_old.get(i, (0, 0)), (n, -j))
        best_of_new[j] = max(best_of_new.get(j, (0, 0)), (n, -i))
    mutual = [(i, -j) for i, (_, j) in sorted(best_of_old.items()) if best_of_new[-j][1] == -i]
    return [(i, j) for i, j in _increasing(mutual) if _similar(old[i][1], new[j][1])]


def _where(found: list[Block]) -> dict[str, list[int]]:
    """Each token of `found` with the indexes of the blocks that hold it."""
    where: dict[str, list[int]] = {}
    for index, (_, text) in enumerate(found):
        for token in _counts(text):
            where.setdefault(token, []).append(index)
    return where


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Given pairs sorted by their first item, the longest run whose second items increase
    too (patience sorting, O(n log n))."""
    tops: list[int] = []  # tops[k]: the smallest second item that ends a run of k + 1
    ends: list[int] = []  # ends[k]: the index in `pairs` of that run's last pair
    before: list[int] = []
    for index, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tops, j)
        before.append(ends[k - 1] if k else -1)
        tops[k : k + 1], ends[k : k + 1] = [j], [index]
    run, index = [], ends[-1] if ends else -1
    while index >= 0:
        run.append(pairs[index])
        index = before[index]
    return run[::-1]


def _render_segments(segments: list[tuple[str, str]], added_label: str, removed_label: str) -> str:
    out: list[str] = []
    for op, text in segments:
        if op == "equal" or not text.strip():
            out.append(html.escape(text, quote=False))
            continue
        tag, label = ("ins", added_label) if op == "insert" else ("del", removed_label)
        stripped = text.strip()
        lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        out.append(
            f'{lead}<{tag}><span class="visually-hidden">{html.escape(label)} </span>'
            f"{html.escape(stripped, quote=False)}</{tag}>{trail}"
        )
    return "".join(out).strip()


def _block_state(segments: list[tuple[str, str]]) -> str:
    ops = {op for op, text in segments if text.strip()}
    if ops == {"insert"}:
        return "added"
    if ops == {"delete"}:
        return "removed"
    return "changed" if ops - {"equal"} else "same"


def _count_words(tokens: Sequence[str]) -> int:
    return sum(1 for t in tokens if _WORD.match(t))


@functools.lru_cache(maxsize=8192)
def _words_in(text: str) -> int:
    """`_count_words(tokens(text))`: the word tokens are exactly the runs of \\w."""
    return len(_WORD_RUNS.findall(text))


@functools.lru_cache(maxsize=8192)
def _escaped(text: str) -> str:
    """An unchanged block's HTML (`_render_segments` of one "equal" segment)."""
    return html.escape(text, quote=False).strip()


@functools.lru_cache(maxsize=4096)
def _slug(title: str) -> str:
    return slugify(title)


def diff_html(old_html: str, new_html: str, *, added_label: str, removed_label: str) -> Diff:
    """Given two versions' rendered HTML, return the word-level diff as HTML blocks."""
    return diff_blocks(
        blocks(old_html), blocks(new_html), added_label=added_label, removed_label=removed_label
    )


def diff_blocks(
    old: list[tuple[str, str]], new: list[tuple[str, str]], *, added_label: str, removed_label: str
) -> Diff:
    """`diff_html` for texts already cut into blocks (blocks.py: `blocks`, `blocks_of`)."""
    paired = _pair_blocks(old, new)
    body, toc = _layout(
        [(kind, segments) for kind, segments, _, _ in paired], added_label, removed_label
    )
    added = sum(item[2] for item in paired)
    removed = sum(item[3] for item in paired)
    return Diff(html=body, toc=toc, added=added, removed=removed)


def _layout(
    out_blocks: list[tuple[str, list[tuple[str, str]]]], added_label: str, removed_label: str
) -> tuple[str, list[tuple[int, str, str]]]:
    """Write blocks as HTML: consecutive list items share one list; headings get ids."""
    parts: list[str] = []
    toc: list[tuple[int, str, str]] = []
    used: set[str] = set()
    open_list = ""
    for kind, segments in out_blocks:
        if len(segments) == 1 and segments[0][0] == "equal":  # most blocks: said once, cached
            inner, state = _escaped(segments[0][1]), "same"
        else:
            inner = _render_segments(segments, added_label, removed_label)
            state = _block_state(segments)
        if not inner:
            continue
        list_tag = kind[3:] if kind.startswith("li-") else ""
        if open_list and list_tag != open_list:
            parts.append(f"</{open_list}>")
            open_list = ""
        if list_tag and not open_list:
            parts.append(f'<{list_tag} class="diff-list">')
            open_list = list_tag
        css = f' class="diff-{state}"' if state != "same" else ""
        if list_tag:
            parts.append(f"<li{css}>{inner}</li>")
        elif kind in HEADINGS:
            level = max(2, int(kind[1]))
            title = " ".join(text for op, text in segments if op != "delete").split()
            plain = " ".join(title) or " ".join(t for _, t in segments).strip()
            anchor = _unique("change-" + _slug(plain), used)
            toc.append((level, anchor, plain))
            parts.append(f'<h{level} id="{anchor}"{css}>{inner}</h{level}>')
        elif kind == "row":
            parts.append(f'<p class="diff-row{" diff-" + state if css else ""}">{inner}</p>')
        elif kind == "pre":
            parts.append(f"<pre{css}>{inner}</pre>")
        else:
            parts.append(f"<p{css}>{inner}</p>")
    if open_list:
        parts.append(f"</{open_list}>")
    return "\n".join(parts) + ("\n" if parts else ""), toc


def _unique(anchor: str, used: set[str]) -> str:
    candidate, n = anchor, 1
    while candidate in used:
        candidate, n = f"{anchor}_{n}", n + 1
    used.add(candidate)
    return candidate
