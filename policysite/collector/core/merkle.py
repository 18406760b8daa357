"""The consent log's Merkle tree as RFC 9162 §2.1 defines it: hashes, an append-only compact
tree, inclusion and consistency proofs built from stored subtree hashes, and their checks.

Every *complete* subtree's hash is stored at (level, index): level 0 holds the leaf hashes,
and the node at level k, index i covers the leaves [i·2^k, (i+1)·2^k). This is the numbering
of transparency-dev/merkle and of C2SP tlog-tiles (tile L/N is the run of nodes at level 8·L,
indices 256·N to 256·N+255), so tiles can be served from the same nodes. A complete subtree
never changes once written, so a proof for any past tree size reads O(log n) stored nodes;
the one incomplete subtree a proof may need (on the right edge) is folded from at most
log2(n) of them. The checks need no store: a visitor or an auditor runs them offline
(docs/collector.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256

NodeId = tuple[int, int]
Node = tuple[int, int, bytes]
# A proof as node ids: each group's stored hashes fold (right to left) into one proof hash.
_Plan = list[list[NodeId]]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the prefix keeps a leaf from ever passing for an inner node."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the hash of an inner node."""
    return _sha256(b"\x01" + left + right).digest()


class ProofError(ValueError):
    """A proof that does not fit its sizes, hashes or roots; the message says which part."""


class NodeStore(Protocol):
    """Where complete subtrees' hashes live, addressed by (level, index).

    A store may also offer `get_many(keys: Sequence[NodeId]) -> Sequence[bytes]` (same order,
    KeyError naming the first one absent): the proofs below then read all their nodes in one
    call, one query for a database instead of one per node.
    """

    def get(self, level: int, index: int) -> bytes: ...  # KeyError when it is not stored

    def put_many(self, nodes: Iterable[Node]) -> None: ...  # what CompactTree.extend returned


class MemoryNodes:
    """A NodeStore in memory: a bytearray of 32-byte hashes per level (64 MB for a million
    leaves, where a dict would take 400 MB). A log fills each level from left to right, so a
    node must follow the last of its level, and a node rewritten with another hash is refused:
    a complete subtree never changes."""

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    def get(self, level: int, index: int) -> bytes:
        """The hash at (level, index); KeyError((level, index)) when it is not stored."""
        buffer = self._levels[level] if 0 <= level < len(self._levels) else b""
        start = index * HASH_SIZE
        if index < 0 or start + HASH_SIZE > len(buffer):
            raise KeyError((level, index))
        return bytes(buffer[start : start + HASH_SIZE])

    def get_many(self, keys: Sequence[NodeId]) -> list[bytes]:
        """Each key's hash, in order (the batched read the proofs prefer)."""
        return [self.get(level, index) for level, index in keys]

    def put_many(self, nodes: Iterable[Node]) -> None:
        """Append each node to its level; ValueError for a gap, a changed node or a bad hash."""
        levels = self._levels
        for level, index, digest in nodes:
            if len(digest) != HASH_SIZE:
                raise ValueError(f"node ({level}, {index}): hash of {len(digest)} bytes, not 32")
            while len(levels) <= level:
                levels.append(bytearray())
            buffer = levels[level]
            count = len(buffer) // HASH_SIZE
            if index == count:
                buffer += digest
            elif 0 <= index < count:
                if buffer[index * HASH_SIZE : (index + 1) * HASH_SIZE] != digest:
                    raise ValueError(f"node ({level}, {index}) is stored with another hash")
            else:
                raise ValueError(
                    f"node ({level}, {index}) would leave a gap: level {level} has {count} nodes"
                )

    def __len__(self) -> int:
        return sum(len(buffer) for buffer in self._levels) // HASH_SIZE


