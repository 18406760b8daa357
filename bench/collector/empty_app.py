"""The ceiling: a raw ASGI app that reads the body and answers 201 with a small JSON body.

It touches no store and validates nothing, so it measures what uvicorn (same worker count,
same options as the collector) can do on this machine. Any path answers alike.

`awaiting_app` is the same, except that it waits for one future, resolved on the event loop's
next turn, before it answers. Any endpoint that waits for something (the collector waits for
its commit) is suspended at least once, so this is the ceiling of such an endpoint.

    python -m uvicorn --app-dir bench/collector empty_app:app --workers N
    python -m uvicorn --app-dir bench/collector empty_app:awaiting_app --workers N
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

BODY = b'{"receipt":"0000000000000000000000000000000000000000000000000000000000000000"}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode("ascii")),
]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to open
    more = True
    while more:  # drain the request body, as any real endpoint must
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 201, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def awaiting_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "http":
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future
    await app(scope, receive, send)
