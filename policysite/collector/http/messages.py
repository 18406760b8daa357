"""The collector's HTTP messages without a web framework: requests, responses, JSON bodies.

service.py answers with these; the adapters (asgi.py under uvicorn, the dev server's
handlers) copy them to and from their own. `check_body` is the part of a POST's checks that
is about the message itself: its type and size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring

from policysite.collector.core import receipt
from policysite.collector.core.store import Committed

MAX_BODY = 4096  # adapters read at most MAX_BODY + 1 bytes and pass what they read
CONTENT_TYPES = frozenset({"application/json", "text/plain"})


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client_ip: str  # the TCP peer ("" when unknown, e.g. a unix socket)
    query: str = ""  # the raw query string, without "?"


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# The headers a request is read for; adapters may pass only these.
REQUEST_HEADERS = ("content-type", "origin", "user-agent", "x-forwarded-for")
ACCEPTED_TYPES_CACHE = 64  # Content-Type values seen and accepted, skipped past next time

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# For an answer that echoes a client's text UTF-8 cannot hold (a lone surrogate, sent as
# "\ud800" in JSON): the same JSON with every non-ASCII character escaped.
_JSON_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
NO_STORE = (("cache-control", "no-store"), ("x-content-type-options", "nosniff"))
_JSON_HEADERS = (("content-type", "application/json"), *NO_STORE)

_accepted_types: set[str] = set()


def json_response(
    status: int, payload: object, headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    try:
        body = _JSON.encode(payload).encode("utf-8")
    except UnicodeEncodeError:
        body = _JSON_ASCII.encode(payload).encode("ascii")
    return HttpResponse(status, [*_JSON_HEADERS, *headers], body)


def receipt_response(
    status: int, committed: Committed, cors: list[tuple[str, str]]
) -> HttpResponse:
    """The answer to a stored consent: when it was received and its receipt (receipt.py),
    which proves it is in the signed log (null only while the log is off). Written out, as
    json_response would write it (hot path)."""
    record, logged = committed
    proof = "null" if logged is None else receipt.to_json(record, logged)
    body = f'{{"received_at":{encode_basestring(record.received_at)},"receipt":{proof}}}'
    try:
        data = body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: json_response escapes it
        payload = None if logged is None else receipt.from_logged(record, logged)
        return json_response(status, {"received_at": record.received_at, "receipt": payload}, cors)
    return HttpResponse(status, [*_JSON_HEADERS, *cors], data)


def check_body(request: HttpRequest) -> HttpResponse | None:
    """415 unless JSON or text/plain in UTF-8; 413 above MAX_BODY bytes."""
    content_type = request.headers.get("content-type", "")
    if content_type in _accepted_types:
        return None if len(request.body) <= MAX_BODY else _too_large()
    mime, _, params = content_type.partition(";")
    if mime.strip().lower() not in CONTENT_TYPES:
        return json_response(
            415, {"error": "send the consent as application/json or text/plain JSON"}
        )
    if params:
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
                "utf-8",
                "utf8",
            ):
                return json_response(415, {"error": "the body must be UTF-8"})
    if len(_accepted_types) < ACCEPTED_TYPES_CACHE:
        _accepted_types.add(content_type)
    if len(request.body) > MAX_BODY:
        return _too_large()
    return None


def _too_large() -> HttpResponse:
    return json_response(413, {"error": f"the body is larger than {MAX_BODY} bytes"})
