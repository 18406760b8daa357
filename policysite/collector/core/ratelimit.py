"""A token bucket per client network (in memory, per process).

Keyed by the reduced address (/24 or /48), so one client cannot dodge the limit by hopping
addresses inside its own network, and no raw IP is kept even in memory longer than a request.

Every call costs the same whatever the number of buckets (docs/collector.md, "Rate limiting").
The buckets sit in an `OrderedDict` in the order of their last use: a touched bucket moves to
the end, so the least recently used one is always at the front, and a few idle ones are taken
off the front on every call. No call scans the buckets.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

MAX_BUCKETS = 1_000_000  # about 200-250 MB of buckets at most, per worker
EXPIRE_PER_CALL = 8  # idle buckets dropped per call at most, so no request pays for a backlog


class RateLimiter:
    """`rate` tokens a second, at most `burst` saved up; rate 0 disables limiting.

    A bucket is *idle* once it would be full again: `burst / rate` seconds or more since its
    last use. Dropping it changes nobody's answer, because a new bucket starts full too. Idle
    buckets are dropped from the front, at most `EXPIRE_PER_CALL` per call, so memory follows
    the networks active in the last `burst / rate` seconds and the backlog left by a quiet
    spell drains over the next calls rather than in one.

    `max_buckets` bounds memory if that many networks are all active at once (at the default
    600/min and burst 120 that takes a million networks within 12 s, far more than one worker
    serves; a slower rate keeps buckets longer). Then the least recently used bucket is
    dropped, still active. That is safe enough: the only effect is that this network, the one
    heard from longest ago, gets a fresh burst of `burst` requests, as if it were new.
    """

    def __init__(self, rate: float, burst: int, *, max_buckets: int = MAX_BUCKETS) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.max_buckets = max(max_buckets, 1)
        # key -> [tokens, last use], least recently used first
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self._idle_after = self.burst / rate if rate > 0 else math.inf
        self._next_expiry = -math.inf  # no bucket can be idle before then: skip the peek

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Take one token for `key`: 0 if allowed, else the seconds to wait (≥ 1)."""
        if self.rate <= 0:
            return 0
        now = time.monotonic() if now is None else now
        if now >= self._next_expiry:  # first: a dropped bucket, this key's too, is then new
            self._expire(now)
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= self.max_buckets:
                buckets.popitem(last=False)
            buckets[key] = [self.burst - 1.0, now]
            return 0
        buckets.move_to_end(key)
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _expire(self, now: float) -> None:
        """Drop up to `EXPIRE_PER_CALL` idle buckets from the front (least recently used).

        The test is the refill `retry_after` computes, so a dropped bucket would have been
        exactly full: tokens are never negative, and float addition and multiplication round
        monotonically, so `(now - last) * rate >= burst` makes `min(burst, tokens + …)` equal
        `burst`, the same as a new bucket's. The buckets are in order of last use, so the
        first one that is not idle ends the search; until it could be idle (`_next_expiry`, an
        estimate: too early costs a peek, too late only keeps memory longer) no call looks.
        """
        buckets = self._buckets
        for _ in range(EXPIRE_PER_CALL):
            oldest = next(iter(buckets.values()), None)
            if oldest is None or (now - oldest[1]) * self.rate < self.burst:
                last = now if oldest is None else oldest[1]
                self._next_expiry = last + self._idle_after
                return
            buckets.popitem(last=False)
