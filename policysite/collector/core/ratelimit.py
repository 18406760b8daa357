"""A token bucket per client network (in memory, per process).

Keyed by the reduced address (/24 or /48), so one client cannot dodge the limit by hopping
addresses inside its own network, and no raw IP is kept even in memory longer than a request.
"""

from __future__ import annotations

import math
import time

PRUNE_AT = 100_000  # buckets kept before idle (full) ones are dropped


class RateLimiter:
    """`rate` tokens a second, at most `burst` saved up; rate 0 disables limiting."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Take one token for `key`: 0 if allowed, else the seconds to wait (≥ 1)."""
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
