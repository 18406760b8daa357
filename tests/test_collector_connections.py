"""Connections are bounded (docs/collector.md, "Timeouts and connection limits"): a client that
sends its request too slowly is cut off with 408, an idle connection is closed, and a worker
holds at most --max-connections, while other clients are served meanwhile. Real `collector`
processes, real sockets."""

from __future__ import annotations

import http.client
import socket
import time

import pytest
from collector_fixtures.support import post_many, start_collector, stop_collector

READ_TIMEOUT = 1.0
SLACK = 1.5  # seconds of scheduling a slow machine may add


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("connections")
    process, port, log = start_collector(
        folder, "--read-timeout", str(READ_TIMEOUT), "--keep-alive-timeout", "1",
        "--max-connections", "4",
    )  # fmt: skip
    yield port
    stop_collector(process)
    assert "Traceback" not in log.read_text("utf-8")


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def trickle(sock: socket.socket, data: bytes, every: float) -> float:
    """Send `data` a byte at a time until the server closes; return when it did."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(every)
    return time.monotonic()


SLOW_HEADERS = b"POST /api/consent HTTP/1.1\r\nHost: collector\r\n" + b"X-Slow: " + b"a" * 200


def test_slow_headers_get_408_in_time_while_others_are_served(collector):
    sock = connect(collector)
    started = time.monotonic()
    sock.sendall(SLOW_HEADERS[:20])
    # Meanwhile another client is served at once, and more than once.
    assert post_many(collector, 3) == [201, 201, 201]
    assert time.monotonic() - started < READ_TIMEOUT
    trickle(sock, SLOW_HEADERS[20:], every=0.1)
    answer = read_until_closed(sock)
    closed_after = time.monotonic() - started
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert answer.endswith(b'{"error":"the request did not arrive in time"}')
    assert READ_TIMEOUT - 0.1 < closed_after < READ_TIMEOUT + SLACK


def test_a_slow_body_gets_408_in_time(collector):
    sock = connect(collector)
    started = time.monotonic()
    sock.sendall(
        b"POST /api/consent HTTP/1.1\r\nHost: collector\r\nContent-Type: text/plain\r\n"
        b'Content-Length: 300\r\n\r\n{"consent_id": '
    )
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < READ_TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_in_time(collector):
    sock = connect(collector)
    started = time.monotonic()
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < READ_TIMEOUT + SLACK


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(collector):
    connection = http.client.HTTPConnection("127.0.0.1", collector, timeout=10)
    connection.request("GET", "/api/health")
    response = connection.getresponse()
    assert (response.status, response.getheader("connection")) == (200, None)  # kept alive
    response.read()
    started = time.monotonic()
    rest = read_until_closed(connection.sock)  # no 408: the request was whole
    connection.close()
    assert rest == b""
    assert time.monotonic() - started < 1 + SLACK


def test_requests_beyond_the_connection_limit_get_503_at_once(collector):
    idle = [connect(collector) for _ in range(4)]
    for sock in idle:
        sock.sendall(b"POST /api/consent HTTP/1.1\r\n")  # held open, part of a request
    try:
        time.sleep(0.2)
        assert post_many(collector, 1) == [503]
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert post_many(collector, 1) == [201]
