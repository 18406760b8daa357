"""How a record becomes PostgreSQL arrays and back, and the statements that move them.

A batch is one INSERT ... SELECT FROM unnest(arrays): one round trip however many records
it holds, each column sent as one typed array.
"""

from __future__ import annotations

from collections.abc import Sequence

from policysite.collector.core.record import (
    COLUMNS,
    ConsentRecord,
    canonical_choices,
    utc_timestamp,
)
from policysite.collector.core.store import Stored
from policysite.collector.core.store.aggregate_sql import aggregate_queries
from policysite.collector.core.tree_log import Leaf

TYPES = {
    "received_at": "timestamptz",
    "consent_id": "uuid",
    "seq": "int8",
    "choices": "jsonb",
    "gpc": "bool",
}
TYPES |= {"ip_salt": "bytea", "leaf_index": "int8"}
COLUMN_LIST = ", ".join(COLUMNS)
STORED_COLUMNS = (*COLUMNS, "ip_salt", "leaf_index")  # a record, then its place in the log
INSERT = (
    f"INSERT INTO consents ({', '.join(STORED_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"%s::{TYPES.get(name, 'text')}[]" for name in STORED_COLUMNS)
    + ") ON CONFLICT DO NOTHING"
)
SELECT = f"SELECT {COLUMN_LIST} FROM consents"
SELECT_STORED = f"SELECT {', '.join(STORED_COLUMNS)} FROM consents"
SELECT_KEYS = (
    f"{SELECT_STORED} WHERE (consent_id, seq) IN (SELECT * FROM unnest(%s::uuid[], %s::int8[]))"
)
INSERT_NEW = INSERT.removesuffix(
    " ON CONFLICT DO NOTHING"
)  # a repeat fails it (PostgresStore._append)


def record_of(row: tuple) -> ConsentRecord:
    values = list(row[: len(COLUMNS)])
    values[0] = utc_timestamp(values[0])
    values[1] = str(values[1])
    values[8] = canonical_choices(values[8])
    return ConsentRecord(*values)


def stored_of(row: tuple) -> Stored:
    """A row of SELECT_STORED."""
    salt = row[-2]
    return Stored(record_of(row), row[-1], None if salt is None else bytes(salt))


def columns_of(
    records: Sequence[ConsentRecord],
    leaves: Sequence[Leaf] | None,
    positions: Sequence[int],
    size: int,
) -> list[list]:
    """The insert's arrays, one per column, for records[positions] (the k-th at leaf size + k)."""
    chosen = [records[p] for p in positions]
    columns = [list(column) for column in zip(*chosen, strict=True)] or [[] for _ in COLUMNS]
    if leaves is None:
        return [*columns, [None] * len(chosen), [None] * len(chosen)]
    return [*columns, [leaves[p].salt for p in positions], list(range(size, size + len(chosen)))]


# Aggregate's queries (aggregate_sql.py): jsonb_each() gives a category's value as jsonb.
AGGREGATE = aggregate_queries(
    day="to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    period=(
        "(%(since)s::timestamptz IS NULL OR received_at >= %(since)s)"
        " AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)"
    ),
    each="jsonb_each",
    granted_count="count(*) FILTER (WHERE j.value = 'true'::jsonb)",
    refused="j.value = 'false'::jsonb",
    granted_before="choices_before -> j.key = 'true'::jsonb",
)
