"""Time the word diff as texts grow: 1,000 → 10,000 → 100,000 words, before and after.

Two cases at each size: two unrelated texts (a policy rewritten whole) and two texts that
differ by one paragraph (a policy edited). The texts are written as make_corpus.py writes the
build benchmark's Vietnamese pages (eight sections of paragraphs and lists), rendered and
cut into blocks before the clock starts, so only the diff is timed (`diff_blocks`: pairing,
word diffs and the page's HTML), with its caches emptied and no garbage-collector passes,
as in a build.

"before" is the pairing as it was up to commit 9b0a920 (each changed old block compared with
every changed new block after it by difflib's ratio()), copied below; "after" is
policysite.render.diff. Both run in this process, interleaved (one run of each, `--runs`
rounds), best run kept. A size whose predicted time (the last time × the last growth) passes
`--budget` seconds is skipped and said so, so the run stops by itself; a run over 5 s is not
repeated.

    python bench/build/diff_growth.py [--runs 5] [--budget 60]
"""

from __future__ import annotations

import argparse
import difflib
import gc
import itertools
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's package
sys.path.insert(0, str(Path(__file__).resolve().parent))  # make_corpus

from make_corpus import VI_HEADINGS, VI_WORDS, block, first_document

from policysite.render import blocks, diff
from policysite.render.markup import render_markdown

SIZES = (1_000, 10_000, 100_000)
Blocks = list[tuple[str, str]]


# --- before: the pairing of policysite/render/diff.py at 9b0a920, unchanged -----------------


def _before_similar(old: str, new: str) -> bool:
    a, b = blocks.solid(old), blocks.solid(new)
    total = len(a) + len(b)
    if not total:
        return True
    if 2.0 * min(len(a), len(b)) / total < 0.5:
        return False
    counts, other = sorted((diff._counts(old), diff._counts(new)), key=len)
    common = sum(min(n, other.get(token, 0)) for token, n in counts.items())
    if 2.0 * common / total < 0.5:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.5


def _before_word_diff(old: str, new: str) -> tuple[list[tuple[str, str]], int, int]:
    a, b = blocks.tokens(old), blocks.tokens(new)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    segments: list[tuple[str, str]] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in diff._merged_opcodes(opcodes, a):
        if tag == "equal":
            segments.append(("equal", "".join(b[j1:j2])))
            continue
        segments += [("delete", "".join(a[i1:i2])), ("insert", "".join(b[j1:j2]))]
        removed += diff._count_words(a[i1:i2])
        added += diff._count_words(b[j1:j2])
    return segments, added, removed


def _before_pair_blocks(old: Blocks, new: Blocks) -> list:
    out: list = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [(kind, [("equal", text)], 0, 0) for kind, text in new[j1:j2]]
            continue
        i, j = i1, j1
        while i < i2 or j < j2:
            if i < i2 and j < j2 and _before_similar(old[i][1], new[j][1]):
                out.append((new[j][0], *_before_word_diff(old[i][1], new[j][1])))
                i, j = i + 1, j + 1
            elif i < i2 and not any(_before_similar(old[i][1], n[1]) for n in new[j + 1 : j2]):
                out.append((old[i][0], [("delete", old[i][1])], 0, diff._words_in(old[i][1])))
                i += 1
            else:
                out.append((new[j][0], [("insert", new[j][1])], diff._words_in(new[j][1]), 0))
                j += 1
    return out


def before(old: Blocks, new: Blocks) -> str:
    paired = _before_pair_blocks(old, new)
    return diff._layout([(kind, segments) for kind, segments, _, _ in paired], "+", "-")[0]


def after(old: Blocks, new: Blocks) -> str:
    return diff.diff_blocks(old, new, added_label="+", removed_label="-").html


# --- the texts ----------------------------------------------------------------------------


def markdown_blocks(rng: random.Random, words: int) -> list[str]:
    """A document of about `words` words as make_corpus.py writes one: eight sections of
    paragraphs and lists (~60 words each), in Vietnamese."""
    document = first_document(rng, VI_WORDS, VI_HEADINGS, "Chính sách", words)
    return document.markdown().split("\n\n")


def cut(markdown: list[str]) -> Blocks:
    return blocks.blocks(render_markdown("\n\n".join(markdown) + "\n").html)


def cases(words: int) -> dict[str, tuple[Blocks, Blocks]]:
    rng = random.Random(words)
    old = markdown_blocks(rng, words)
    edited = list(old)
    middle = len(old) // 2 + (old[len(old) // 2].startswith("#"))  # a paragraph, not a heading
    edited[middle] = block(rng, VI_WORDS)
    return {
        "unrelated": (cut(old), cut(markdown_blocks(rng, words))),
        "one paragraph": (cut(old), cut(edited)),
    }


# --- timing -------------------------------------------------------------------------------


def clear_caches() -> None:
    for value in vars(diff).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def timed(run: Callable[[Blocks, Blocks], str], old: Blocks, new: Blocks) -> float:
    clear_caches()
    gc.collect()
    gc.disable()  # as in a build (policysite/cli.py): no collector passes
    start = time.perf_counter()
    run(old, new)
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed


ALGORITHMS = {"before": before, "after": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per diff, at most")
    args = parser.parse_args()
    texts = {words: cases(words) for words in SIZES}
    runs = [(case, name) for case in ("unrelated", "one paragraph") for name in ALGORITHMS]
    times: dict[tuple[str, str, int], list[float]] = {}
    for round_ in range(args.runs):  # interleaved: background load hits all of them alike
        for words in SIZES:
            for case, name in runs:
                found = times.setdefault((case, name, words), [])
                smaller = [min(times[case, name, w]) for w in SIZES if w < words]
                growth = smaller[-1] / smaller[-2] if len(smaller) >= 2 else 10.0
                if smaller and smaller[-1] * growth > args.budget:
                    if not round_:
                        print(f"{case}, {name}, {words:,} words: skipped, would take")
                        print(f"  ~{smaller[-1] * growth:.0f} s (the last time × the last growth)")
                    continue
                if found and max(found) > 5:  # one slow run says enough
                    continue
                found.append(timed(ALGORITHMS[name], *texts[words][case]))
    results = {
        (case, name): [min(times[case, name, w], default=None) for w in SIZES]
        for case, name in runs
    }
    print_table(texts, results)


def print_table(texts: dict, results: dict[tuple[str, str], list[float | None]]) -> None:
    print("| case | algorithm | " + " | ".join(f"{w:,} words" for w in SIZES) + " | ×/10× words |")
    print("|---|---|" + "---:|" * (len(SIZES) + 1))
    for (case, name), found in results.items():
        cells = [f"{t * 1000:,.1f} ms" if t is not None else "skipped" for t in found]
        ratios = [f"{b / a:.1f}×" for a, b in itertools.pairwise(found) if a and b]
        print(f"| {case} | {name} | " + " | ".join(cells) + f" | {', '.join(ratios)} |")
    for words in SIZES:
        old, new = texts[words]["unrelated"]
        print(f"{words:,} words: {len(old):,} and {len(new):,} blocks")


if __name__ == "__main__":
    main()
