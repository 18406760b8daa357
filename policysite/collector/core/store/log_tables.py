"""The consent log's tables, for both stores: the tree's nodes, checkpoints, removed leaves.

log_batches holds, for each commit batch, the hashes of the complete subtrees it made (its
leaves included), in the order CompactTree.extend made them, as one blob: a batch is one row,
not one per node. Node (level, idx) was made by the batch that holds its last leaf,
L = (idx + 1)·2^level − 1, at position emitted(first, L) + level of that batch's blob, where
emitted(a, b) counts the nodes that leaves a … b − 1 made (each leaf j makes 1 + the number
of trailing zeros of j + 1). log_head holds the latest signed checkpoint; log_checkpoints one
per ARCHIVE_SECONDS or so (tree_log.py); log_removed the leaves whose records `consents purge`
or `consents erase` removed. The tree's size is the last batch's, so records, nodes and a
batch's checkpoint always agree: they commit together (docs/consent-log.md, "Storage").

The statements are the same on SQLite and PostgreSQL but for the parameter marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from policysite.collector.core import merkle
from policysite.collector.core.leaf import ip_commitment, record_leaf_hash
from policysite.collector.core.record import utc_timestamp
from policysite.collector.core.tree_log import Appended, Logged, TreeAppender

if TYPE_CHECKING:
    from policysite.collector.core.store import Stored

Connection = Any  # sqlite3.Connection or psycopg.Connection: both have execute()
_KEYS_PER_QUERY = 400  # a proof needs about 40; 800 parameters stay under any limit


def emitted(first: int, end: int) -> int:
    """How many nodes leaves first … end − 1 made, appended in order (see above)."""
    return (end - first) + (end - end.bit_count()) - (first - first.bit_count())


def last_leaf(level: int, index: int) -> int:
    """The leaf whose append made node (level, index)."""
    return ((index + 1) << level) - 1


class Nodes:
    """A merkle.NodeStore reading log_batches through one connection: two queries a proof."""

    def __init__(self, conn: Connection, marker: str) -> None:
        self._conn = conn
        self._marker = marker

    def get(self, level: int, index: int) -> bytes:
        return self.get_many([(level, index)])[0]

    def get_many(self, keys: Sequence[merkle.NodeId]) -> list[bytes]:
        found: list[bytes] = []
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            found += self._read(keys[start : start + _KEYS_PER_QUERY])
        return found

    def _read(self, keys: Sequence[merkle.NodeId]) -> list[bytes]:
        if not keys:
            return []
        m = self._marker
        leaves = [last_leaf(level, index) for level, index in keys]
        rows = self._conn.execute(
            f"WITH k(leaf) AS (VALUES {', '.join([f'({m})'] * len(leaves))})"
            " SELECT k.leaf, (SELECT first FROM log_batches WHERE first <= k.leaf"
            " ORDER BY first DESC LIMIT 1) FROM k",
            leaves,
        ).fetchall()
        batch_of = dict(rows)
        wanted = {}  # (first, position) for each key whose batch exists
        for key, leaf in zip(keys, leaves, strict=True):
            first = batch_of.get(leaf)
            if first is not None:
                wanted[key] = (first, emitted(first, leaf) + key[0])
        pairs = list(set(wanted.values()))
        hashes = {}
        if pairs:
            values = ", ".join([f"({m}, {m})"] * len(pairs))
            for first, position, size, digest in self._conn.execute(
                f"WITH k(first, position) AS (VALUES {values}) SELECT k.first, k.position,"
                " b.size, substr(b.nodes, k.position * 32 + 1, 32)"
                " FROM k JOIN log_batches AS b ON b.first = k.first",
                [x for pair in pairs for x in pair],
            ):
                hashes[(first, position)] = (size, bytes(digest))
        out = []
        for key, leaf in zip(keys, leaves, strict=True):
            size, digest = hashes.get(wanted.get(key), (0, b""))  # type: ignore[arg-type]
            if leaf >= size or len(digest) != merkle.HASH_SIZE:
                raise KeyError(key)
            out.append(digest)
        return out

    def put_many(self, nodes: Sequence[merkle.Node]) -> None:
        raise TypeError("nodes are written by LogTables.append, with their batch")


class LogTables:
    def __init__(self, marker: str) -> None:
        m = self._marker = marker
        self._batch = f"INSERT INTO log_batches VALUES ({m}, {m}, {m})"
        self._head = (
            f"INSERT INTO log_head VALUES (1, {m}, {m}, {m}) ON CONFLICT (id) DO UPDATE"
            " SET size = excluded.size, signed_at = excluded.signed_at, note = excluded.note"
        )
        self._archive = (
            f"INSERT INTO log_checkpoints VALUES ({m}, {m}, {m}) ON CONFLICT (size) DO NOTHING"
        )

    def nodes(self, conn: Connection) -> Nodes:
        return Nodes(conn, self._marker)

    @staticmethod
    def tree_size(conn: Connection) -> int:
        row = conn.execute("SELECT size FROM log_batches ORDER BY first DESC LIMIT 1").fetchone()
        return 0 if row is None else row[0]

    def append(
        self,
        conn: Connection,
        appender: TreeAppender,
        size: int,
        hashes: Sequence[bytes],
        signed_at: object,
        archive: bool,
    ) -> Appended:
        """Add the leaf hashes to the tree of `size` leaves, inside the caller's transaction:
        the batch's nodes, the signed checkpoint as the head, and in log_checkpoints when
        `archive`."""
        tree = appender.tree(size, lambda: merkle.CompactTree.from_store(self.nodes(conn), size))
        appended = appender.append(tree, hashes)
        blob = b"".join([digest for _, _, digest in appended.nodes])
        conn.execute(self._batch, (appended.first, appended.size, blob))
        conn.execute(self._head, (appended.size, signed_at, appended.checkpoint))
        if archive:
            conn.execute(self._archive, (appended.size, signed_at, appended.checkpoint))
        return appended

    def logged(self, conn: Connection, stored: Stored) -> Logged | None:
        """The log entry of a record stored before, with its proof to the latest checkpoint
        (None when it is outside the log, or past the latest checkpoint)."""
        if stored.leaf_index is None:
            return None
        latest = self.head(conn)
        if latest is None or stored.leaf_index >= latest[0]:
            return None
        proof = merkle.inclusion_proof(self.nodes(conn), stored.leaf_index, latest[0])
        commitment = ip_commitment(stored.record.ip, stored.ip_salt or b"")
        leaf = record_leaf_hash(stored.record, commitment)
        return Logged(stored.leaf_index, commitment, leaf, b"".join(proof), latest[1])

    @staticmethod
    def head(conn: Connection) -> tuple[int, str] | None:
        """The latest signed checkpoint: (its size, its note), or None before the first."""
        row = conn.execute("SELECT size, note FROM log_head WHERE id = 1").fetchone()
        return None if row is None else (row[0], row[1])

    @staticmethod
    def checkpoints(conn: Connection) -> list[tuple[int, str]]:
        """Every stored checkpoint, the latest included, smallest tree first."""
        rows = conn.execute(
            "SELECT size, note FROM log_checkpoints UNION SELECT size, note FROM log_head"
            " ORDER BY size"
        )
        return [(size, note) for size, note in rows]

    @staticmethod
    def removed(conn: Connection) -> dict[int, str]:
        """Why each removed leaf's record is gone ("purged" or "erased"), by leaf index."""
        rows = conn.execute("SELECT leaf_index, reason FROM log_removed")
        return {index: why for index, why in rows}


