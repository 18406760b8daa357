"""A token bucket per client network (in memory, per process).

Keyed by the reduced address (/24 or /48), so one client cannot dodge the limit by hopping
addresses inside its own network, and no raw IP is kept even in memory longer than a request.

Every call costs the same whatever the number of buckets (docs/collector.md, "Rate limiting"):
no call scans them. Besides the dict of buckets, a queue holds each key once, in the order it
was queued. A request from a known network only updates its bucket, as a plain token bucket
would; the queue is looked at, a few keys a call, only once its front may have gone idle. An
idle front is dropped; a front used since it was queued goes to the back (a second chance), so
each key is queued again at most once per use, and the cost is O(1) amortised.
"""

from __future__ import annotations

import math
import time
from collections import deque

MAX_BUCKETS = 1_000_000  # about 200 MB of buckets at most, per worker
EXPIRE_PER_CALL = 8  # keys looked at per call at most, so no request pays for a backlog


class RateLimiter:
    """`rate` tokens a second, at most `burst` saved up; rate 0 disables limiting.

    A bucket is *idle* once it would be full again: `burst / rate` seconds or more since its
    last use. Dropping it changes nobody's answer, because a new bucket starts full too. Idle
    buckets are dropped from the front of the queue, a few per call, so memory follows the
    networks active in the last `burst / rate` seconds (an idle one may wait behind an active
    one for up to that long again), and the backlog left by a quiet spell drains over the
    next calls rather than in one.

    `max_buckets` bounds memory if that many networks are all active at once (at the default
    600/min and burst 120 that takes a million networks within 12 s, far more than one worker
    serves; a slower rate keeps buckets longer). Then the front of the queue, after a second
    chance for those used since they were queued, is dropped though still active. That is
    safe enough: the only effect is that this network, one of those heard from longest ago,
    gets a fresh burst of `burst` requests, as if it were new.
    """

    def __init__(self, rate: float, burst: int, *, max_buckets: int = MAX_BUCKETS) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.max_buckets = max(max_buckets, 1)
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last use, when queued]
        self._queue: deque[str] = deque()  # every key of _buckets once, front queued first
        self._idle_after = self.burst / rate if rate > 0 else math.inf
        self._next_look = -math.inf  # the queue's front cannot be idle before then

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Take one token for `key`: 0 if allowed, else the seconds to wait (≥ 1)."""
        if self.rate <= 0:
            return 0
        now = time.monotonic() if now is None else now
        if now >= self._next_look:  # first: a dropped bucket, this key's too, is then new
            self._expire(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._evict()
            self._buckets[key] = [self.burst - 1.0, now, now]
            self._queue.append(key)
            return 0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _expire(self, now: float) -> None:
        """Look at up to `EXPIRE_PER_CALL` keys at the queue's front: drop the idle ones and
        queue again those used since they were queued; stop at one that is neither.

        The idle test is the refill `retry_after` computes, so a dropped bucket would have been
        exactly full: tokens are never negative, and float addition and multiplication round
        monotonically, so `(now - last) * rate >= burst` makes `min(burst, tokens + …)` equal
        `burst`, the same as a new bucket's. Until the front could be idle (`_next_look`, an
        estimate: too early costs a look, too late only keeps memory longer) no call looks.
        """
        queue, buckets = self._queue, self._buckets
        for _ in range(EXPIRE_PER_CALL):
            if not queue:
                self._next_look = now + self._idle_after
                return
            key = queue[0]
            bucket = buckets[key]
            if (now - bucket[1]) * self.rate >= self.burst:
                queue.popleft()
                del buckets[key]
            elif bucket[1] > bucket[2]:
                queue.rotate(-1)  # used since it was queued: to the back
                bucket[2] = bucket[1]
            else:
                self._next_look = bucket[1] + self._idle_after
                return

    def _evict(self) -> None:
        """Drop the bucket queued longest ago and not used since (or, if the first few keys
        all were, the front one anyway): the cap on memory, see the class docstring."""
        queue, buckets = self._queue, self._buckets
        for _ in range(EXPIRE_PER_CALL):
            bucket = buckets[queue[0]]
            if bucket[1] <= bucket[2]:
                break
            queue.rotate(-1)
            bucket[2] = bucket[1]
        del buckets[queue.popleft()]
