"""Signed checkpoints of the consent log: C2SP signed notes with Ed25519, and their keys.

A checkpoint says "the log had N records and this Merkle root" (c2sp.org/tlog-checkpoint),
signed as a note (c2sp.org/signed-note) in exactly the format of Go's
golang.org/x/mod/sumdb/note, so that any tool of the transparency-log world (Go's `note`
package, transparency-dev, witnesses) can check the collector's checkpoints, and ours theirs.

The text formats, all on one line:

* verifier key, published in site.toml: `<name>+<key id, 8 hex>+<base64(0x01 || public key)>`
* signer key, in the private key file: `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`
* key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)

A checkpoint carries no time. The time it was made is kept by the store beside it: a time
signed by the operator proves nothing that the operator could not have written anyway, and
extension lines are "NOT RECOMMENDED, as they are not auditable by log monitors" (C2SP).
Times that do prove something come from outside: the site's git history and CDN copies of
published checkpoints, or witnesses' timestamped cosignatures (c2sp.org/tlog-cosignature),
which a note accepts beside the log's own signature (docs/consent-log.md). The key file is
log_key.py's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from policysite.log_names import is_valid_name, log_origin

__all__ = ["is_valid_name", "log_origin"]  # re-exported: the names of keys and logs

ED25519 = 0x01  # the signature type byte of c2sp.org/signed-note
MAX_SIGNATURES = 100  # as Go's note.Open: a hostile note cannot make us verify forever
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, key or checkpoint that must not be trusted; the message says why.

    `kind` is the message's first words ("malformed note", "unknown key", "bad signature",
    "malformed key", "malformed checkpoint", "wrong origin"), so that an auditor's report can
    tell a checkpoint signed by another key from one whose text was altered.
    """

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


class Signature(NamedTuple):
    """One verified signature line of a note: who signed, and the 64 signature bytes."""

    name: str
    key_id: int
    signature: bytes


