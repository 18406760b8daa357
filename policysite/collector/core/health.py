"""Whether a write would succeed now: what GET /api/health answers (docs/collector.md,
"Health check").

Two sources, so that health says 503 whenever a POST would: a probe write to the side table
health_probe (Store.probe, never a consent record), and the outcome of this worker's last
commits. A probe is a commit, so a load balancer polling hard must not become a write load:
a success answers for HEALTH_CACHE; a failure is probed again at the next check, so recovery
shows at once. A fault shows within 2 s: at most HEALTH_CACHE old, plus a probe that waits at
most HEALTH_TIMEOUT for the write turn and is given up on HEALTH_GRACE after that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

from policysite.collector.core.store import Store, StoreUnavailable

log = logging.getLogger("policysite.collector")

HEALTH_TIMEOUT = 1.2
HEALTH_CACHE = 0.5
HEALTH_GRACE = 0.2
FAILURE_MEMORY = 10.0  # seconds a refused commit keeps health at 503, unless a probe passes


class Health:
    """The health of one worker's writes: commit outcomes in, the reason for a 503 out."""

    def __init__(self, store: Store, executor: Executor, overloaded: Callable[[], bool]) -> None:
        self._store = store
        self._executor = executor
        self._overloaded = overloaded
        self._last_failure: tuple[float, str] | None = None  # (monotonic time, why)
        self._probe: asyncio.Future[str | None] | None = None
        self._probed_at = 0.0
        self._probe_passed_at = 0.0  # when the last probe that succeeded began
        self._healthy = True

    def commit_failed(self, error: StoreUnavailable) -> None:
        self._last_failure = (time.monotonic(), str(error))

    def commit_succeeded(self) -> None:
        if self._last_failure is not None:  # the usual case costs one comparison
            self._last_failure = None

    async def reason(self) -> str | None:
        """Why a write would fail now, or None; logged when it changes, not at every poll."""
        reason = await self._probe_outcome() or self._refusing()
        if (reason is None) != self._healthy:
            self._healthy = reason is None
            if reason is None:
                log.info("health check: %s accepts writes again", self._store.where)
            else:
                log.warning("health check: unavailable: %s", reason)
        return reason

    def _refusing(self) -> str | None:
        """Why POSTs are being refused, as far as this worker has seen: its queue is full, or
        a commit failed since the last probe that passed began (and not too long ago)."""
        if self._overloaded():
            return "overloaded: more writes are queued than the store keeps up with"
        failure = self._last_failure
        if (
            failure is not None
            and failure[0] > self._probe_passed_at
            and time.monotonic() - failure[0] < FAILURE_MEMORY
        ):
            return f"the last commit failed: {failure[1]}"
        return None

    async def _probe_outcome(self) -> str | None:
        """Why a probe write fails (None: it passed). Checks that arrive while a probe runs
        wait for that one; one stuck past the deadline says so."""
        now = time.monotonic()
        probe = self._probe
        if probe is None or (
            probe.done() and (probe.result() is not None or now - self._probed_at >= HEALTH_CACHE)
        ):
            self._probed_at = now
            loop = asyncio.get_running_loop()
            self._probe = loop.run_in_executor(self._executor, self._run_probe, now)
        deadline = HEALTH_TIMEOUT + HEALTH_GRACE
        try:
            return await asyncio.wait_for(asyncio.shield(self._probe), deadline)
        except TimeoutError:
            return f"the consent store did not answer within {deadline:g} s"

    def _run_probe(self, started: float) -> str | None:
        try:
            self._store.probe(HEALTH_TIMEOUT)
        except StoreUnavailable as error:
            return str(error)
        self._probe_passed_at = started
        return None
