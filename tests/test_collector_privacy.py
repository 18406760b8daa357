"""The raw client IP never reaches the disk: search the SQLite files' bytes for it.

docs/collector.md, *Privacy of the record*."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from collector_fixtures.support import Collector, body

from policysite.collector.core.settings import CollectorSettings

CLIENTS = ["198.51.100.177", "2001:db8:85a3:8d3:1319:8a2e:370:7348"]
FORWARDED = "192.0.2.233"  # the visitor behind the trusted proxy 127.0.0.1


def forms(ip: str) -> list[bytes]:
    """Every way the address could be written into a file."""
    address = ipaddress.ip_address(ip)
    texts = {ip, str(address), address.exploded}
    return [t.encode() for t in texts] + [t.encode("utf-16-le") for t in texts] + [address.packed]


def disk_bytes(db: Path) -> bytes:
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    return b"".join(path.read_bytes() for path in files if path.exists())


@pytest.mark.parametrize("hmac_key", [None, "a-secret-key-of-32-characters-ok"])
def test_collector_never_writes_the_raw_ip_to_disk(tmp_path, hmac_key):
    db = tmp_path / "consents.sqlite3"
    client = Collector(str(db), settings=CollectorSettings(rate_limit="0", ip_hmac_key=hmac_key))
    try:
        for ip in CLIENTS:
            for _ in range(3):
                assert client.post(body(), client_ip=ip).status_code == 201
        forwarded = {"x-forwarded-for": FORWARDED}
        assert client.post(body(), headers=forwarded, client_ip="127.0.0.1").status_code == 201
        before_checkpoint = disk_bytes(db)  # the records are still in the WAL here
    finally:
        client.close()
    after_close = disk_bytes(db)  # closing checkpoints the WAL into the main file
    assert b"203.0.113" not in after_close  # sanity: the support client's default IP unused
    for ip in [*CLIENTS, FORWARDED]:
        for form in forms(ip):
            assert form not in before_checkpoint, f"{ip} found in the WAL as {form!r}"
            assert form not in after_close, f"{ip} found in the database as {form!r}"
    expected = b"198.51.100.0/24" if hmac_key is None else b"hmac-sha256:"
    assert expected in after_close
