"""The collector's HTTP semantics without a web framework (openapi.yaml, docs/collector.md).

`ConsentService.handle` maps an `HttpRequest` to an `HttpResponse` (messages.py). The ASGI app
(asgi.py, under uvicorn) and the dev server (policysite/serve/handlers.py, tornado) are
adapters: they only copy requests in and responses out, so both answer exactly alike.

Order of checks for POST /api/consent: Origin (403) → client address (400) → rate limit (429)
→ content type (415) → size (413) → schema (400) → durable commit (201 / 200 repeat / 409
conflict / 503).

GET /api/health answers 503 with a reason whenever a POST would get 503 (core/health.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from policysite.collector.core import receipt
from policysite.collector.core.addresses import (
    AddressPrivacy,
    BadForwardedFor,
    TrustedProxies,
    reduce_ip,
)
from policysite.collector.core.checkpoint import b64encode
from policysite.collector.core.committer import GroupCommitter, RemoteCommitter
from policysite.collector.core.files import file_mode
from policysite.collector.core.health import Health
from policysite.collector.core.log_key import load_or_create_signer
from policysite.collector.core.policy import PolicyIndex, PolicySource, normalize_origin
from policysite.collector.core.ratelimit import RateLimiter
from policysite.collector.core.record import ConsentRecord, seal, utc_timestamp
from policysite.collector.core.settings import CollectorSettings, log_key_path
from policysite.collector.core.store import Store, StoreUnavailable, open_store
from policysite.collector.core.validation import (
    Consent,
    FieldError,
    parse_consent_id,
    validate_consent,
)
from policysite.collector.http.messages import (
    NO_STORE,
    HttpRequest,
    HttpResponse,
    check_body,
    json_response,
    receipt_response,
)
from policysite.errors import PolicyError, Problem

log = logging.getLogger("policysite.collector")

MAX_USER_AGENT = 256
CONSENT_PATH = "/api/consent"
RECORDS_PREFIX = "/api/consent/"
HEALTH_PATH = "/api/health"
CHECKPOINT_PATH = "/api/log/checkpoint"
CONSISTENCY_PATH = "/api/log/consistency"
RETRY_AFTER_UNAVAILABLE = "5"
PREFLIGHT_MAX_AGE = "86400"


_PRIVATE = ("ip", "receipt")  # left out of a browser's own records
_PUBLIC = (("access-control-allow-origin", "*"),)  # the log's head and proofs are public
T = TypeVar("T")


def _cors(origin: str | None) -> list[tuple[str, str]]:
    return [] if origin is None else [("access-control-allow-origin", origin), ("vary", "origin")]


class ConsentService:
    """Answers /api/... requests; owns the store, the group-commit writer and the limits."""

    def __init__(
        self,
        store: Store,
        policy: PolicySource,
        settings: CollectorSettings,
        extra_origins: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.policy = policy
        local = functools.partial(GroupCommitter, store, settings.max_pending)
        self._committer: GroupCommitter | RemoteCommitter = (
            RemoteCommitter(settings.writer_socket, local, settings.max_pending)
            if settings.writer_socket and store.kind == "sqlite"
            else local()
        )
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="consent-reader")
        self._limiter = RateLimiter(settings.rate_per_second, settings.burst)
        self._proxies = TrustedProxies(settings.forwarded_allow_ips)
        self._privacy = AddressPrivacy(
            settings.ip_hmac_key.encode("utf-8") if settings.ip_hmac_key else None
        )
        self._extra_origins = frozenset(normalize_origin(o) for o in extra_origins)
        self._closed = False
        self._health_check = Health(store, self._readers, lambda: self._committer.overloaded)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        path, method = request.path, request.method
        if path == CONSENT_PATH:
            if method == "POST":
                return await self._post(request)
            if method == "OPTIONS":
                return self._preflight(request, "POST, OPTIONS")
            return self._not_allowed("POST, OPTIONS")
        if path.startswith(RECORDS_PREFIX) and "/" not in path[len(RECORDS_PREFIX) :]:
            if method == "GET":
                return await self._get_records(request, path[len(RECORDS_PREFIX) :])
            if method == "OPTIONS":
                return self._preflight(request, "GET, OPTIONS")
            return self._not_allowed("GET, OPTIONS")
        if path == HEALTH_PATH:
            if method == "GET":
                return await self._health()
            return self._not_allowed("GET")
        if path in (CHECKPOINT_PATH, CONSISTENCY_PATH):
            if method != "GET":
                return self._not_allowed("GET")
            if path == CHECKPOINT_PATH:
                return await self._checkpoint()
            return await self._consistency(request.query)
        return json_response(404, {"error": f"no such endpoint: {path}"})

    async def close(self) -> None:
        """Commit what is queued, then release the writer, the readers and the store."""
        if self._closed:
            return
        self._closed = True
        await self._committer.aclose()
        self._readers.shutdown(wait=True)
        self.store.close()

    # --- checks shared by the endpoints -----------------------------------------------------

    def _origin(self, request: HttpRequest, policy: PolicyIndex) -> tuple[str | None, bool]:
        """(origin to echo in CORS headers, allowed?).

        No Origin header means no browser made this cross-site (browsers send Origin with
        every POST, sendBeacon included): curl and server-side callers are let through,
        without CORS headers. `Origin: null` (sandboxed frames, file://) is refused.
        """
        origin = request.headers.get("origin")
        if origin is None:
            return None, True
        key = normalize_origin(origin)
        if key in policy.allowed_origins or key in self._extra_origins:
            return origin, True
        return None, False

    def _client(self, request: HttpRequest) -> str | HttpResponse:
        """The client's address (addresses.py), or the 400 for an X-Forwarded-For that a
        trusted proxy sent and that is not a list of addresses."""
        try:
            return self._proxies.client(request.client_ip, request.headers)
        except BadForwardedFor as error:
            return json_response(400, {"error": str(error)})

    def _over_limit(self, client: str) -> HttpResponse | None:
        if not self._limiter.enabled:
            return None
        wait = self._limiter.retry_after(reduce_ip(client) or client)
        if not wait:
            return None
        return json_response(
            429, {"error": f"too many requests; retry in {wait} s"}, [("retry-after", str(wait))]
        )

    @staticmethod
    def _forbidden(request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("origin", "")
        return json_response(403, {"error": f"origin {origin!r} is not allowed"})

    @staticmethod
    def _not_allowed(allow: str) -> HttpResponse:
        return json_response(405, {"error": f"method not allowed; use {allow}"}, [("allow", allow)])

    @staticmethod
    def _unavailable() -> HttpResponse:
        return json_response(
            503,
            {"error": "the consent store is unavailable; retry later"},
            [("retry-after", RETRY_AFTER_UNAVAILABLE)],
        )

    def _preflight(self, request: HttpRequest, methods: str) -> HttpResponse:
        origin, allowed = self._origin(request, self.policy.current())
        if not allowed:
            return self._forbidden(request)
        headers = [("allow", methods)]
        if origin is not None:
            headers += [
                *_cors(origin),
                ("access-control-allow-methods", methods),
                ("access-control-allow-headers", "content-type"),
                ("access-control-max-age", PREFLIGHT_MAX_AGE),
            ]
        return HttpResponse(204, headers, b"")

    # --- endpoints --------------------------------------------------------------------------

    async def _post(self, request: HttpRequest) -> HttpResponse:
        policy = self.policy.current()
        origin, allowed = self._origin(request, policy)
        if not allowed:
            return self._forbidden(request)
        cors = _cors(origin)
        client = self._client(request)
        if isinstance(client, HttpResponse):
            client.headers += cors
            return client
        refusal = self._over_limit(client) or check_body(request)
        if refusal is not None:
            refusal.headers += cors
            return refusal
        try:
            consent = validate_consent(request.body, policy)
        except FieldError as error:
            return json_response(400, {"error": error.message, "field": error.field}, cors)
        if self._committer.overloaded:  # back-pressure: the store is not keeping up
            response = self._unavailable()
            response.headers += cors
            return response
        record = self._record(consent, request, client)
        try:
            stored = await self._committer.submit(record)
        except StoreUnavailable as error:
            self._health_check.commit_failed(error)
            response = self._unavailable()
            response.headers += cors
            return response
        self._health_check.commit_succeeded()
        if stored.record.receipt == record.receipt:
            return receipt_response(201, stored, cors)
        if stored.record.payload() == record.payload():
            return receipt_response(200, stored, cors)
        return json_response(
            409,
            {
                "error": f"seq {record.seq} of this consent_id was already used for a "
                "different decision; send the next seq",
                "field": "seq",
            },
            cors,
        )

    def _record(self, consent: Consent, request: HttpRequest, client: str) -> ConsentRecord:
        """The record to store: the consent plus the server's time, the text's sha256, the user
        agent and the stored form of the client's address, sealed with its receipt."""
        user_agent = request.headers.get("user-agent")
        fields = (
            utc_timestamp(),
            consent.consent_id,
            consent.seq,
            consent.document,
            consent.version,
            consent.language,
            consent.policy_sha256,
            consent.action,
            consent.choices_json,
            consent.gpc,
            consent.page,
            user_agent[:MAX_USER_AGENT] if user_agent else None,
            self._privacy.stored_form(client) if client else None,
        )
        return seal(*fields, banner_sha256=consent.banner_sha256)

    async def _get_records(self, request: HttpRequest, raw_id: str) -> HttpResponse:
        origin, allowed = self._origin(request, self.policy.current())
        if not allowed:
            return self._forbidden(request)
        cors = _cors(origin)
        client = self._client(request)
        if isinstance(client, HttpResponse):
            client.headers += cors
            return client
        refusal = self._over_limit(client)
        if refusal is not None:
            refusal.headers += cors
            return refusal
        try:
            consent_id = parse_consent_id(raw_id)
        except FieldError as error:
            return json_response(400, {"error": error.message, "field": error.field}, cors)
        try:
            stored = await self._read(functools.partial(self.store.receipts_for, consent_id))
        except StoreUnavailable:
            response = self._unavailable()
            response.headers += cors
            return response
        # The row's own digest ("receipt" column) stays in the store; the receipts prove more.
        own = [{k: v for k, v in c.record.as_dict().items() if k not in _PRIVATE} for c in stored]
        receipts = [
            None if c.logged is None else receipt.from_logged(c.record, c.logged) for c in stored
        ]
        return json_response(
            200, {"consent_id": consent_id, "records": own, "receipts": receipts}, cors
        )

    async def _checkpoint(self) -> HttpResponse:
        """The latest signed checkpoint, as text: anyone may fetch and keep it."""
        try:
            latest = await self._read(self.store.latest_checkpoint)
        except StoreUnavailable:
            return self._unavailable()
        if latest is None:
            return json_response(404, {"error": "the log has no checkpoint yet"}, _PUBLIC)
        headers = [("content-type", "text/plain; charset=utf-8"), *NO_STORE, *_PUBLIC]
        return HttpResponse(200, headers, latest[1].encode("utf-8"))

    async def _consistency(self, query: str) -> HttpResponse:
        """RFC 9162's proof that the tree of `from` records is a prefix of the one of `to`
        (default: the latest checkpoint's size)."""
        try:
            latest = await self._read(self.store.latest_checkpoint)
            size = 0 if latest is None else latest[0]
            old, new = log_range(query, size)
            proof = await self._read(functools.partial(self.store.consistency_proof, old, new))
        except StoreUnavailable:
            return self._unavailable()
        except FieldError as error:
            status = 404 if isinstance(error, NoSuchTrees) else 400
            return json_response(status, {"error": error.message, "field": error.field}, _PUBLIC)
        payload = {"from": old, "to": new, "proof": [b64encode(h) for h in proof]}
        return json_response(200, payload, _PUBLIC)

    async def _read(self, call: Callable[[], T]) -> T:
        """`call` on the reader pool: store reads block, the event loop must not."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, call)

    async def _health(self) -> HttpResponse:
        reason = await self._health_check.reason()
        if reason is None:
            return json_response(200, {"status": "ok", "store": self.store.kind})
        return json_response(
            503,
            {"status": "unavailable", "reason": reason},
            [("retry-after", RETRY_AFTER_UNAVAILABLE)],
        )


class NoSuchTrees(FieldError):
    """Well-formed sizes that this log has no proof between (404)."""


def log_range(query: str, size: int) -> tuple[int, int]:
    """`from` and `to` of a consistency request (`to` defaults to `size`, the latest tree's):
    FieldError unless both are whole numbers from 1, NoSuchTrees unless from <= to <= size."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    values = {}
    for name in ("from", "to"):
        given = params.get(name)
        if given is None and name == "to":
            values[name] = size
            continue
        if given is None or len(given) != 1 or not given[0].isdigit() or len(given[0]) > 19:
            raise FieldError(name, f"give {name}= once, as a whole number of records")
        values[name] = int(given[0])
    old, new = values["from"], values["to"]
    if old < 1:
        raise FieldError("from", "from must be 1 or more: every tree extends the empty one")
    if new > size:
        raise NoSuchTrees("to", f"the log has {size} records; to={new} is beyond it")
    if old > new:
        raise NoSuchTrees("from", f"from={old} is beyond to={new}")
    return old, new


def open_service(
    db: str,
    site_dir: Path,
    *,
    extra_origins: Sequence[str] = (),
    settings: CollectorSettings | None = None,
) -> ConsentService:
    """Open the store (migrating it) and policy.json, or raise PolicyError saying why not.

    `settings` default to the environment (CollectorSettings.from_env).
    """
    settings = CollectorSettings.from_env() if settings is None else settings
    TrustedProxies(settings.forwarded_allow_ips)  # refuse a bad list now, not per request
    policy = PolicySource(Path(site_dir) / "policy.json")
    signer = None
    if settings.log:
        name = policy.current().log_name
        if not name:
            raise PolicyError(Problem(policy.path, "site.base_url gives no name for the log"))
        signer, _ = load_or_create_signer(log_key_path(db, settings.log_key), name)
    store = open_store(db, file_mode=file_mode(settings.group_readable), signer=signer)
    return ConsentService(store, policy, settings, extra_origins)
