"""`consents export`: every record as CSV or JSON Lines, streamed (never all in memory)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from typing import TextIO

from policysite.collector.record import COLUMNS
from policysite.collector.store import Store


def export(
    store: Store,
    out: TextIO,
    fmt: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> int:
    """Write the records with since <= received_at < until to `out`; return how many."""
    count = 0
    records = store.iter_records(since, until)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for record in records:
            row = list(record.as_row())
            gpc = COLUMNS.index("gpc")
            row[gpc] = "" if row[gpc] is None else str(row[gpc]).lower()
            writer.writerow(row)
            count += 1
    elif fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record.as_dict(), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return count