class LogSnapshot:
    """One consistent read of the whole log, for `consents verify`: everything it streams is
    as of one moment, while the collector goes on appending."""

    def __init__(
        self,
        conn: Connection,
        stream: Callable[[str], Iterator[tuple]],
        stored: Callable[[tuple], Any],
        select_stored: str,
    ) -> None:
        self._conn = conn
        self._stream = stream
        self._stored = stored
        self._select_stored = select_stored

    def checkpoints(self) -> list[tuple[int, str]]:
        return LogTables.checkpoints(self._conn)

    def signed_at(self) -> str | None:
        """When the latest checkpoint was signed (UTC, as received_at is written)."""
        row = self._conn.execute("SELECT signed_at FROM log_head WHERE id = 1").fetchone()
        if row is None:
            return None
        return row[0] if isinstance(row[0], str) else utc_timestamp(row[0])

    def removed(self) -> dict[int, str]:
        return LogTables.removed(self._conn)

    def leaf_hashes(self) -> Iterator[tuple[int, bytes]]:
        """(index, stored leaf hash) for every leaf, in order."""
        for first, size, nodes in self._stream(
            "SELECT first, size, nodes FROM log_batches ORDER BY first"
        ):
            nodes = bytes(nodes)
            for leaf in range(first, size):
                start = emitted(first, leaf) * merkle.HASH_SIZE
                yield leaf, nodes[start : start + merkle.HASH_SIZE]

    def records(self) -> Iterator[Any]:
        """Every record as store.Stored, by leaf index; those outside the log last."""
        logged = f"{self._select_stored} WHERE leaf_index IS NOT NULL ORDER BY leaf_index"
        outside = f"{self._select_stored} WHERE leaf_index IS NULL ORDER BY id"
        yield from map(self._stored, self._stream(logged))  # through the unique index
        yield from map(self._stored, self._stream(outside))
