"""The collector's own CPU per request, without HTTP: a profiling aid, not a target figure.

It drives the real ASGI app (policysite.collector.http.asgi) on a real, fresh SQLite file (WAL,
synchronous=FULL, group commit) with the same bodies and headers as the wrk load, `--concurrency`
requests at a time on uvloop, and prints the process CPU (event loop + writer thread) per
request. run.py's wrk figures stay the measure; this one only tells which change helped.

    python bench/collector/inproc.py [--requests 60000] [--concurrency 64] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import USER_AGENT, consents_from  # bench scripts are not a package

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from policysite.collector.core.settings import CollectorSettings  # noqa: E402
from policysite.collector.http.asgi import create_app  # noqa: E402

SITE = ROOT / "tests/collector_fixtures/site"
TICK = os.sysconf("SC_CLK_TCK")


def thread_seconds() -> dict[str, float]:
    """CPU seconds so far of the event loop's thread and of all others together (Linux)."""
    seconds = {"event loop": 0.0, "other threads": 0.0}
    main = str(threading.get_native_id())
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        key = "event loop" if task.name == main else "other threads"
        seconds[key] += (int(fields[11]) + int(fields[12])) / TICK
    return seconds


async def drive(app, bodies: list[bytes], origin: str, concurrency: int) -> dict[int, int]:
    """Send every body through the app, `concurrency` at a time; count the statuses."""
    headers = [
        (b"host", b"127.0.0.1:8001"),
        (b"content-type", b"text/plain;charset=UTF-8"),
        (b"origin", origin.encode()),
        (b"user-agent", USER_AGENT.encode()),
        (b"content-length", b"0"),
    ]
    statuses: dict[int, int] = {}

    async def one(body: bytes) -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/api/consent", "raw_path": b"",
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8001),
        }  # fmt: skip

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope, receive, send)

    queue = iter(bodies)

    async def client() -> None:
        for body in queue:
            await one(body)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="cProfile the measured run")
    args = parser.parse_args()
    import uvloop

    consents = consents_from(SITE / "policy.json")
    prefix = secrets.token_hex(4)
    bodies = [
        (
            f'{{"consent_id":"{prefix}-0001-4000-8000-{i:012x}","seq":{1 + i % 5}'
            + consents.rests[i % len(consents.rests)]
        ).encode()
        for i in range(args.requests + 5000)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "consents.sqlite3"
        settings = CollectorSettings(rate_limit="0", log=os.environ.get("POLICYSITE_LOG") != "off")
        app = create_app(str(db), SITE, settings=settings)
        loop = uvloop.new_event_loop()
        app.open()
        loop.run_until_complete(drive(app, bodies[:5000], consents.origin, args.concurrency))
        profiler = cProfile.Profile() if args.profile else None
        threads = thread_seconds()
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        statuses = loop.run_until_complete(
            drive(app, bodies[5000:], consents.origin, args.concurrency)
        )
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        threads = {k: v - threads.get(k, 0.0) for k, v in thread_seconds().items()}
        loop.run_until_complete(app.service.close())
        rows = sqlite3.connect(db).execute("SELECT count(*) FROM consents").fetchone()[0]
    n = args.requests
    print(
        f"{n} requests: {cpu / n * 1e6:.1f} µs CPU and {wall / n * 1e6:.1f} µs wall each, "
        f"{n / wall:,.0f}/s; statuses {statuses}; rows {rows}"
    )
    print("per thread: " + ", ".join(f"{k} {v / n * 1e6:.1f} µs" for k, v in threads.items() if v))
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
