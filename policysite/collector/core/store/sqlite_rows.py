"""How a record becomes a SQLite row and back, and the statements that move many at once.

A batch is one multi-row INSERT with bound parameters: one sqlite3_step, so the writer gives
the GIL away once per batch (executemany re-takes it per row, and each re-take can wait a whole
switch interval, 5 ms, behind the busy event-loop thread). Statements come in a few sizes
(steps of at most 25 %), so each is compiled once and then found in the statement cache; a
batch is padded to the next size with copies of its last row, which ON CONFLICT DO NOTHING
skips. Compared with one statement over json_each(), this costs a third the CPU.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain

from policysite.collector.core.record import COLUMNS, ConsentRecord
from policysite.collector.core.store import Stored
from policysite.collector.core.store.aggregate_sql import aggregate_queries
from policysite.collector.core.tree_log import Leaf

COLUMN_LIST = ", ".join(COLUMNS)
STORED_COLUMNS = (*COLUMNS, "ip_salt", "leaf_index")  # a record, then its place in the log
ROWS_PER_STATEMENT = (1, 2, 3, *(p * q // 4 for p in (4, 8, 16, 32, 64, 128, 256, 512, 1024)
                                 for q in (4, 5, 6, 7)), 1920)  # fmt: skip
MAX_ROWS = ROWS_PER_STATEMENT[-1]
assert MAX_ROWS * len(STORED_COLUMNS) <= 32766  # SQLite's limit on bound parameters
SIZES = [next(size for size in ROWS_PER_STATEMENT if size >= n) for n in range(MAX_ROWS + 1)]


def inserts(table: str, columns: Sequence[str]) -> dict[int, str]:
    row = "(" + ", ".join("?" * len(columns)) + ")"
    return {
        rows: f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        + ", ".join([row] * rows)
        + " ON CONFLICT DO NOTHING"
        for rows in ROWS_PER_STATEMENT
    }


RECORD_INSERTS = inserts("consents", STORED_COLUMNS)
SELECT = f"SELECT {COLUMN_LIST} FROM consents"
SELECT_STORED = f"SELECT {', '.join(STORED_COLUMNS)} FROM consents"


def insert_rows(
    conn: sqlite3.Connection, statements: dict[int, str], rows: Sequence[tuple]
) -> None:
    """Insert the rows, MAX_ROWS to a statement, each padded to its statement's size."""
    for start in range(0, len(rows), MAX_ROWS):
        chunk = list(rows[start : start + MAX_ROWS])
        size = SIZES[len(chunk)]
        chunk += [chunk[-1]] * (size - len(chunk))
        conn.execute(statements[size], list(chain.from_iterable(chunk)))


def record_of(row: tuple) -> ConsentRecord:
    values = list(row[: len(COLUMNS)])
    gpc = values[COLUMNS.index("gpc")]
    values[COLUMNS.index("gpc")] = None if gpc is None else bool(gpc)
    return ConsentRecord(*values)


def stored_of(row: tuple) -> Stored:
    """A row of SELECT_STORED."""
    return Stored(record_of(row), row[-1], row[-2])


def rows_of(
    records: Sequence[ConsentRecord],
    leaves: Sequence[Leaf] | None,
    positions: Sequence[int],
    size: int,
) -> list[tuple]:
    """The rows to insert for records[positions], the k-th at leaf index size + k."""
    if leaves is None:
        return [(*records[p], None, None) for p in positions]
    return [(*records[p], leaves[p].salt, size + k) for k, p in enumerate(positions)]


# Aggregate's queries (aggregate_sql.py): json_each() gives a category's value as 1 for true.
AGGREGATE = aggregate_queries(
    day="substr(received_at, 1, 10)",
    period="received_at >= ? AND received_at < ?",
    each="json_each",
    granted_count="sum(j.value = 1)",
    refused="j.value = 0",
    granted_before="json_extract(choices_before, '$.\"' || j.key || '\"') = 1",
)
