"""The frames between collector workers and the SQLite writer process (writer.py).

A frame is a 4-byte big-endian length and a marshal payload: both ends are this code, running
as the same user, behind a socket in a folder only that user can enter.

    worker → writer   (batch number, [record tuples])
    writer → worker   (batch number, status, detail), one answer per batch
"""

from __future__ import annotations

import marshal

# How a batch ended: every record stored as sent (detail: each one's tree_log.Logged as a
# tuple, or None when the log is off); some keys existed already (detail: for each record,
# the tuple of the record stored under its key and its Logged tuple or None); the store is
# unavailable (503), detail says why; a bug, detail is its text.
STORED_AS_SENT, STORED, UNAVAILABLE, FAILED = range(4)
_LENGTH = 4


def frame(payload: object) -> bytes:
    data = marshal.dumps(payload)
    return len(data).to_bytes(_LENGTH, "big") + data


def take_frames(inbox: bytearray) -> list:
    """Remove the complete frames at the start of `inbox` and return their payloads."""
    payloads = []
    start, end = 0, len(inbox)
    with memoryview(inbox) as view:
        while end - start >= _LENGTH:
            size = int.from_bytes(view[start : start + _LENGTH], "big")
            if end - start - _LENGTH < size:
                break
            payloads.append(marshal.loads(view[start + _LENGTH : start + _LENGTH + size]))
            start += _LENGTH + size
    del inbox[:start]
    return payloads
