"""What one consent record commits to as a leaf of the consent log (docs/consent-log.md).

The leaf data is the UTF-8 of a JSON array, written with separators `,` and `:` and without
ASCII escaping, as the receipt's text is (record.py):

    ["consent/1", received_at, consent_id, seq, document, version, language, policy_sha256,
     action, choices, gpc, page, user_agent, ip_commitment, banner_sha256]

`choices` is the canonical JSON text of the choices (keys sorted), as a string;
`banner_sha256` the sha256 of the banner texts the visitor was shown (the build's archive
file, dist/consent-log/banner/<sha256>.json), or null when the widget did not say. The first
element names this layout, so that a later one can be told apart.
The stored IP form never appears: `ip_commitment` is "sha256:" and the hex SHA-256 of a
random 16-byte salt followed by the stored form, or null when no address was known. The salt
stays in the store, so the visitor, who is given the commitment, can recompute their leaf, and
an auditor, who has the store, can check the commitment; nobody else can test guesses of the
address (a /24 has only 2^24 of them, a bare hash would give it away).
"""

from __future__ import annotations

import hashlib
import secrets
from json.encoder import encode_basestring

from policysite.collector.core import merkle
from policysite.collector.core.record import JSON_ATOMS, ConsentRecord, run_json

LAYOUT = "consent/1"
SALT_BYTES = 16
_FIELDS = (
    "received_at", "consent_id", "seq", "document", "version", "language", "policy_sha256",
    "action", "choices", "gpc", "page", "user_agent", "ip_commitment", "banner_sha256",
)  # fmt: skip


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def ip_commitment(ip: str | None, salt: bytes) -> str | None:
    """The commitment to the stored IP form (None when there is none)."""
    if ip is None:
        return None
    return "sha256:" + hashlib.sha256(salt + ip.encode("utf-8")).hexdigest()


_PREFIX = "[" + encode_basestring(LAYOUT) + ","
_RECORD_FIELDS = 12  # ConsentRecord's first twelve columns are the leaf's, in the same order


def record_leaf_hash(record: ConsentRecord, commitment: str | None) -> bytes:
    """The leaf hash of a stored record whose IP commitment is `commitment` (hot path: the
    same bytes as leaf_data, written without its checks). The fields from `document` to
    `gpc` take a handful of values, so their part of the text is written once and kept."""
    received_at, consent_id, seq, *_, page, user_agent = record[:_RECORD_FIELDS]
    run = run_json(record[3:10])  # the same text as the row's digest has (record.py)
    text = (
        f"{_PREFIX}{encode_basestring(received_at)},{encode_basestring(consent_id)},"
        f"{JSON_ATOMS[type(seq)](seq)},{run},{_nullable(page)},{_nullable(user_agent)},"
        f"{_nullable(commitment)},{_nullable(record.banner_sha256)}]"
    )
    return merkle.leaf_hash(text.encode("utf-8"))


def _nullable(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def record_fields(record: ConsentRecord, commitment: str | None) -> dict[str, object]:
    """The leaf's fields of a stored record, as a receipt shows them (no IP, its commitment)."""
    fields: dict[str, object] = dict(zip(_FIELDS[:_RECORD_FIELDS], record, strict=False))
    fields["ip_commitment"] = commitment
    fields["banner_sha256"] = record.banner_sha256
    return fields


def leaf_data(fields: dict[str, object]) -> bytes:
    """The leaf's bytes for a record given as a mapping of _FIELDS (extra keys ignored).

    Raise ValueError naming a field that is missing or of a type a record cannot hold.
    """
    parts = [encode_basestring(LAYOUT)]
    for name in _FIELDS:
        if name not in fields:
            raise ValueError(f"the record has no {name!r}")
        parts.append(_atom(name, fields[name]))
    return ("[" + ",".join(parts) + "]").encode("utf-8")


def leaf_hash(fields: dict[str, object]) -> bytes:
    return merkle.leaf_hash(leaf_data(fields))


def _atom(name: str, value: object) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return encode_basestring(value)
    raise ValueError(f"{name!r} is a {type(value).__name__}, not text, a number or a boolean")