def _push(
    stack: list[bytes], size: int, leaves: Iterable[bytes], emit: Callable[[Node], None] | None
) -> int:
    """Append leaves to the right edge `stack` of a tree of `size` leaves; return the new size.

    Leaf n closes one complete subtree per trailing one bit of n (it is a right child that
    many times over), so each closed pair is popped, hashed and reported through `emit`.
    """
    push, pop, sha256 = stack.append, stack.pop, _sha256
    for leaf in leaves:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf {size}: hash of {len(leaf)} bytes, not 32")
        if emit is not None:
            emit((0, size, leaf))
        digest, index, level = leaf, size, 0
        while index & 1:
            index >>= 1
            level += 1
            digest = sha256(b"\x01" + pop() + digest).digest()
            if emit is not None:
                emit((level, index, digest))
        push(digest)
        size += 1
    return size


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of adjacent perfect subtrees, left to right and shrinking: MTH splits off the
    largest power of two first, so the right end is hashed in first (RFC 9162 §2.1.1)."""
    if not hashes:
        return EMPTY_ROOT
    digest = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        digest = node_hash(hashes[i], digest)
    return digest


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH of the leaves with these hashes (for tests and rebuilds: nothing is stored)."""
    stack: list[bytes] = []
    _push(stack, 0, leaf_hashes, None)
    return _fold(stack)


class CompactTree:
    """The right edge of an append-only tree: the hashes of the perfect subtrees that make up
    its `size` leaves, largest first (a compact range [0, size) in transparency-dev's terms).
    It holds popcount(size) hashes, so its state is O(log n) whatever the log's length.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of {size} leaves has {size.bit_count()} edge hashes, not {len(hashes)}"
            )
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_store(cls, store: NodeStore, size: int) -> CompactTree:
        """The tree of `size` leaves rebuilt from popcount(size) stored nodes (after a restart)."""
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        return cls(size, _read(store, _range_ids(0, size)))

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtrees' hashes, left to right."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[Node]:
        """Add one leaf hash; return the nodes it completes (the leaf itself first)."""
        return self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> list[Node]:
        """Add leaf hashes in order; return the complete subtrees they create, to be stored in
        the same transaction as the records. On an error nothing is added."""
        nodes: list[Node] = []
        stack = self._hashes.copy()  # O(log n), and keeps the tree whole if a leaf is refused
        self._size = _push(stack, self._size, leaves, nodes.append)
        self._hashes = stack
        return nodes

    def root(self) -> bytes:
        """The tree head's root hash (EMPTY_ROOT for no leaves)."""
        return _fold(self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactTree):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable


def edge_ids(size: int) -> list[NodeId]:
    """The (level, index) of each of CompactTree.hashes for a tree of `size` leaves."""
    return _range_ids(0, size)


def _range_ids(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees covering leaves [start, end), left to right: each the largest one
    that starts at `start`'s alignment and still fits."""
    ids: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def _split(lo: int, hi: int) -> int:
    """RFC 9162's k for D[lo:hi]: lo plus the largest power of two below hi - lo (> 1)."""
    return lo + (1 << ((hi - lo - 1).bit_length() - 1))


def _inclusion_plan(index: int, size: int) -> _Plan:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, walked from the root down, as node ids.

    Only the first step off the right edge can meet an incomplete subtree, so at most one
    group has more than one node, and the whole plan has O(log n) of them.
    """
    plan: _Plan = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(lo, hi)
        if index < k:
            plan.append(_range_ids(k, hi))
            hi = k
        else:
            plan.append(_range_ids(lo, k))
            lo = k
    plan.reverse()  # PATH lists the leaf's sibling first
    return plan


def _consistency_plan(old_size: int, new_size: int) -> _Plan:
    """PROOF(old_size, D[new_size]) = SUBPROOF(old_size, D[new_size], true) of RFC 9162
    §2.1.4.1, walked from the root down, as node ids (old_size stays fixed as D narrows)."""
    plan: _Plan = []
    lo, hi, whole = 0, new_size, True
    while old_size < hi:
        k = _split(lo, hi)
        if old_size <= k:
            plan.append(_range_ids(k, hi))
            hi = k
        else:
            plan.append(_range_ids(lo, k))
            lo, whole = k, False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}: the verifier does not know it
        plan.append(_range_ids(lo, hi))
    plan.reverse()
    return plan


def _read(store: NodeStore, keys: Sequence[NodeId]) -> list[bytes]:
    """The stored hashes for `keys`, in one call when the store can batch (NodeStore)."""
    get_many = getattr(store, "get_many", None)
    if get_many is not None:
        return list(get_many(keys))
    return [store.get(level, index) for level, index in keys]


def _build(store: NodeStore, plan: _Plan) -> list[bytes]:
    """Read every node of the plan at once, then fold each group into its proof hash."""
    hashes = iter(_read(store, [key for group in plan for key in group]))
    return [_fold([next(hashes) for _ in group]) for group in plan]


def subtree_hash(store: NodeStore, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from stored nodes, for a range that is a subtree of some tree: start
    is a multiple of the smallest power of two >= end - start (any [0, size) is one)."""
    if not 0 <= start <= end:
        raise ValueError(f"[{start}, {end}) is not a range of leaves")
    if start == end:
        return EMPTY_ROOT
    width = 1 << (end - start - 1).bit_length()
    if start % width:
        raise ValueError(f"[{start}, {end}) is not a subtree: {start} is not a multiple of {width}")
    return _build(store, [_range_ids(start, end)])[0]


def root_at(store: NodeStore, size: int) -> bytes:
    """The root hash of the tree's first `size` leaves (any past tree head), O(log n) reads."""
    return subtree_hash(store, 0, size)


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]), the leaf's sibling first, from stored nodes."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return _build(store, _inclusion_plan(index, size))


