"""The rate limiter's cost per request at 1,000 to 300,000 active client networks, before and after.

"before" is the limiter as it was before a2da4e4, copied below: a dict that, once it held
100,000 buckets, was rebuilt (a scan of every bucket) on each new network. "after" is
policysite.collector.core.ratelimit, buckets in order of last use with idle ones dropped from
the front. Both run in the same process, in alternating rounds, on the same keys and clock.

Each case fills the limiter with N networks all heard from in the last 10 s (at the default
600/min and burst 120 a bucket is idle only after 12 s, so none may be dropped), then times
requests from networks it has not seen and from networks it holds (in random order). The fill
writes the buckets directly: filling "before" through its own API would scan 200,000 times.
The garbage collector is off while timing; the figures are the algorithm's, not a worker's.

    python bench/collector/ratelimit.py [--calls 2000] [--seconds 1.0] [--rounds 3]

Every timing stops after --calls requests or --seconds, whichever comes first, so the whole run
takes well under a minute. It prints µs per request (the best round) and before ÷ after.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sys
import time
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from policysite.collector.core.ratelimit import RateLimiter  # noqa: E402

RATE, BURST = 10.0, 120  # the collector's defaults: 600/min, burst 120
SIZES = (1_000, 100_000, 300_000)
NOW = 10.0  # the fill spreads last uses over [0, NOW): all still active at NOW

PRUNE_AT = 100_000  # "before": buckets kept before idle (full) ones are dropped


class BeforeRateLimiter:
    """The limiter as it was (policysite/collector/core/ratelimit.py before a2da4e4), verbatim."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def retry_after(self, key: str, now: float | None = None) -> int:
        if self.rate <= 0:
            return 0
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_AT:
                self._prune(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < full}


Limiter = BeforeRateLimiter | RateLimiter


def network(i: int) -> str:
    """The i-th /24, written as the collector keys it."""
    return f"{10 + (i >> 16)}.{i >> 8 & 255}.{i & 255}.0/24"


def filled(kind: str, size: int) -> Limiter:
    """A limiter of `kind` holding `size` active buckets, oldest first (as the API would leave
    them: a bucket's place is its last use)."""
    buckets = [(network(i), [BURST - 1.0, NOW * i / size]) for i in range(size)]
    if kind == "before":
        before = BeforeRateLimiter(RATE, BURST)
        before._buckets = dict(buckets)
        return before
    after = RateLimiter(RATE, BURST)
    after._buckets = OrderedDict(buckets)
    return after


def per_request_us(call: Callable[[str, float], int], keys: list[str], seconds: float) -> float:
    """Mean µs per request over `keys`, stopping early once `seconds` have passed."""
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    for key in keys:  # the clock is read after every call, by both peers alike
        call(key, NOW)
        done += 1
        if time.perf_counter() > deadline:
            break
    return (time.perf_counter() - started) / done * 1e6


def measure(size: int, calls: int, seconds: float, rounds: int) -> dict[tuple[str, str], float]:
    """Best µs per request of (before/after, new/known network) over alternating rounds."""
    rng = random.Random(size)
    best: dict[tuple[str, str], float] = {}
    for round_no in range(rounds):
        kinds = ("before", "after") if round_no % 2 == 0 else ("after", "before")
        for kind in kinds:
            limiter = filled(kind, size)
            fresh = [network(size + round_no * calls + i) for i in range(calls)]
            known = [network(rng.randrange(size)) for _ in range(calls)]
            gc.collect()
            gc.disable()
            try:
                for what, keys in (("new", fresh), ("known", known)):
                    us = per_request_us(limiter.retry_after, keys, seconds)
                    best[kind, what] = min(us, best.get((kind, what), math.inf))
            finally:
                gc.enable()
            del limiter
    return best


def bytes_per_bucket(size: int = 100_000) -> float:
    """Memory the "after" limiter holds per bucket, filled through its own API."""
    keys = [network(i) for i in range(size)]
    tracemalloc.start()
    limiter = RateLimiter(RATE, BURST)
    for i, key in enumerate(keys):
        limiter.retry_after(key, NOW * i / size)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return held / size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="requests per timing at most")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per timing at most")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    args = parser.parse_args()
    print(f"rate {RATE:g}/s, burst {BURST}; Python {sys.version.split()[0]}")
    print(
        f"{'active networks':>15}  {'network':>7}  {'before µs':>10}  {'after µs':>9}"
        f"  {'before ÷ after':>14}"
    )
    started = time.perf_counter()
    for size in SIZES:
        best = measure(size, args.calls, args.seconds, args.rounds)
        for what in ("new", "known"):
            before, after = best["before", what], best["after", what]
            print(
                f"{size:>15,}  {what:>7}  {before:>10.2f}  {after:>9.2f}  {before / after:>13.1f}×"
            )
    print(f"after: {bytes_per_bucket():.0f} bytes per bucket (tracemalloc, 100,000 buckets)")
    print(f"{time.perf_counter() - started:.0f} s in total")


if __name__ == "__main__":
    main()