def key_id(name: str, public_key: bytes) -> int:
    """The 32-bit id of an Ed25519 key, as C2SP recommends and Go's note package computes."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def b64decode(text: str) -> bytes | None:
    """Decode standard base64, or None unless `text` is exactly how the bytes encode.

    Stricter than Go (which accepts non-zero padding bits): then each value has one text,
    and comparing two checkpoints' texts is comparing the checkpoints.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _parse_key(text: str, what: str, prefix: str = "") -> tuple[str, int, bytes]:
    """Read `<prefix><name>+<key id>+<base64(0x01 || key)>`: the name, stated id and key."""
    if not text.startswith(prefix):
        raise NoteError("malformed key", f"a {what} starts with {prefix}")
    name, hex_id, key64 = [*text[len(prefix) :].split("+", 2), "", ""][:3]
    if not is_valid_name(name):
        raise NoteError("malformed key", f"{name!r} is not a key name (no spaces or '+')")
    if not _HEX_ID.fullmatch(hex_id):
        raise NoteError("malformed key", f"key id {hex_id!r} is not 8 lower-case hex digits")
    raw = b64decode(key64)
    if not raw:
        raise NoteError("malformed key", f"the {what} is not base64")
    if raw[0] != ED25519:
        raise NoteError("malformed key", f"signature type 0x{raw[0]:02x} is not Ed25519 (0x01)")
    if len(raw) != 33:
        raise NoteError("malformed key", f"an Ed25519 {what} has 32 bytes, not {len(raw) - 1}")
    return name, int(hex_id, 16), raw[1:]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures by the key `name`+`key_id`."""

    name: str
    key_id: int
    public_key: bytes  # 32 bytes (RFC 8032)

    def __post_init__(self) -> None:
        if not is_valid_name(self.name) or len(self.public_key) != 32:
            raise NoteError("malformed key", "a verifier needs a key name and a 32-byte key")
        actual = key_id(self.name, self.public_key)
        if self.key_id != actual:
            message = f"key id {self.key_id:08x} is not {self.name}'s key's id ({actual:08x})"
            raise NoteError("malformed key", message)

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read `<name>+<key id>+<base64 key>` (site.toml's log_public_key)."""
        return cls(*_parse_key(text, "public key"))

    def key_text(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """A private key that signs as `name`; its repr never shows the key."""

    __slots__ = ("_key", "name", "verifier")

    def __init__(self, name: str, seed: bytes):
        if not is_valid_name(name) or len(seed) != 32:
            raise NoteError("malformed key", "a signer needs a key name and a 32-byte seed")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.name = name
        self.verifier = Verifier(name, key_id(name, public), public)

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Read `PRIVATE+KEY+<name>+<key id>+<base64 seed>`, as Go's note.GenerateKey writes."""
        name, stated, seed = _parse_key(text, "private key", "PRIVATE+KEY+")
        signer = cls(name, seed)
        Verifier(name, stated, signer.verifier.public_key)  # the stated id is the key's
        return signer

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    def key_text(self) -> str:
        seed = self._key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{b64encode(bytes([ED25519]) + seed)}"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Signer({self.name}+{self.key_id:08x})"


def generate_signer(name: str) -> tuple[Signer, str, str]:
    """A new key for `name`: the signer, its private key text and its public key text."""
    signer = Signer(name, secrets.token_bytes(32))
    return signer, signer.key_text(), signer.verifier.key_text()


def _check_note_text(text: str, what: str) -> bytes:
    """UTF-8 without control characters but newline, as every note must be (C2SP)."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"malformed {what}", "not valid UTF-8") from None
    bad = next((c for c in text if c < " " and c != "\n"), None)
    if bad is not None:
        line = text.count("\n", 0, text.index(bad)) + 1
        raise NoteError(f"malformed {what}", f"control character U+{ord(bad):04X} on line {line}")
    return raw


def sign_note(text: str, signer: Signer) -> str:
    """The signed note of `text` (which must end in a newline), signed by `signer`."""
    raw = _check_note_text(text, "note")
    if not text.endswith("\n"):
        raise NoteError("malformed note", "the text must end in a newline")
    sig = b64encode(signer.key_id.to_bytes(4, "big") + signer.sign(raw))
    return f"{text}\n{SIGNATURE_PREFIX}{signer.name} {sig}\n"


def _parse_signature_line(line: str, number: int) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("malformed note", f"signature line {number} does not start with '— '")
    name, _, sig64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = b64decode(sig64)
    if not is_valid_name(name) or raw is None or len(raw) < 5:
        raise NoteError("malformed note", f"signature line {number} is not '— <name> <base64>'")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _verifier_map(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) != v:
            raise NoteError("malformed key", f"two different keys are {v.name}+{v.key_id:08x}")
    return known


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[Signature]]:
    """Check a signed note; return its text and the signatures of the known keys.

    Signatures by other keys (witnesses, a key being rotated in) are skipped, as C2SP says;
    every signature by a known key must verify, and at least one must be there.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("malformed note", "not valid UTF-8") from None
    _check_note_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note", "no blank line before the signature lines")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note", "the last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("malformed note", f"more than {MAX_SIGNATURES} signatures")
    known = _verifier_map(verifiers)
    message = text.encode("utf-8")
    verified: list[Signature] = []
    others: list[str] = []
    for number, line in enumerate(lines, 1):
        sig = _parse_signature_line(line, number)
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            others.append(f"{sig.name}+{sig.key_id:08x}")
        elif not verifier.verify(message, sig.signature):
            raise NoteError(
                "bad signature",
                f"the signature of {sig.name}+{sig.key_id:08x} does not match the text",
            )
        elif sig not in verified:
            verified.append(sig)
    if not verified:
        trusted = ", ".join(f"{n}+{i:08x}" for n, i in known) or "none"
        raise NoteError(
            "unknown key",
            f"signed by {', '.join(dict.fromkeys(others))}, not by a trusted key ({trusted})",
        )
    return text, verified


@dataclass(frozen=True)
class Checkpoint:
    """A tree head as c2sp.org/tlog-checkpoint writes it: origin, size, root, extensions."""

    origin: str
    size: int
    root: bytes  # the RFC 9162 root hash (SHA-256)
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("malformed checkpoint", "the origin must be one non-empty line")
        if not 0 <= self.size < 2**64:
            raise NoteError("malformed checkpoint", f"tree size {self.size} is out of range")
        if len(self.root) != 32:
            raise NoteError("malformed checkpoint", f"the root hash has {len(self.root)} bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise NoteError("malformed checkpoint", "an extension must be one non-empty line")
        _check_note_text(self.body(), "checkpoint")

    def body(self) -> str:
        """The note text: three lines and any extension lines, each ending in a newline."""
        lines = (self.origin, str(self.size), b64encode(self.root), *self.extensions)
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint's text strictly: the only text accepted is what body() writes."""
        if not text.endswith("\n"):
            raise NoteError("malformed checkpoint", "the text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("malformed checkpoint", "it needs an origin, a tree size and a root")
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise NoteError(
                "malformed checkpoint", f"line 2: {size!r} is not a tree size (digits, no 0 first)"
            )
        raw = b64decode(root)
        if raw is None or len(raw) != 32:
            raise NoteError(
                "malformed checkpoint", f"line 3: {root!r} is not the base64 of a 32-byte hash"
            )
        if "" in extensions:
            number = 4 + extensions.index("")
            raise NoteError("malformed checkpoint", f"line {number} is empty")
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a signed note. Its origin must be the key's name, as C2SP advises,
    so that one string names the log everywhere (checkpoints, site.toml, policy.json)."""
    if checkpoint.origin != signer.name:
        raise ValueError(f"checkpoint of {checkpoint.origin!r} signed as {signer.name!r}")
    return sign_note(checkpoint.body(), signer)


def verify_checkpoint(
    note: str | bytes, verifier: Verifier, origin: str | None = None
) -> Checkpoint:
    """The checkpoint in `note` once `verifier`'s signature on it is checked.

    `origin` defaults to the verifier's key name; a checkpoint of another log is refused even
    when the same key signed it.
    """
    text, _ = open_note(note, [verifier])
    checkpoint = Checkpoint.parse(text)
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise NoteError("wrong origin", f"checkpoint of {checkpoint.origin!r}, not {expected!r}")
    return checkpoint
