"""The consent log's tables, for both stores: the tree's nodes, checkpoints, removed leaves.

log_nodes holds every complete subtree's hash by (level, idx), leaves at level 0; log_head
the latest signed checkpoint; log_checkpoints one per ARCHIVE_SECONDS or so (tree_log.py);
log_removed the leaves whose records `consents purge` or `consents erase` removed. The tree's
size is the number of leaves in log_nodes (the last index at level 0, found through the
primary key), so records, nodes and a batch's checkpoint always agree: they commit together
(docs/consent-log.md, "Storage").

The statements are the same on SQLite and PostgreSQL but for the parameter marker and the
two that move many nodes at once, which each store passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from policysite.collector.core import merkle
from policysite.collector.core.tree_log import Appended, TreeAppender

NODE_COLUMNS = ("level", "idx", "hash")

Connection = Any  # sqlite3.Connection or psycopg.Connection: both have execute()
InsertNodes = Callable[[Connection, Sequence[merkle.Node]], None]
SelectNodes = Callable[[Connection, Sequence[merkle.NodeId]], Iterator[tuple[int, int, bytes]]]


class Nodes:
    """A merkle.NodeStore reading log_nodes through one connection, a proof in one query."""

    def __init__(self, conn: Connection, select: SelectNodes) -> None:
        self._conn = conn
        self._select = select

    def get(self, level: int, index: int) -> bytes:
        return self.get_many([(level, index)])[0]

    def get_many(self, keys: Sequence[merkle.NodeId]) -> list[bytes]:
        found = {(level, idx): digest for level, idx, digest in self._select(self._conn, keys)}
        try:
            return [bytes(found[key]) for key in keys]
        except KeyError as error:
            raise KeyError(error.args[0]) from None

    def put_many(self, nodes: Sequence[merkle.Node]) -> None:
        raise TypeError("nodes are written by LogTables.append, with their batch")


class LogTables:
    def __init__(self, marker: str, insert_nodes: InsertNodes, select_nodes: SelectNodes):
        self._insert_nodes = insert_nodes
        self._select_nodes = select_nodes
        m = marker
        self._head = (
            f"INSERT INTO log_head VALUES (1, {m}, {m}, {m}) ON CONFLICT (id) DO UPDATE"
            " SET size = excluded.size, signed_at = excluded.signed_at, note = excluded.note"
        )
        self._archive = (
            f"INSERT INTO log_checkpoints VALUES ({m}, {m}, {m}) ON CONFLICT (size) DO NOTHING"
        )

    def nodes(self, conn: Connection) -> Nodes:
        return Nodes(conn, self._select_nodes)

    @staticmethod
    def tree_size(conn: Connection) -> int:
        query = "SELECT coalesce(max(idx) + 1, 0) FROM log_nodes WHERE level = 0"
        return conn.execute(query).fetchone()[0]

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
        the new nodes, the signed checkpoint as the head, and in log_checkpoints when
        `archive`."""
        tree = appender.tree(size, lambda: merkle.CompactTree.from_store(self.nodes(conn), size))
        appended = appender.append(tree, hashes)
        self._insert_nodes(conn, appended.nodes)
        conn.execute(self._head, (appended.size, signed_at, appended.checkpoint))
        if archive:
            conn.execute(self._archive, (appended.size, signed_at, appended.checkpoint))
        return appended

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
        return {
            index: why for index, why in conn.execute("SELECT leaf_index, reason FROM log_removed")
        }


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

    def removed(self) -> dict[int, str]:
        return LogTables.removed(self._conn)

    def leaf_hashes(self) -> Iterator[tuple[int, bytes]]:
        """(index, stored leaf hash) for every leaf, in order."""
        for index, digest in self._stream(
            "SELECT idx, hash FROM log_nodes WHERE level = 0 ORDER BY idx"
        ):
            yield index, bytes(digest)

    def records(self) -> Iterator[Any]:
        """Every record as store.Stored, by leaf index; those outside the log last."""
        logged = f"{self._select_stored} WHERE leaf_index IS NOT NULL ORDER BY leaf_index"
        outside = f"{self._select_stored} WHERE leaf_index IS NULL ORDER BY id"
        yield from map(self._stored, self._stream(logged))  # through the unique index
        yield from map(self._stored, self._stream(outside))
