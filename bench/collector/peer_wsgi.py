"""The collector's peer: a plain WSGI consent endpoint for gunicorn's sync workers.

docs/performance.md gives its figures on this machine kind.

What a careful first version looks like: parse the JSON, check the Origin and the required
fields, then one INSERT and one COMMIT per request on SQLite in WAL mode with
synchronous=FULL (so a 201 survives a power cut, like ours). No group commit.

    PEER_DB=/tmp/peer.sqlite3 PEER_ORIGINS=https://ximgo.com \
        gunicorn --chdir bench/collector --worker-class sync --workers 5 peer_wsgi:app
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

REQUIRED = ("consent_id", "seq", "document", "version", "language", "choices", "action")
SCHEMA = """CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    document TEXT NOT NULL,
    version TEXT NOT NULL,
    language TEXT NOT NULL,
    choices TEXT NOT NULL,
    action TEXT NOT NULL,
    gpc INTEGER,
    page TEXT,
    user_agent TEXT,
    UNIQUE (consent_id, seq)
)"""
INSERT = """INSERT INTO consents (received_at, consent_id, seq, document, version, language,
    choices, action, gpc, page, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

_origins = frozenset(os.environ.get("PEER_ORIGINS", "").split(","))
_conn: sqlite3.Connection | None = None  # one per worker process, opened after the fork


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(SCHEMA)
    conn.commit()
    return conn


def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    global _conn
    if _conn is None:
        _conn = connect(os.environ["PEER_DB"])
    if environ.get("HTTP_ORIGIN", "") not in _origins:
        return _reply(start_response, "403 Forbidden", {"error": "origin not allowed"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        data = json.loads(environ["wsgi.input"].read(min(length, 4096)))
        row = [data[name] for name in REQUIRED]
    except (ValueError, KeyError, TypeError):
        return _reply(start_response, "400 Bad Request", {"error": "invalid consent"})
    received_at = dt.datetime.now(dt.UTC).isoformat()
    row[5] = json.dumps(row[5], sort_keys=True)
    extra = [data.get("gpc"), data.get("page"), environ.get("HTTP_USER_AGENT", "")[:256]]
    with _conn:  # one transaction, one durable commit
        _conn.execute(INSERT, [received_at, *row, *extra])
    return _reply(start_response, "201 Created", {"received_at": received_at})


def _reply(start_response: Callable, status: str, payload: object) -> list[bytes]:
    body = json.dumps(payload).encode("utf-8")
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
