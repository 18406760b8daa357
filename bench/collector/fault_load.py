"""The fault test's load (faults.py): asyncio connections sending valid, unique consents, and
a health poller, with every answer written down under the phase it was sent in.

A Python client rather than wrk, because the test needs the key of every acknowledged record
(to look each one up in the store afterwards), not only counts; it needs no top speed. Each
request is a new consent with a random version-4 `consent_id`, the bodies of load.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from load import USER_AGENT, Consents

ACKNOWLEDGED = (200, 201)  # 201 stored now; 200 a repeat of a key that is stored already
REQUEST_TIMEOUT = 15.0  # a POST unanswered for this long counts as "timeout", never as stored
HEALTH_EVERY = 0.2  # seconds between two GET /api/health
HEALTH_TIMEOUT = 3.0

Key = tuple[str, int]  # (consent_id, seq): what the store keeps each record under


@dataclass
class Tally:
    """What the requests answered during one phase got back (those in flight when a fault
    is injected count in its row: the fault is what they met)."""

    sent: int = 0
    statuses: Counter = field(default_factory=Counter)  # 201, 503, ..., "timeout", "reset"
    acknowledged: list[Key] = field(default_factory=list)
    refused: list[Key] = field(default_factory=list)  # every other outcome
    slowest: float = 0.0  # seconds, of any POST (a timeout counts as REQUEST_TIMEOUT)

    @property
    def unavailable(self) -> int:
        return self.statuses[503]

    @property
    def others(self) -> dict[str, int]:
        skip = (*ACKNOWLEDGED, 503)
        return {str(k): n for k, n in sorted(self.statuses.items(), key=str) if k not in skip}


@dataclass
class Journal:
    """The load's notebook: the current phase (set by the fault driver), a tally per phase,
    and every health answer as (monotonic time, status)."""

    phase: str = "baseline"
    tallies: dict[str, Tally] = field(default_factory=dict)
    health: list[tuple[float, int | str]] = field(default_factory=list)

    def tally(self, phase: str) -> Tally:
        return self.tallies.setdefault(phase, Tally())


class Closed(Exception):
    """The server closed the connection (or answered with Connection: close)."""


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request, read its response; return (status, whether the connection stays)."""
    writer.write(request)
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise Closed from error
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    length = int(headers.get("content-length", "0").strip() or 0)
    await reader.readexactly(length)
    return status, headers.get("connection", "").strip() != "close"


def _post(port: int, consents: Consents, key: Key) -> bytes:
    body = f'{{"consent_id":"{key[0]}","seq":{key[1]}{random.choice(consents.rests)}'.encode()
    head = (
        f"POST /api/consent HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nOrigin: {consents.origin}\r\n"
        f"User-Agent: {USER_AGENT}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1)


async def _connection(port: int, consents: Consents, journal: Journal, stop: asyncio.Event) -> None:
    """One client connection in a closed loop: POST, wait for the answer, POST again."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while not stop.is_set():
        key = (str(uuid.uuid4()), random.randint(1, 5))
        outcome: int | str
        start, sent = time.monotonic(), False
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), HEALTH_TIMEOUT
                )
            assert reader is not None
            start, sent = time.monotonic(), True
            outcome, keep = await asyncio.wait_for(
                _exchange(reader, writer, _post(port, consents, key)), REQUEST_TIMEOUT
            )
        except TimeoutError:
            outcome, keep = "timeout", False
        except (OSError, Closed, ValueError):
            outcome, keep = "reset", False
        if not sent:  # no connection: nothing was sent, so nothing to count
            await _close(writer)
            reader = writer = None
            await asyncio.sleep(0.1)
            continue
        tally = journal.tally(journal.phase)  # the phase in which the answer came
        tally.sent += 1
        tally.statuses[outcome] += 1
        tally.slowest = max(tally.slowest, time.monotonic() - start)
        (tally.acknowledged if outcome in ACKNOWLEDGED else tally.refused).append(key)
        if not keep:
            await _close(writer)
            reader = writer = None
            await asyncio.sleep(0.05)  # a refused connection is not retried in a busy loop
    await _close(writer)


async def _health(port: int, journal: Journal, stop: asyncio.Event) -> None:
    """GET /api/health on a fresh connection every HEALTH_EVERY s, noting each answer."""
    request = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        writer = None
        outcome: int | str
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), HEALTH_TIMEOUT
            )
            outcome, _ = await asyncio.wait_for(
                _exchange(reader, writer, request.encode()), HEALTH_TIMEOUT
            )
        except TimeoutError:
            outcome = "timeout"
        except (OSError, Closed, ValueError):
            outcome = "reset"
        journal.health.append((time.monotonic(), outcome))
        await _close(writer)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEALTH_EVERY)


async def run_load(
    port: int, consents: Consents, journal: Journal, stop: asyncio.Event, connections: int
) -> None:
    """Run `connections` POST loops and the health poller until `stop` is set."""
    loops = [_connection(port, consents, journal, stop) for _ in range(connections)]
    await asyncio.gather(*loops, _health(port, journal, stop))
