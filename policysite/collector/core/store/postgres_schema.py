"""The PostgreSQL store's schema: its migrations, oldest first (store.apply_migrations runs
them, under an advisory lock, so workers starting together migrate once).

Records are append-only by trigger; only `consents purge` and `consents erase` set
policysite.purge inside their transaction (postgres.py). The consent log's tables are
migration 3, as on SQLite (docs/consent-log.md, "Storage").
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE consents (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                received_at timestamptz NOT NULL,
                consent_id uuid NOT NULL,
                seq bigint NOT NULL CHECK (seq >= 1),
                document text NOT NULL,
                version text NOT NULL,
                language text NOT NULL,
                policy_sha256 text NOT NULL,
                action text NOT NULL,
                choices jsonb NOT NULL,
                gpc boolean,
                page text,
                user_agent text,
                ip text,
                receipt text NOT NULL,
                UNIQUE (consent_id, seq)
            )""",
            "CREATE INDEX consents_received_at ON consents (received_at)",
            # Append-only: only `consents purge` sets policysite.purge inside its transaction.
            """CREATE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND current_setting('policysite.purge', true) = 'on' THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'consents are append-only (% refused): use `consents purge`',
                    TG_OP;
            END $$""",
            """CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
            FOR EACH ROW EXECUTE FUNCTION consents_append_only()""",
            """CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents
            FOR EACH STATEMENT EXECUTE FUNCTION consents_append_only()""",
            "REVOKE UPDATE, DELETE, TRUNCATE ON consents FROM PUBLIC",
        ],
    ),
    # A side table the health check writes to: proof that a write would succeed now,
    # without a consent record (one row, overwritten).
    (
        2,
        [
            """CREATE TABLE health_probe (
                id integer PRIMARY KEY CHECK (id = 1),
                checked_at timestamptz NOT NULL
            )""",
        ],
    ),
    # The consent log, as on SQLite (sqlite.py; docs/consent-log.md, "Storage").
    (
        3,
        [
            "ALTER TABLE consents ADD COLUMN banner_sha256 text, ADD COLUMN ip_salt bytea,"
            " ADD COLUMN leaf_index bigint CHECK (leaf_index >= 0)",
            "CREATE UNIQUE INDEX consents_leaf_index ON consents (leaf_index)",
            """CREATE TABLE log_batches (
                first bigint PRIMARY KEY,
                size bigint NOT NULL CHECK (size > first),
                nodes bytea NOT NULL
            )""",
            # Node hashes do not compress: stored as they are, a proof reads 32 bytes of each.
            "ALTER TABLE log_batches ALTER COLUMN nodes SET STORAGE EXTERNAL",
            """CREATE TABLE log_checkpoints (
                size bigint PRIMARY KEY,
                signed_at timestamptz NOT NULL,
                note text NOT NULL
            )""",
            """CREATE TABLE log_head (
                id integer PRIMARY KEY CHECK (id = 1),
                size bigint NOT NULL,
                signed_at timestamptz NOT NULL,
                note text NOT NULL
            )""",
            """CREATE TABLE log_removed (
                leaf_index bigint PRIMARY KEY,
                reason text NOT NULL CHECK (reason IN ('purged', 'erased')),
                removed_at timestamptz NOT NULL
            )""",
            """CREATE FUNCTION log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the consent log is append-only (% refused)', TG_OP;
            END $$""",
            *(
                f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION log_append_only()"""
                for table in ("log_batches", "log_checkpoints", "log_removed")
            ),
            *(
                f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION log_append_only()"""
                for table in ("log_batches", "log_checkpoints", "log_removed", "log_head")
            ),
            "REVOKE UPDATE, DELETE, TRUNCATE ON log_batches, log_checkpoints, log_removed"
            " FROM PUBLIC",
        ],
    ),
]
LATEST = MIGRATIONS[-1][0]
PROBE = (
    "INSERT INTO health_probe VALUES (1, %s)"
    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
)
