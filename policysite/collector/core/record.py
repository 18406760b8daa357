"""One consent record as stored: what the browser sent plus what the server adds.

The receipt is a content hash of the whole record, so a receipt kept by the browser proves
that the stored row was not altered afterwards (anyone can recompute it from an export).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import NamedTuple

# Order of columns in the store, in exports and in the receipt's canonical JSON array.
COLUMNS = (
    "received_at",
    "consent_id",
    "seq",
    "document",
    "version",
    "language",
    "policy_sha256",
    "action",
    "choices",
    "gpc",
    "page",
    "user_agent",
    "ip",
    "receipt",
    "banner_sha256",
)

# Fields the browser chose: a repeat of (consent_id, seq) must carry the same ones.
PAYLOAD_FIELDS = ("document", "version", "language", "choices", "action", "gpc", "page")


class ConsentRecord(NamedTuple):
    """Immutable, and a tuple in COLUMNS order: the store binds it as it is (hot path)."""

    received_at: str  # UTC, "2026-11-25T03:04:05.123456Z"
    consent_id: str  # lower-case UUID
    seq: int
    document: str
    version: str  # YYYY-MM-DD
    language: str
    policy_sha256: str  # of the text consented to (policy.json)
    action: str  # accept_all | reject_all | custom
    choices: str  # canonical JSON object {category: bool}, keys sorted
    gpc: bool | None
    page: str | None  # path only
    user_agent: str | None  # at most 256 characters
    ip: str | None  # "203.0.113.0/24", "2001:db8:1::/48" or "hmac-sha256:<hex>"
    receipt: str  # the row's own digest, of the fields above
    banner_sha256: str | None = None  # of the banner texts the visitor was shown (the widget's)

    def payload(self) -> tuple:
        """The fields the browser chose, for comparing a repeat with the stored record."""
        return (self.document, self.version, self.language, self.choices, self.action,
                self.gpc, self.page)  # fmt: skip

    def as_row(self) -> tuple:
        return tuple(self)

    def as_dict(self) -> dict:
        """JSON-ready mapping (choices decoded) for exports and the browser's own read."""
        data = self._asdict()
        data["choices"] = json.loads(self.choices)
        return data


# Built once: json.dumps with options builds a new encoder on every call (hot path).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_RECEIPT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# What _RECEIPT_JSON writes for each type a record holds; a flat array of these is cheaper to
# join by hand than through the encoder's machinery, and gives the same text (leaf.py too).
JSON_ATOMS = {
    str: encode_basestring,
    int: int.__repr__,
    bool: {True: "true", False: "false"}.__getitem__,
    type(None): lambda _: "null",
}
_second: tuple[int, str] = (-1, "")  # the last whole second formatted, shared by all threads


def utc_timestamp(moment: dt.datetime | None = None) -> str:
    """Given an aware datetime (default: now), return it as the store's UTC text form."""
    if moment is None:
        return _now()
    moment = moment.astimezone(dt.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _now() -> str:
    """The current time as utc_timestamp() writes it; formats each second once (hot path)."""
    global _second
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    cached = _second  # one read: another thread may replace it meanwhile
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{nanoseconds // 1000:06d}Z"


def canonical_choices(choices: dict[str, bool]) -> str:
    return _CANONICAL.encode(choices)


def compute_receipt(*fields: object) -> str:
    """sha256 (hex) of the JSON array of every column before `receipt`, in COLUMNS order."""
    try:
        text = "[" + ",".join([JSON_ATOMS[type(field)](field) for field in fields]) + "]"
    except KeyError:  # not a column type: let the encoder say what is wrong
        text = _RECEIPT_JSON.encode(fields)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


RUNS_CACHE = 1024  # distinct (document, ..., gpc) runs kept with their receipt text
_runs: dict[tuple, str] = {}
_GPC_TYPES = (bool, type(None))


def seal(*fields: object, banner_sha256: str | None = None) -> ConsentRecord:
    """ConsentRecord(*fields, compute_receipt(*fields), banner_sha256), cheaper on the hot
    path.

    The columns from `document` to `gpc` take a handful of values (one per version, language,
    action and choices), so their part of the receipt's JSON text is written once and kept.
    """
    received_at, consent_id, seq, *_, gpc, page, user_agent, ip = fields
    if type(seq) is not int or type(gpc) not in _GPC_TYPES:  # 1 == True would share a key
        return ConsentRecord(*fields, compute_receipt(*fields), banner_sha256)  # type: ignore[arg-type]
    try:
        run = run_json(fields[3:10])
        text = (
            f"[{encode_basestring(received_at)},{encode_basestring(consent_id)},{seq},{run},"
            f"{_nullable(page)},{_nullable(user_agent)},{_nullable(ip)}]"
        )
    except (KeyError, TypeError):  # not the column types: let compute_receipt say so
        return ConsentRecord(*fields, compute_receipt(*fields), banner_sha256)  # type: ignore[arg-type]
    receipt = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ConsentRecord(*fields, receipt, banner_sha256)  # type: ignore[arg-type]


def cached_run(cache: dict[tuple, str], key: tuple, write: Callable[[tuple], str]) -> str:
    """`write(key)` for a run of fields from `document` to `gpc`, kept in `cache`: they take
    a handful of values. A gpc that is not a bool or None is written every time (1 == True,
    so it would find True's text)."""
    cacheable = type(key[-1]) in _GPC_TYPES
    text = cache.get(key) if cacheable else None
    if text is None:
        text = write(key)
        if cacheable and len(cache) < RUNS_CACHE:
            cache[key] = text
    return text


def run_json(key: tuple) -> str:
    """The run's values as JSON atoms joined by commas: part of the receipt's text and of the
    leaf's (leaf.py)."""
    return cached_run(_runs, key, _atoms)


def _atoms(values: tuple) -> str:
    return ",".join([JSON_ATOMS[type(value)](value) for value in values])


def _nullable(value: object) -> str:
    return "null" if value is None else encode_basestring(value)


def verify_receipt(record: ConsentRecord) -> bool:
    """True when the record still hashes to its receipt (it was not altered)."""
    fields = record.as_row()[: COLUMNS.index("receipt")]
    return compute_receipt(*fields) == record.receipt
