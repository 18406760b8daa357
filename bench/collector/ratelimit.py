"""The rate limiter's cost per request at 1,000 to 300,000 active client networks, before and after.

"before" is the limiter as it was at 5a07d65, copied below: a dict that, once it held
100,000 buckets, was rebuilt (a scan of every bucket) on each new network. "after" is
policysite.collector.core.ratelimit: a dict of buckets and a queue of their keys, from whose
front a few idle ones are dropped per call. Both run in the same process, in alternating
rounds, on the same keys and clock.

Each case fills the limiter with N networks all heard from in the last 10 s (at the default
600/min and burst 120 a bucket is idle only after 12 s, so none may be dropped), then times
requests from networks it has not seen and from networks it holds (in random order). The fill
writes the buckets directly: filling "before" through its own API would scan 200,000 times.
The garbage collector is off while timing; the figures are the algorithm's, not a worker's.

    python bench/collector/ratelimit.py [--calls 2000] [--seconds 1.0] [--rounds 5]

Every timing stops after --calls requests or --seconds, whichever comes first, so the whole run
takes under a minute. Requests are timed in batches of up to 100 (or 50 ms); the figure is the
median batch's µs per request over all rounds, which a busy neighbour on the same cores moves
less than a mean would. It prints those and before ÷ after.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
import tracemalloc
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
    """The limiter as it was (policysite/collector/core/ratelimit.py at 5a07d65), verbatim."""

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
    """A limiter of `kind` holding `size` active buckets, as its API would leave them after
    one request from each network, in this order, over the last `NOW` seconds."""
    times = [NOW * i / size for i in range(size)]
    if kind == "before":
        before = BeforeRateLimiter(RATE, BURST)
        before._buckets = {network(i): [BURST - 1.0, t] for i, t in enumerate(times)}
        return before
    after = RateLimiter(RATE, BURST)
    after._buckets = {network(i): [BURST - 1.0, t, t] for i, t in enumerate(times)}
    after._queue.extend(after._buckets)
    return after


BATCH, BATCH_SECONDS = 100, 0.05


def batch_us(call: Callable[[str, float], int], keys: list[str], seconds: float) -> list[float]:
    """µs per request of each batch of requests over `keys`, until `seconds` have passed."""
    batches: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    done, batch_start = 0, started
    for key in keys:  # the clock is read after every call, by both peers alike
        call(key, NOW)
        done += 1
        clock = time.perf_counter()
        if done == BATCH or clock - batch_start > BATCH_SECONDS or clock > deadline:
            batches.append((clock - batch_start) / done * 1e6)
            done, batch_start = 0, clock
            if clock > deadline:
                break
    if done:
        batches.append((time.perf_counter() - batch_start) / done * 1e6)
    return batches


def measure(size: int, calls: int, seconds: float, rounds: int) -> dict[tuple[str, str], float]:
    """Median µs per request of (before/after, new/known network) over alternating rounds."""
    rng = random.Random(size)
    batches: dict[tuple[str, str], list[float]] = {}
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
                    timed = batch_us(limiter.retry_after, keys, seconds)
                    batches.setdefault((kind, what), []).extend(timed)
            finally:
                gc.enable()
            del limiter
    return {case: statistics.median(timed) for case, timed in batches.items()}


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
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    print(f"rate {RATE:g}/s, burst {BURST}; Python {sys.version.split()[0]}")
    print(
        f"{'active networks':>15}  {'network':>7}  {'before µs':>10}  {'after µs':>9}"
        f"  {'before ÷ after':>14}"
    )
    started = time.perf_counter()
    for size in SIZES:
        median = measure(size, args.calls, args.seconds, args.rounds)
        for what in ("new", "known"):
            before, after = median["before", what], median["after", what]
            print(
                f"{size:>15,}  {what:>7}  {before:>10.2f}  {after:>9.2f}  {before / after:>13.1f}×"
            )
    print(f"after: {bytes_per_bucket():.0f} bytes per bucket (tracemalloc, 100,000 buckets)")
    print(f"{time.perf_counter() - started:.0f} s in total")


if __name__ == "__main__":
    main()
