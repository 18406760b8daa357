"""Appending committed records to the consent log's tree, inside the store's transaction.

Both stores call this the same way (docs/consent-log.md, "Storage"): `leaves` before the
transaction (a salt, the IP commitment and the leaf hash of each record), then, holding the
log's turn, `TreeAppender.append` on the tree read back from the store: it returns the new
complete subtrees to store and the batch's signed checkpoint, all written in the same
transaction as the records, and, once that commits, the inclusion proof of each new record to
that checkpoint, computed in memory from the nodes the batch made and the tree's edge before
it (no store read: every node such a proof needs is one of them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from policysite.collector.core import merkle
from policysite.collector.core.checkpoint import Checkpoint, Signer, sign_checkpoint
from policysite.collector.core.leaf import SALT_BYTES, ip_commitment, record_leaf_hash
from policysite.collector.core.record import ConsentRecord

ARCHIVE_SECONDS = 1.0  # the store keeps a checkpoint at least this far apart (and the latest)


class Logged(NamedTuple):
    """Where a record is in the log, and the proof of it a receipt carries."""

    leaf_index: int
    ip_commitment: str | None
    leaf_hash: bytes
    proof: bytes  # the RFC 9162 inclusion proof to `checkpoint`: 32-byte hashes, concatenated
    checkpoint: str  # the signed checkpoint (a C2SP signed note)

    def proof_hashes(self) -> list[bytes]:
        size = merkle.HASH_SIZE
        return [self.proof[i : i + size] for i in range(0, len(self.proof), size)]


class Leaf(NamedTuple):
    salt: bytes | None  # stored with the record; None when it has no IP
    ip_commitment: str | None
    hash: bytes


def leaves(records: Sequence[ConsentRecord]) -> list[Leaf]:
    """Each record's salt, IP commitment and leaf hash (leaf.py), one random read per batch."""
    randomness = os.urandom(SALT_BYTES * len(records))
    out = []
    for i, record in enumerate(records):
        if record.ip is None:
            salt, commitment = None, None
        else:
            salt = randomness[i * SALT_BYTES : (i + 1) * SALT_BYTES]
            commitment = ip_commitment(record.ip, salt)
        out.append(Leaf(salt, commitment, record_leaf_hash(record, commitment)))
    return out


class Appended(NamedTuple):
    """What one batch adds to the tree: to store, then to answer with."""

    first: int  # the first new leaf's index
    size: int  # the tree's size after it
    nodes: list[merkle.Node]  # the new complete subtrees, leaves included
    checkpoint: str  # signed, for `size`
    edge_before: tuple[bytes, ...]  # CompactTree.hashes before the batch
    edge_after: tuple[bytes, ...]

    def proofs(self) -> list[bytes]:
        """The inclusion proof of each new leaf to `checkpoint`, concatenated hashes each.

        PATH(i) from level k up depends only on i >> k, so the leaves of a batch share the
        upper part of their proofs: each part is made once, from the level below's."""
        known = dict(zip(merkle.edge_ids(self.first), self.edge_before, strict=True))
        known.update(((level, index), digest) for level, index, digest in self.nodes)
        border = _border(self.size, self.edge_after)
        return _paths(self.first, self.size, known, border)


def _border(size: int, edge: Sequence[bytes]) -> dict[int, bytes]:
    """The hash of the last node at each level whose subtree is incomplete, by level: it
    covers [(size - 1) >> k << k, size), the edge subtrees below level k, folded. The edge
    runs from the highest level down, so each fold extends the one before to the left."""
    levels = [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
    border: dict[int, bytes] = {}
    digest = b""
    for j in range(len(levels) - 1, -1, -1):
        digest = merkle.node_hash(edge[j], digest) if digest else edge[j]
        top = levels[j - 1] if j else size.bit_length()
        for k in range(levels[j] + 1, top + 1):
            border[k] = digest
    return border


def _paths(first: int, size: int, known: dict[merkle.NodeId, bytes], border: dict) -> list[bytes]:
    """PATH(i, D[size]) for i in [first, size), bottom up: at each level the sibling, if the
    level has one for this node (the last node of an odd level moves up unpaired, as RFC
    9162's split does). Built top down, so each level's part is shared by its subtree."""
    height = (size - 1).bit_length()
    above: dict[int, bytes] = {first >> height: b""}  # the part of PATH above this level
    for level in range(height - 1, -1, -1):
        last = (size - 1) >> level
        parts = {}
        for node in range(first >> level, last + 1):
            sibling = node ^ 1
            if sibling < last or (sibling == last and (sibling + 1) << level <= size):
                step = known[(level, sibling)]
            elif sibling == last:
                step = border[level]
            else:
                step = b""
            parts[node] = step + above[node >> 1]
        above = parts
    return [above[i] for i in range(first, size)]


class TreeAppender:
    """Signs each batch's checkpoint; keeps the tree's edge between batches, so a batch reads
    the store only when another process has appended since (the size differs)."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self._tree: merkle.CompactTree | None = None

    def tree(self, size: int, read: Callable[[], merkle.CompactTree]) -> merkle.CompactTree:
        """The tree of `size` leaves: the one kept, or `read()` from the store."""
        if self._tree is None or self._tree.size != size:
            self._tree = read()
        return self._tree

    def append(self, tree: merkle.CompactTree, hashes: Sequence[bytes]) -> Appended:
        """Extend a copy of `tree` by the leaf hashes and sign the result; `committed` keeps it."""
        grown = merkle.CompactTree(tree.size, tree.hashes)
        nodes = grown.extend(hashes)
        checkpoint = sign_checkpoint(Checkpoint(self.signer.name, grown.size, grown.root()),
                                     self.signer)  # fmt: skip
        return Appended(tree.size, grown.size, nodes, checkpoint, tree.hashes, grown.hashes)

    def committed(self, appended: Appended) -> None:
        self._tree = merkle.CompactTree(appended.size, appended.edge_after)

    def forget(self) -> None:
        """After a rollback: read the tree from the store next time."""
        self._tree = None


class ArchiveClock:
    """When a batch's checkpoint is also kept in log_checkpoints: the first of this process,
    then at most one per ARCHIVE_SECONDS (the latest is always kept as the log's head)."""

    def __init__(self) -> None:
        self._last: float | None = None

    def due(self) -> bool:
        return self._last is None or time.monotonic() - self._last >= ARCHIVE_SECONDS

    def saved(self) -> None:
        self._last = time.monotonic()
