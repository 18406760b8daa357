"""The ASGI adapter (plain ASGI, no framework) that uvicorn serves.

    uvicorn policysite.collector.http.asgi:app          settings from the environment
    python build.py collector --workers 2          the same, with the CLI writing that environment

It copies the request in (reading at most MAX_BODY + 1 bytes) and the response out; every
decision is in service.py.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from policysite.collector.core.logs import ensure_handler
from policysite.collector.core.settings import (
    ENV_DB,
    ENV_ORIGINS,
    ENV_SITE,
    split_list,
    tune_garbage_collector,
)
from policysite.collector.http.messages import MAX_BODY, REQUEST_HEADERS, HttpRequest
from policysite.collector.http.service import ConsentService, open_service
from policysite.errors import PolicyError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class CollectorApp:
    """An ASGI application around one ConsentService, opened at lifespan startup."""

    def __init__(self, opener: Callable[[], ConsentService]) -> None:
        self._opener = opener
        self.service: ConsentService | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.open()
                except PolicyError as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                tune_garbage_collector()
                ensure_handler()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.service is not None:
                    await self.service.close()
                    self.service = None
                await send({"type": "lifespan.shutdown.complete"})
                return

    def open(self) -> ConsentService:
        if self.service is None:
            self.service = self._opener()
        return self.service

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service or self.open()  # servers without lifespan open on first use
        headers = {}
        for name, value in scope["headers"]:  # only the few the service reads; the last wins
            wanted = _WANTED.get(name)
            if wanted is not None:
                headers[wanted] = value.decode("latin-1")
        body = await _read_body(receive)
        if body is None:
            return  # the client went away (or was cut off by the read timeout): nobody to answer
        client = scope.get("client")
        request = HttpRequest(
            scope["method"], scope["path"], headers, body, client[0] if client else "",
            scope.get("query_string", b"").decode("latin-1"),
        )  # fmt: skip
        response = await service.handle(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _raw_headers(response.headers, len(response.body)),
            }
        )
        await send({"type": "http.response.body", "body": response.body})


_WANTED = {name.encode("latin-1"): name for name in REQUEST_HEADERS}
_RAW_CACHE = 256  # header lists kept encoded: a handful of responses times a few origins
_raw: dict[tuple, list[tuple[bytes, bytes]]] = {}


def _raw_headers(headers: list[tuple[str, str]], length: int) -> list[tuple[bytes, bytes]]:
    """The headers as ASGI wants them (bytes, with content-length). The same few lists recur
    (a receipt's body always has the same length), so each is encoded once and shared."""
    key = (*headers, length)
    raw = _raw.get(key)
    if raw is None:
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        raw.append((b"content-length", str(length).encode("ascii")))
        if len(_raw) < _RAW_CACHE:
            _raw[key] = raw
    return raw


async def _read_body(receive: Receive) -> bytes | None:
    """The body, or its first MAX_BODY + 1 bytes (enough for the service to answer 413);
    None when the client disconnected before sending all of it."""
    body = b""
    while len(body) <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return body[: MAX_BODY + 1]


def create_app(
    db: str,
    site_dir: Path,
    *,
    extra_origins: Sequence[str] = (),
    **service_options: Any,
) -> CollectorApp:
    """An app with explicit settings (tests, embedding); `app` below reads the environment."""
    return CollectorApp(
        lambda: open_service(db, site_dir, extra_origins=extra_origins, **service_options)
    )


def _from_environment() -> ConsentService:
    db = os.environ.get(ENV_DB) or os.environ.get("DATABASE_URL") or "var/consents.sqlite3"
    site = Path(os.environ.get(ENV_SITE, "dist"))
    return open_service(db, site, extra_origins=split_list(os.environ.get(ENV_ORIGINS, "")))


app = CollectorApp(_from_environment)