def consistency_proof(store: NodeStore, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[new_size]) from stored nodes: proves the tree of
    old_size leaves is a prefix of the tree of new_size leaves."""
    if not 0 < old_size <= new_size:
        raise ValueError(
            f"a consistency proof needs 0 < old size <= new size, not {old_size} and {new_size}"
            " (every tree extends the empty one: there is nothing to prove from size 0)"
        )
    return _build(store, _consistency_plan(old_size, new_size))


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    """Refuse anything but 32-byte hashes, so a truncated or padded proof says so."""
    for i, digest in enumerate(hashes):
        if not isinstance(digest, bytes):
            raise ProofError(f"{what} {i} is a {type(digest).__name__}, not bytes")
        if len(digest) != HASH_SIZE:
            raise ProofError(f"{what} {i} is {len(digest)} bytes, not a 32-byte SHA-256 hash")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from the leaf hash `leaf` at `index` of a tree of `size`
    leaves (RFC 9162 §2.1.3.2, steps 1-4); ProofError when the proof cannot fit."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hashes([leaf], "leaf hash")
    _check_hashes(proof, "proof hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            break
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # climb the right edge past nodes with no sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    else:
        if sn == 0:
            return r
    need = len(_inclusion_plan(index, size))
    raise ProofError(
        f"the proof has {len(proof)} hashes; leaf {index} of a tree of {size} needs {need}"
    )


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows the leaf hash `leaf` at `index` in the tree (`size`, `root`)."""
    try:
        return root_from_inclusion(leaf, index, size, proof) == root
    except ProofError:
        return False


def root_from_consistency(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> bytes:
    """The new tree's root that `proof` leads to, having checked that it also leads to
    `old_root` (RFC 9162 §2.1.4.2, steps 1-6 and the first_hash check of 7); ProofError
    otherwise. Size 0 is refused, as transparency-dev does: the empty tree proves nothing."""
    if not 0 < old_size <= new_size:
        raise ProofError(
            f"a consistency proof needs 0 < old size <= new size, not {old_size} and {new_size}"
        )
    if old_size == new_size:
        if proof:
            raise ProofError(f"the proof has {len(proof)} hashes; equal tree sizes need none")
        return old_root
    if not proof:
        raise ProofError(f"the proof is empty; tree sizes {old_size} and {new_size} need one")
    _check_hashes(proof, "proof hash")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # one perfect subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            break
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    else:
        if sn == 0:
            if fr != old_root:
                raise ProofError(f"the proof does not lead to the old root of tree size {old_size}")
            return sr
    need = len(_consistency_plan(old_size, new_size))
    raise ProofError(
        f"the proof has {len(proof)} hashes; tree sizes {old_size} and {new_size} need {need}"
    )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    try:
        return root_from_consistency(old_size, new_size, old_root, proof) == new_root
    except ProofError:
        return False
