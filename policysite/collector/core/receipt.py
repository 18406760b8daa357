"""A visitor's consent receipt, checked offline: no database, only the log's public key.

A receipt (docs/consent-log.md, "Receipts") is one JSON object:

    {"format": "policysite-consent-receipt/1",
     "record": {"received_at": …, "consent_id": …, …, "ip_commitment": …},
     "leaf_index": 41, "leaf_hash": "<base64>", "inclusion_proof": ["<base64 hash>", …],
     "checkpoint": "<a C2SP signed note: origin, size, base64 root; signature line>"}

It is valid when the checkpoint is signed by the key, the record's leaf hash (leaf.py) is at
`leaf_index` of that checkpoint's tree by the RFC 9162 inclusion proof, and the index is in
the tree; `leaf_hash`, when given, must be the record's. Each failure says which of these did
not hold.
"""

from __future__ import annotations

import json
from binascii import b2a_base64 as _b64
from dataclasses import dataclass
from json.encoder import encode_basestring

from policysite.collector.core import merkle
from policysite.collector.core.checkpoint import (
    NoteError,
    Verifier,
    b64decode,
    b64encode,
    verify_checkpoint,
)
from policysite.collector.core.leaf import leaf_hash, record_fields
from policysite.collector.core.record import COLUMNS, JSON_ATOMS, ConsentRecord, cached_run
from policysite.collector.core.tree_log import Logged

FORMAT = "policysite-consent-receipt/1"
_RUN = COLUMNS[3:10]  # document … gpc: the fields that take a handful of values
PROOFS_CACHE = 1024  # proof ends kept with their text (~130 a batch), then it starts over
_runs: dict[tuple, str] = {}
_proofs: dict[bytes, str] = {}
_note: tuple[str, str] = ("", "")  # the last checkpoint written, and its JSON text


class ReceiptError(ValueError):
    """The receipt does not prove what it claims; the message says what failed."""


@dataclass(frozen=True)
class VerifiedReceipt:
    consent_id: str
    seq: int
    action: str
    received_at: str
    policy_sha256: str
    leaf_index: int
    tree_size: int

    def summary(self) -> str:
        return (
            f"valid: {self.consent_id} seq {self.seq} {self.action} at {self.received_at}, "
            f"policy {self.policy_sha256}"
        )


def parse(text: str | bytes) -> dict:
    """The receipt's JSON object; ReceiptError when it is not one of ours."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReceiptError(f"not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReceiptError(f'not a consent receipt: "format" must be "{FORMAT}"')
    return data


def verify(data: dict, verifier: Verifier) -> VerifiedReceipt:
    """Check a parsed receipt against the log's public key."""
    record, index, proof, note = _fields(data)
    try:
        checkpoint = verify_checkpoint(note, verifier)
    except NoteError as error:
        raise ReceiptError(f"the checkpoint is not signed by {verifier.name}: {error}") from None
    try:
        leaf = leaf_hash(record)
    except ValueError as error:
        raise ReceiptError(f"the record is incomplete: {error}") from None
    if "leaf_hash" in data and b64decode(str(data["leaf_hash"])) != leaf:
        raise ReceiptError('the record does not hash to "leaf_hash" (the record was changed)')
    if index >= checkpoint.size:
        raise ReceiptError(
            f"leaf {index} is not in the checkpoint's tree of {checkpoint.size} records"
        )
    try:
        found = merkle.root_from_inclusion(leaf, index, checkpoint.size, proof)
    except merkle.ProofError as error:
        raise ReceiptError(f"the inclusion proof does not fit: {error}") from None
    if found != checkpoint.root:
        raise ReceiptError(
            "the record is not in the signed tree: its leaf and proof lead to another root "
            "(the record or the proof was changed)"
        )
    return VerifiedReceipt(
        consent_id=str(record["consent_id"]),
        seq=int(record["seq"]),  # type: ignore[call-overload]
        action=str(record["action"]),
        received_at=str(record["received_at"]),
        policy_sha256=str(record["policy_sha256"]),
        leaf_index=index,
        tree_size=checkpoint.size,
    )


