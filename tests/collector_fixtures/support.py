"""Helpers for the collector tests: a fixture policy, valid bodies, and a synchronous client
that drives the real ASGI app (policysite.collector.http.asgi) over a real store through httpx."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from policysite.collector.core.settings import CollectorSettings
from policysite.collector.http.asgi import create_app

SITE = Path(__file__).resolve().parent / "site"
POLICY = json.loads((SITE / "policy.json").read_text(encoding="utf-8"))
SHA_VI = "1" * 64  # 2026-11-24 vi
SHA_EN = "2" * 64  # 2026-11-24 en
SHA_NEXT_VI = "3" * 64  # 2027-01-01 vi (no en translation yet)
ORIGIN = "https://ximgo.com"
NO_LIMIT = CollectorSettings(rate_limit="0")


def body(**changes: object) -> dict:
    """A valid consent body; keyword arguments replace fields (None removes one)."""
    data: dict = {
        "consent_id": str(uuid.uuid4()),
        "seq": 1,
        "document": "privacy",
        "version": "2026-11-24",
        "language": "vi",
        "choices": {"necessary": True, "analytics": True, "advertising": False},
        "action": "custom",
        "gpc": False,
        "page": "/chinh-sach-bao-mat/",
    }
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def write_policy(site: Path, mutate=None) -> Path:
    """Copy the fixture policy.json into `site` (after `mutate(data)`); return the file."""
    data = copy.deepcopy(POLICY)
    if mutate:
        mutate(data)
    site.mkdir(parents=True, exist_ok=True)
    path = site / "policy.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


class Collector:
    """The ASGI app on its own event loop; every call is one real HTTP exchange."""

    def __init__(
        self,
        db: str,
        site: Path = SITE,
        *,
        settings: CollectorSettings | None = NO_LIMIT,  # None: from the environment
        extra_origins: tuple[str, ...] = (),
        client_ip: str = "203.0.113.7",
    ) -> None:
        self.loop = asyncio.new_event_loop()
        if settings is not None and not settings.log_key:
            settings = dataclasses.replace(settings, log_key=str(key_file(db)))
        self.app = create_app(db, site, settings=settings, extra_origins=extra_origins)
        self.service = self.app.open()
        self.client_ip = client_ip

    def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        client_ip: str | None = None,
    ) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, client=(client_ip or self.client_ip, 51000))

        async def exchange() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://collector") as c:
                return await c.request(method, path, json=json, content=content, headers=headers)

        return self.loop.run_until_complete(exchange())

    def post(self, data: dict, **options) -> httpx.Response:
        headers = {"content-type": "text/plain;charset=UTF-8", "origin": ORIGIN}
        headers |= options.pop("headers", None) or {}  # a None value removes a header
        headers = {name: value for name, value in headers.items() if value is not None}
        return self.request(
            "POST", "/api/consent", content=json.dumps(data), headers=headers, **options
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.service.close())
        self.loop.close()


def sqlite_path(tmp_path: Path) -> str:
    """The SQLite file of a test store, in var/ as the collector keeps it (its key beside)."""
    return str(tmp_path / "var" / "consents.sqlite3")


def either_store(request, tmp_path: Path) -> str:
    """For a fixture parametrized "sqlite" / "postgresql": a fresh store of that kind."""
    if request.param == "sqlite":
        return sqlite_path(tmp_path)
    return fresh_database(request.getfixturevalue("postgres").url)


def fresh_database(server_url: str) -> str:
    """Create an empty database on the test PostgreSQL server; return its URL."""
    import psycopg

    name = f"consents_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def make_record(received_at: str, *, seq: int = 1, version: str = "2026-11-24", **choices: bool):
    """A ConsentRecord as the service would build it, received at a chosen time."""
    from policysite.collector.core.record import (
        ConsentRecord,
        canonical_choices,
        compute_receipt,
    )

    granted = {"necessary": True, "analytics": False, "advertising": False} | choices
    action = "accept_all" if all(granted.values()) else "custom"
    if not any(v for k, v in granted.items() if k != "necessary"):
        action = "reject_all"
    fields = (received_at, str(uuid.uuid4()), seq, "privacy", version, "vi", SHA_VI, action,
              canonical_choices(granted), None, "/chinh-sach-bao-mat/", "Firefox/140",
              "203.0.113.0/24")  # fmt: skip
    return ConsentRecord(*fields, receipt=compute_receipt(*fields))


class WriterThread:
    """The SQLite writer (policysite.collector.core.writer) serving `db` from a thread of the test.

    settings() gives collector settings that commit through it; stop() ends it once the
    collectors using it are closed.
    """

    def __init__(self, db: str, socket_path: str) -> None:
        import socket
        import threading

        from policysite.collector.core.store import open_store
        from policysite.collector.core.writer import Writer

        self.socket = socket_path
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(socket_path)
        listener.listen()
        # The key the workers' own committers load (service.open_service), so that both sign.
        self.writer = Writer(open_store(db, signer=log_signer(db)), listener)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.writer.run()
        finally:
            self.writer.close()

    def settings(self) -> CollectorSettings:
        return CollectorSettings(rate_limit="0", writer_socket=self.socket)

    def stop(self) -> None:
        self.writer.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the writer did not stop"


ROOT = SITE.parents[2]


def start_collector(
    tmp_path: Path, *options: str, port: int | None = None, site: Path = SITE
) -> tuple[subprocess.Popen, int, Path]:
    """`build.py collector` in a child process on tmp_path/c.sqlite3 (rate limit off unless
    `options` say otherwise); return it, its port and the file its stderr goes to."""
    from conftest import free_port, wait_for_port

    port = port or free_port()
    log = tmp_path / "stderr.log"
    env = {key: value for key, value in os.environ.items() if key != "POLICYSITE_LOG_FORMAT"}
    process = subprocess.Popen(
        [sys.executable, "build.py", "collector", "--port", str(port), "--site", str(site),
         "--db", str(tmp_path / "c.sqlite3"), "--rate-limit", "0", *options],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    wait_for_port(port, timeout=30)
    return process, port, log


def stop_collector(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def post_many(port: int, count: int, headers: dict[str, str] | None = None) -> list[int]:
    """POST `count` new valid consents over one kept-alive connection; return the statuses."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = []
    try:
        for _ in range(count):
            connection.request(
                "POST", "/api/consent", body=json.dumps(body()),
                headers={"content-type": "text/plain;charset=UTF-8", "origin": ORIGIN}
                | (headers or {}),
            )  # fmt: skip
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    return statuses


def file_mode(path: Path) -> int:
    """A file's permission bits, e.g. 0o600."""
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    """This process's umask set to `value` inside the block."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def key_file(db: str) -> Path:
    """The log's signing key for `db` in tests: beside a SQLite file, as the collector puts
    it; for a PostgreSQL database, a file of its own under the temporary folder (never the
    default var/ of the working folder)."""
    from policysite.collector.core.settings import log_key_path

    if db.startswith("postgresql://"):
        return Path(tempfile.gettempdir(), "policysite-test-keys", db.rsplit("/", 1)[-1] + ".key")
    return log_key_path(db)


def log_signer(db: str):
    """The signing key the test collector for `db` uses (created when there is none yet)."""
    from policysite.collector.core.log_key import load_or_create_signer
    from policysite.collector.core.policy import load_policy

    return load_or_create_signer(key_file(db), load_policy(SITE / "policy.json").log_name)[0]


def log_verifier(db: str):
    """The public key of the log the test collector at `db` signs."""
    return log_signer(db).verifier


def check_receipt(receipt: dict, db: str):
    """The receipt checked offline (receipt.py) against the log's key: its VerifiedReceipt."""
    from policysite.collector.core import receipt as receipts

    return receipts.verify(receipt, log_verifier(db))
