"""uvicorn's HTTP protocol (httptools), with the read timeout that nginx has and uvicorn lacks.

uvicorn closes a kept-alive connection that stays idle (--timeout-keep-alive), but waits for
ever for a client that connects and sends nothing, or sends its headers or body a byte at a
time: a few hundred such clients hold every connection a worker allows. Here each request
must arrive whole, headers and body, within the read timeout (default 10 s, counted from the
connection, or from the first byte of a later request on it); then the client gets 408 and
the connection is closed, as nginx's client_header_timeout and client_body_timeout do.

    uvicorn --http policysite.collector.http.protocol:ReadTimeoutProtocol ...

`collector` passes it to uvicorn; the timeout comes from POLICYSITE_READ_TIMEOUT, which
workers inherit (settings.py).
"""

from __future__ import annotations

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from policysite.collector.core.settings import CollectorSettings

_TIMEOUT_BODY = b'{"error":"the request did not arrive in time"}'
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


@cache
def read_timeout() -> float:
    return CollectorSettings.from_env().read_timeout


class ReadTimeoutProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_timer: asyncio.TimerHandle | None = None
        self._start_reading()

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._start_reading()  # the first bytes of the next request on this connection
        super().data_received(data)

    def on_message_complete(self) -> None:
        self._stop_reading()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        super().connection_lost(exc)

    def _start_reading(self) -> None:
        self._read_timer = self.loop.call_later(read_timeout(), self._timed_out)

    def _stop_reading(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()
