"""The rate limiter's buckets: the same answers as a bucket kept forever, at a cost per call that
does not grow with the number of client networks (the HTTP side is in test_collector_service)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from policysite.collector.core.ratelimit import EXPIRE_PER_CALL, RateLimiter


class ReferenceLimiter:
    """The token bucket written plainly: one bucket per key, never dropped."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.buckets: dict[str, list[float]] = {}

    def retry_after(self, key: str, now: float) -> int:
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self.buckets[key] = [tokens - 1.0, now]
            return 0
        self.buckets[key] = [tokens, now]
        return max(1, math.ceil((1.0 - tokens) / self.rate))


class CountedKey(str):
    """A network key that counts how often anything hashes it, i.e. looks its bucket up."""

    hashes = 0

    def __hash__(self) -> int:
        CountedKey.hashes += 1
        return str.__hash__(self)


def network(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/24"


@settings(max_examples=300, deadline=None)
@given(
    rate=st.sampled_from([1 / 60, 0.5, 1.0, 10 / 3, 10.0]),
    burst=st.integers(min_value=1, max_value=5),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=12),  # which network
            st.one_of(  # seconds since the previous call, with the idle horizon itself
                st.sampled_from([0.0, 1.0, -1.0]),
                st.floats(min_value=0.0, max_value=400.0, allow_nan=False),
            ),
        ),
        max_size=120,
    ),
)
def test_ratelimiter_answers_as_if_no_bucket_were_ever_dropped(rate, burst, steps):
    limiter, reference = RateLimiter(rate, burst), ReferenceLimiter(rate, burst)
    horizon = burst / rate
    now = 1000.0
    for which, wait in steps:
        now += horizon if wait < 0 else wait
        key = network(which)
        assert limiter.retry_after(key, now) == reference.retry_after(key, now), (key, now)
    assert len(limiter._buckets) <= len(reference.buckets)
    assert sorted(limiter._queue) == sorted(limiter._buckets)  # each key queued once
    now += 2 * horizon  # a quiet spell: every bucket is idle, and goes
    for _ in range(len(limiter._buckets) // EXPIRE_PER_CALL + 1):
        assert limiter.retry_after("after the spell", now) == 0
        now += 1 / rate
    assert list(limiter._buckets) == ["after the spell"]


def test_ratelimiter_refuses_after_the_burst_and_says_how_long_to_wait():
    limiter = RateLimiter(1 / 60, 3)  # 1/min, burst 3
    assert [limiter.retry_after("203.0.113.0/24", 0.0) for _ in range(4)] == [0, 0, 0, 60]
    assert limiter.retry_after("203.0.113.0/24", 30.0) == 30
    assert limiter.retry_after("198.51.100.0/24", 30.0) == 0
    assert limiter.retry_after("203.0.113.0/24", 60.0) == 0


def test_ratelimiter_turned_off_allows_everything_and_keeps_nothing():
    limiter = RateLimiter(0, 120)
    assert not limiter.enabled
    assert {limiter.retry_after(network(i), 0.0) for i in range(1000)} == {0}
    assert len(limiter._buckets) == 0


def test_ratelimiter_drops_idle_buckets_once_they_would_be_full_again():
    limiter = RateLimiter(10.0, 120)  # the defaults, 600/min and burst 120: full after 12 s
    for i in range(1000):
        limiter.retry_after(network(i), 0.0)
    limiter.retry_after("quiet", 11.9)
    assert len(limiter._buckets) == 1001  # none full yet: every bucket kept
    limiter.retry_after("quiet", 12.0)
    assert len(limiter._buckets) == 1001 - EXPIRE_PER_CALL  # a few a call, not all at once
    for _ in range(math.ceil(1000 / EXPIRE_PER_CALL)):
        limiter.retry_after("quiet", 12.0)
    assert list(limiter._buckets) == ["quiet"]


def test_ratelimiter_memory_follows_the_networks_active_in_the_idle_horizon():
    limiter = RateLimiter(10.0, 120)  # idle after 12 s
    largest = 0
    for i in range(20_000):  # 100 new networks a second for 200 s, each seen once,
        limiter.retry_after(network(i), i / 100)
        limiter.retry_after("steady", i / 100)  # and one network heard from all along
        largest = max(largest, len(limiter._buckets))
    assert largest == 12 * 100 + 2  # the last 12 s of networks, the one arriving, steady


def test_ratelimiter_keeps_a_bucket_that_could_still_refuse_among_many_new_networks():
    limiter = RateLimiter(1.0, 3)  # full again 3 s after its last use
    busy = "203.0.113.0/24"
    assert [limiter.retry_after(busy, 0.0) for _ in range(4)] == [0, 0, 0, 1]
    for i in range(10_000):  # a crowd of new networks, all before busy's bucket is full
        assert limiter.retry_after(network(i), 2.9 * i / 10_000) == 0
    assert busy in limiter._buckets
    # 2.9 tokens saved up since its refusal, not a fresh bucket's 3
    assert [limiter.retry_after(busy, 2.9) for _ in range(3)] == [0, 0, 1]


def test_ratelimiter_at_its_cap_gives_the_least_recently_heard_network_a_fresh_burst():
    limiter = RateLimiter(1 / 60, 2, max_buckets=3)
    for key in ("a", "b", "c"):
        assert [limiter.retry_after(key, 0.0) for _ in range(3)] == [0, 0, 60]
    assert limiter.retry_after("a", 1.0) == 59  # a is now the most recently heard
    assert limiter.retry_after("d", 2.0) == 0  # the cap: b, heard from longest ago, dropped
    assert sorted(limiter._buckets) == ["a", "c", "d"]
    assert limiter.retry_after("b", 3.0) == 0  # b starts again with a full bucket; c goes
    assert limiter.retry_after("a", 3.0) == 57  # a's refusal holds
    assert sorted(limiter._buckets) == ["a", "b", "d"]


def lookups_of_other_networks(held: int) -> int:
    """How often 200 requests (100 new networks, 100 known ones) look up other buckets,
    with `held` buckets all active (none idle, so nothing may be dropped)."""
    limiter = RateLimiter(1.0, 120)
    for i in range(held):
        limiter.retry_after(CountedKey(network(i)), 0.0)
    buckets = limiter._buckets
    CountedKey.hashes = 0
    for i in range(100):
        assert limiter.retry_after(f"new {i}", 1.0) == 0
        assert limiter.retry_after("known", 1.0) == 0
    assert limiter._buckets is buckets and len(buckets) == held + 101
    return CountedKey.hashes


def test_ratelimiter_cost_of_a_request_does_not_grow_with_the_networks_held():
    # 100,000 is where the limiter used to rebuild its table on every new network
    few, many = lookups_of_other_networks(1_000), lookups_of_other_networks(100_000)
    assert few == many
    assert many <= 200 * 2 * EXPIRE_PER_CALL  # a peek at the oldest bucket, a few times a call
