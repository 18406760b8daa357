"""`consents export`: every record as CSV or JSON Lines, streamed (never all in memory)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import TextIO

from policysite.collector.core.record import COLUMNS, ConsentRecord
from policysite.collector.core.store import Store


def export(
    store: Store,
    out: TextIO,
    fmt: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> int:
    """Write the records with since <= received_at < until to `out`; return how many.

    The records' cursor is closed before this returns or raises (a reader that closed the
    pipe early, `… | head -1`, makes a write raise BrokenPipeError), so the store can be
    closed right after, not when the garbage collector gets to the generator."""
    with contextlib.closing(store.iter_records(since, until)) as records:
        return _write(records, out, fmt)


# A cell a spreadsheet would run as a formula (=HYPERLINK(…) in a user agent): OWASP's advice
# is a leading apostrophe, which spreadsheets show as text and do not evaluate.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: object) -> object:
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) else cell


def _write(records: Iterator[ConsentRecord], out: TextIO, fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for record in records:
            row = list(record.as_row())
            gpc = COLUMNS.index("gpc")
            row[gpc] = "" if row[gpc] is None else str(row[gpc]).lower()
            writer.writerow([_inert(cell) for cell in row])
            count += 1
    elif fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record.as_dict(), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return count
