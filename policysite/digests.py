"""sha256 in hex, of bytes and of files: what versions.lock records and what build records
compare. hashlib is imported only when something must be hashed: OpenSSL takes milliseconds to
load, a share of a no-change rebuild's budget (docs/performance.md)."""

from __future__ import annotations

from pathlib import Path


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path | str) -> str:
    import hashlib

    with open(path, "rb") as fp:
        return hashlib.file_digest(fp, "sha256").hexdigest()
