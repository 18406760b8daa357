"""Latency at a constant offered rate: an open-loop client, as wrk2 measures it.

wrk's closed loop waits for each answer before it sends the next request, so a slow answer
delays the requests behind it and they never count as slow (coordinated omission). This client
sends on a fixed schedule, `--rate` requests a second spread evenly, whatever the answers do,
and times each request from the moment it was *due*: a request that waits for a free
connection, or for a server that has fallen behind, counts that wait. It starts each target
as run.py does (same site, same commands, SQLite or a private PostgreSQL cluster), on
127.0.0.1 only, for a bounded time.

    python bench/collector/openloop.py [--rate 5000] [--duration 10] [--targets sqlite postgres]

Target (docs/performance.md): p99 ≤ 10 ms at 5,000 requests a second.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench scripts are not a package: siblings import by path
import servers
from load import USER_AGENT, Consents, consents_from

CONNECTIONS = 64  # as many as run.py's wrk opens (and nginx's keep-alive pool, deploy/)
TARGETS = ("sqlite", "sqlite-nolog", "postgres", "postgres-nolog")


@dataclass
class Result:
    name: str
    workers: int
    rate: float
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds from due to answered
    seconds: float = 0.0
    errors: int = 0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        created = self.statuses.get(201, 0)
        return (
            f"| {self.name} | {self.workers} | {self.rate:,.0f} | {self.sent / self.seconds:,.0f} "
            f"| {created / self.seconds:,.0f} | {statistics.median(self.latencies) * 1000:.2f} "
            f"| {self.percentile(0.99):.2f} | {self.percentile(0.999):.2f} "
            f"| {max(self.latencies) * 1000:.1f} | {self.errors} "
            f"| {', '.join(f'{s}: {n}' for s, n in sorted(self.statuses.items()))} |"
        )


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection: one request at a time, answers parsed minimally."""

    def __init__(self, done: asyncio.Queue) -> None:
        self._done = done
        self._buffer = bytearray()
        self._waiting: tuple[float, asyncio.Future] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float, future: asyncio.Future) -> None:
        self._waiting = (due, future)
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        status = int(head.split(" ", 2)[1])
        if self._waiting is not None:
            due, future = self._waiting
            self._waiting = None
            if not future.done():
                future.set_result((status, time.perf_counter() - due))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_exception(ConnectionError("closed"))


def _requests(consents: Consents, count: int, port: int) -> list[bytes]:
    prefix = secrets.token_hex(4)
    out = []
    for i in range(count):
        consent_id = str(uuid.uuid4())
        body = f'{{"consent_id":"{consent_id}","seq":1{consents.rests[i % len(consents.rests)]}'
        data = body.encode()
        out.append(
            (
                f"POST /api/consent HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\nOrigin: {consents.origin}\r\n"
                f"User-Agent: {USER_AGENT} {prefix}\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
        )
    return out


async def _offer(port: int, requests: list[bytes], rate: float, result: Result) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Queue = asyncio.Queue()
    # First in, first out: every connection is used every CONNECTIONS / rate seconds, well
    # within the server's keep-alive timeout (a stack would leave some idle until closed).
    idle: collections.deque[_Connection] = collections.deque()
    for _ in range(CONNECTIONS):
        _, protocol = await loop.create_connection(lambda: _Connection(done), "127.0.0.1", port)
        idle.append(protocol)
    waiting: collections.deque = collections.deque()  # (request, due, future): none was free
    pending: set[asyncio.Future] = set()

    def finished(connection: _Connection, future: asyncio.Future) -> None:
        pending.discard(future)
        try:
            status, latency = future.result()
        except ConnectionError:
            result.errors += 1
            return
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.latencies.append(latency)
        if waiting:
            request, due, nxt = waiting.popleft()
            _start(connection, request, due, nxt)
        else:
            idle.append(connection)

    def _start(connection: _Connection, request: bytes, due: float, future: asyncio.Future):
        future.add_done_callback(lambda f: finished(connection, f))
        connection.send(request, due, future)

    start = time.perf_counter()
    interval = 1 / rate
    for i, request in enumerate(requests):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        future = loop.create_future()
        pending.add(future)
        result.sent += 1
        if idle:
            _start(idle.popleft(), request, due, future)
        else:
            waiting.append((request, due, future))
    while pending:
        await asyncio.sleep(0.01)
        if time.perf_counter() - start > len(requests) * interval + 10:
            result.errors += len(pending)
            break
    result.seconds = time.perf_counter() - start


def measure(name: str, workers: int, args: argparse.Namespace, scratch: Path, site: Path,
            cluster) -> Result:  # fmt: skip
    consents = consents_from(site / "policy.json")
    result = Result(name, workers, args.rate)
    with run.started(name, workers, scratch, site, cluster, consents.origin) as target:
        warm = _requests(consents, int(args.rate), target.port)
        asyncio.run(_offer(target.port, warm, args.rate, Result(name, workers, args.rate)))
        requests = _requests(consents, int(args.rate * args.duration), target.port)
        asyncio.run(_offer(target.port, requests, args.rate, result))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="requests a second offered")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-openloop-") as scratch:
        site = run.build_site(Path(scratch))
        wants_cluster = any(t.startswith("postgres") for t in args.targets)
        with servers.postgres_cluster() if wants_cluster else _nothing() as cluster:
            for workers in args.workers:
                for name in args.targets:
                    print(f"{name} ({workers} worker(s)) at {args.rate:,.0f}/s ...", flush=True)
                    results.append(measure(name, workers, args, Path(scratch), site, cluster))
                    print(results[-1].line(), flush=True)
    print(f"\nopen loop, {args.rate:,.0f} requests/s offered for {args.duration:g} s, "
          f"{CONNECTIONS} connections, latency from each request's due time\n")  # fmt: skip
    print("| target | workers | offered/s | sent/s | 201/s | p50 ms | p99 ms | p99.9 ms | max ms "
          "| errors | statuses |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        print(result.line())
    verdicts = [
        f"{r.name}, {r.workers} worker(s): p99 {r.percentile(0.99):.1f} ms "
        f"{'≤' if r.percentile(0.99) <= 10 else '>'} 10"
        for r in results
    ]
    print("\n" + "; ".join(verdicts))
    out = run.OUT / f"openloop-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{**r.__dict__, "latencies": None,
                                "p99_ms": r.percentile(0.99)} for r in results]))  # fmt: skip
    return 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
