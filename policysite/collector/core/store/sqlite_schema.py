"""The SQLite store's schema: its migrations, oldest first (store.apply_migrations runs them).

Records are append-only by trigger; `consents purge` and `consents erase` lift the delete
trigger inside their own transactions (sqlite.py). The consent log's tables are migration 3
(docs/consent-log.md, "Storage").
"""

from __future__ import annotations

NO_DELETE = """CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN SELECT RAISE(ABORT, 'consents are append-only: use `consents purge`'); END"""

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE consents (
                id INTEGER PRIMARY KEY,
                received_at TEXT NOT NULL,
                consent_id TEXT NOT NULL,
                seq INTEGER NOT NULL CHECK (seq >= 1),
                document TEXT NOT NULL,
                version TEXT NOT NULL,
                language TEXT NOT NULL,
                policy_sha256 TEXT NOT NULL,
                action TEXT NOT NULL,
                choices TEXT NOT NULL,
                gpc INTEGER,
                page TEXT,
                user_agent TEXT,
                ip TEXT,
                receipt TEXT NOT NULL,
                UNIQUE (consent_id, seq)
            ) STRICT""",
            "CREATE INDEX consents_received_at ON consents (received_at)",
            """CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
            BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END""",
            NO_DELETE,
        ],
    ),
    # A side table the health check writes to: proof that a write would succeed now,
    # without a consent record (one row, overwritten).
    (
        2,
        [
            """CREATE TABLE health_probe (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                checked_at TEXT NOT NULL
            ) STRICT""",
        ],
    ),
    # The consent log (docs/consent-log.md, "Storage"): the sha256 of the banner the visitor
    # was shown, each record's leaf index and the salt of its IP commitment; the tree's
    # complete subtrees; signed checkpoints; the leaves
    # whose records purge or erase removed. Only the latest checkpoint may change.
    (
        3,
        [
            "ALTER TABLE consents ADD COLUMN banner_sha256 TEXT",
            "ALTER TABLE consents ADD COLUMN ip_salt BLOB",
            "ALTER TABLE consents ADD COLUMN leaf_index INTEGER CHECK (leaf_index >= 0)",
            "CREATE UNIQUE INDEX consents_leaf_index ON consents (leaf_index)",
            """CREATE TABLE log_batches (
                first INTEGER PRIMARY KEY,
                size INTEGER NOT NULL CHECK (size > first),
                nodes BLOB NOT NULL
            ) STRICT""",
            """CREATE TABLE log_checkpoints (
                size INTEGER PRIMARY KEY,
                signed_at TEXT NOT NULL,
                note TEXT NOT NULL
            ) STRICT""",
            """CREATE TABLE log_head (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                size INTEGER NOT NULL,
                signed_at TEXT NOT NULL,
                note TEXT NOT NULL
            ) STRICT""",
            """CREATE TABLE log_removed (
                leaf_index INTEGER PRIMARY KEY,
                reason TEXT NOT NULL CHECK (reason IN ('purged', 'erased')),
                removed_at TEXT NOT NULL
            ) STRICT""",
            *(
                f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
                BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END"""
                for table in ("log_batches", "log_checkpoints", "log_removed")
                for op in ("UPDATE", "DELETE")
            ),
        ],
    ),
]
LATEST = MIGRATIONS[-1][0]
PROBE = (
    "INSERT INTO health_probe VALUES (1, ?)"
    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
)