def _fields(data: dict) -> tuple[dict, int, list[bytes], str]:
    record, index = data.get("record"), data.get("leaf_index")
    proof, note = data.get("inclusion_proof"), data.get("checkpoint")
    if not isinstance(record, dict):
        raise ReceiptError('"record" must be an object')
    if type(index) is not int or index < 0:
        raise ReceiptError('"leaf_index" must be a whole number, 0 or more')
    if not isinstance(proof, list) or not all(isinstance(item, str) for item in proof):
        raise ReceiptError('"inclusion_proof" must be a list of base64 hashes')
    hashes = [b64decode(item) for item in proof]
    if any(h is None or len(h) != 32 for h in hashes):
        raise ReceiptError('"inclusion_proof" holds something that is not a base64 SHA-256')
    if not isinstance(note, str):
        raise ReceiptError('"checkpoint" must be the signed checkpoint\'s text')
    return record, index, hashes, note  # type: ignore[return-value]


def make(
    record: dict,
    leaf_index: int,
    proof: list[bytes],
    signed_checkpoint: str,
    leaf: bytes | None = None,
) -> dict:
    """A receipt as the collector hands it out (and tests build it)."""
    receipt = {"format": FORMAT, "record": record, "leaf_index": leaf_index}
    if leaf is not None:
        receipt["leaf_hash"] = b64encode(leaf)
    receipt["inclusion_proof"] = [b64encode(h) for h in proof]
    receipt["checkpoint"] = signed_checkpoint
    return receipt


def to_json(record: ConsentRecord, logged: Logged) -> str:
    """json.dumps(from_logged(record, logged), separators=(",", ":"), ensure_ascii=False),
    written out: the collector sends one with every 201 (hot path). The parts that repeat
    from record to record are written once and kept: the run of fields from `document` to
    `gpc`, a batch's checkpoint, and the proof hashes a batch's records share."""
    run = cached_run(_runs, record[3:10], _named_run)
    received_at, consent_id, seq = record[:3]
    page, user_agent, banner = record.page, record.user_agent, record.banner_sha256
    commitment = logged.ip_commitment
    if len(_proofs) > PROOFS_CACHE:
        _proofs.clear()
    global _note
    if _note[0] is not logged.checkpoint:
        _note = (logged.checkpoint, encode_basestring(logged.checkpoint))
    return (
        f'{{"format":"{FORMAT}","record":{{"received_at":{encode_basestring(received_at)},'
        f'"consent_id":{encode_basestring(consent_id)},"seq":{JSON_ATOMS[type(seq)](seq)},'
        f'{run},"page":{_nullable(page)},"user_agent":{_nullable(user_agent)},'
        f'"ip_commitment":{_nullable(commitment)},"banner_sha256":{_nullable(banner)}}},'
        f'"leaf_index":{logged.leaf_index},'
        f'"leaf_hash":"{_b64(logged.leaf_hash, newline=False).decode()}",'
        f'"inclusion_proof":[{_proof_text(logged.proof)}],'
        f'"checkpoint":{_note[1]}}}'
    )


def _proof_text(proof: bytes) -> str:
    """The hashes in base64, quoted and joined by commas. A batch's proofs share their upper
    levels, which are their ends: the text of every end is kept, and a proof's is its first
    hash's followed by the kept text of the rest."""
    if not proof:
        return ""
    text = _proofs.get(proof)
    if text is None:
        head = '"' + _b64(proof[: merkle.HASH_SIZE], newline=False).decode() + '"'
        rest = proof[merkle.HASH_SIZE :]
        text = _proofs[proof] = f"{head},{_proof_text(rest)}" if rest else head
    return text


def _named_run(values: tuple) -> str:
    return ",".join([f'"{n}":{JSON_ATOMS[type(v)](v)}' for n, v in zip(_RUN, values, strict=True)])


def _nullable(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def from_logged(record: ConsentRecord, logged: Logged) -> dict:
    """The receipt of a committed record (store.Committed)."""
    fields = record_fields(record, logged.ip_commitment)
    return make(
        fields, logged.leaf_index, logged.proof_hashes(), logged.checkpoint, logged.leaf_hash
    )
