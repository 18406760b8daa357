"""The consent log's Merkle tree (policysite/collector/core/merkle.py, docs/collector.md).

The reference tree is RFC 6962's eight test leaves, whose node hashes, roots, inclusion and
consistency proofs transparency-dev/merkle publishes (testonly/constants.go and the vectors
of cmd/proofgen/main.go behind its testdata/); the wrong-proof cases are the kinds its
testdata probes. Beyond them, proofs built from stored nodes are compared with RFC 9162's
recursive definitions (PATH, SUBPROOF) written out plainly below.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policysite.collector.core.merkle import (
    EMPTY_ROOT,
    CompactTree,
    MemoryNodes,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_at,
    root_from_consistency,
    root_from_inclusion,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

PROPERTIES = settings(max_examples=60, deadline=None, derandomize=True, database=None)

LEAF_INPUTS = [
    bytes.fromhex(text)
    for text in [
        *("", "00", "10", "2021", "3031", "40414243", "5051525354555657"),
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# Every complete subtree of the reference tree, by (level, index).
NODES = {
    (0, 0): h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    (0, 1): h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    (0, 2): h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    (0, 3): h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    (0, 4): h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    (0, 5): h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    (0, 6): h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    (0, 7): h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    (1, 0): h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    (1, 1): h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    (1, 2): h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    (1, 3): h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    (2, 0): h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    (2, 1): h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    (3, 0): h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}
# The root of the first n leaves, for n = 0 to 8.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    NODES[0, 0],
    NODES[1, 0],
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    NODES[2, 0],
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    NODES[3, 0],
]
# (leaf index, tree size, proof); proofgen numbers leaves from 1, these from 0.
INCLUSION = [
    (0, 1, []),
    (0, 8, [NODES[0, 1], NODES[1, 1], NODES[2, 1]]),
    (5, 8, [NODES[0, 4], NODES[1, 3], NODES[2, 0]]),
    (2, 3, [NODES[1, 0]]),
    (1, 5, [NODES[0, 0], NODES[1, 1], NODES[0, 4]]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [NODES[0, 1], NODES[1, 1], NODES[2, 1]]),
    (6, 8, [NODES[1, 2], NODES[1, 3], NODES[2, 0]]),
    (2, 5, [NODES[1, 1], NODES[0, 4]]),
    (6, 7, [NODES[1, 2], NODES[0, 6], NODES[2, 0]]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def build(leaves: list[bytes]) -> tuple[MemoryNodes, CompactTree]:
    store, tree = MemoryNodes(), CompactTree()
    store.put_many(tree.extend(leaves))
    return store, tree


def largest_power_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively (root() computes it another way)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_below(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = largest_power_below(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = largest_power_below(len(leaves))
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def random_leaves(n: int, seed: int = 0) -> list[bytes]:
    return [leaf_hash(f"{seed}/{i}".encode()) for i in range(n)]


def flip(proof: list[bytes], i: int) -> list[bytes]:
    changed = [*proof]
    changed[i] = bytes([changed[i][0] ^ 8]) + changed[i][1:]
    return changed


def test_hashes_are_rfc9162_with_leaf_and_node_prefixes() -> None:
    a, b = LEAVES[0], LEAVES[1]
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest() == NODES[0, 0]
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest() == NODES[1, 0]


def test_roots_of_the_reference_tree_for_each_size() -> None:
    tree = CompactTree()
    assert tree.root() == ROOTS[0]
    for n in range(1, 9):
        assert root(LEAVES[:n]) == mth(LEAVES[:n]) == ROOTS[n]
        tree.append(LEAVES[n - 1])
        assert (tree.size, tree.root()) == (n, ROOTS[n])


def test_stored_nodes_are_exactly_the_reference_trees_complete_subtrees() -> None:
    store, tree = build(LEAVES)
    assert len(store) == len(NODES) == 15
    assert {key: store.get(*key) for key in NODES} == NODES
    assert tree.hashes == (NODES[3, 0],)
    with pytest.raises(KeyError):
        store.get(0, 8)
    with pytest.raises(KeyError):
        store.get(4, 0)


def test_inclusion_proofs_of_the_reference_tree() -> None:
    store, _ = build(LEAVES)
    for index, size, expected in INCLUSION:
        assert inclusion_proof(store, index, size) == expected
        assert verify_inclusion(LEAVES[index], index, size, expected, ROOTS[size])


def test_consistency_proofs_of_the_reference_tree() -> None:
    store, _ = build(LEAVES)
    for old, new, expected in CONSISTENCY:
        assert consistency_proof(store, old, new) == expected
        assert verify_consistency(old, new, ROOTS[old], ROOTS[new], expected)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[1:])
def test_inclusion_fails_for_each_kind_of_wrong_proof(
    index: int, size: int, proof: list[bytes]
) -> None:
    leaf, top = LEAVES[index], ROOTS[size]
    wrong = [
        (leaf, index - 1, size, proof, top),
        (leaf, index + 1, size, proof, top),
        (leaf, index ^ 2, size, proof, top),
        (leaf, index, size * 2, proof, top),
        (leaf, index, size // 2, proof, top),
        (b"WrongLeaf", index, size, proof, top),
        (LEAVES[(index + 1) % 8], index, size, proof, top),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, b""], top),
        (leaf, index, size, [*proof, top], top),
        (leaf, index, size, [b"", *proof], top),
        (leaf, index, size, [top, *proof], top),
        (leaf, index, size, proof[:-1], top),
        (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], top),
        *((leaf, index, size, flip(proof, i), top) for i in range(len(proof))),
    ]
    for case in wrong:
        assert not verify_inclusion(*case), case


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_consistency_fails_for_each_kind_of_wrong_proof(
    old: int, new: int, proof: list[bytes]
) -> None:
    r1, r2 = ROOTS[old], ROOTS[new]
    wrong = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
        *((old, new, r1, r2, flip(proof, i)) for i in range(len(proof))),
    ]
    for case in wrong:
        assert not verify_consistency(*case), case


def test_edge_sizes_follow_transparency_devs_vectors() -> None:
    a, b, data = b"don't care 1", b"don't care 2", leaf_hash(b"data")
    # One leaf: the leaf's hash is the root, and the proof is empty.
    assert verify_inclusion(data, 0, 1, [], data)
    assert not verify_inclusion(b"", 0, 1, [], data)
    assert not verify_inclusion(data, 0, 1, [], b"")
    for index, size in ((0, 0), (1, 0), (2, 1), (2**64 - 1, 1)):
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    # Equal sizes need equal roots and no proof; the empty tree proves nothing.
    assert verify_consistency(1, 1, b, b, [])
    assert verify_consistency(1, 1, ROOTS[1], ROOTS[1], [])
    assert not verify_consistency(1, 1, a, b, [])
    assert not verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 0, a, a, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, b, [])
    assert not verify_consistency(1, 0, a, b, [])
    assert not verify_consistency(2, 1, a, b, [])
    assert not verify_consistency(1, 2, a, b, [])


def test_failed_proofs_say_what_did_not_fit() -> None:
    proof = INCLUSION[1][2]
    with pytest.raises(
        ProofError, match=r"^the proof has 2 hashes; leaf 0 of a tree of 8 needs 3$"
    ):
        root_from_inclusion(LEAVES[0], 0, 8, proof[:2])
    with pytest.raises(
        ProofError, match=r"^the proof has 4 hashes; leaf 0 of a tree of 8 needs 3$"
    ):
        root_from_inclusion(LEAVES[0], 0, 8, [*proof, proof[0]])
    with pytest.raises(ProofError, match=r"^leaf index 8 is not in a tree of size 8$"):
        root_from_inclusion(LEAVES[0], 8, 8, proof)
    with pytest.raises(ProofError, match=r"^proof hash 1 is 0 bytes, not a 32-byte SHA-256 hash$"):
        root_from_inclusion(LEAVES[0], 0, 8, [proof[0], b"", proof[2]])
    with pytest.raises(ProofError, match=r"^leaf hash 0 is a str, not bytes$"):
        root_from_inclusion("leaf", 0, 8, proof)  # type: ignore[arg-type]
    old, new, cproof = CONSISTENCY[2]
    assert root_from_consistency(old, new, ROOTS[old], cproof) == ROOTS[new]
    with pytest.raises(
        ProofError, match=r"^the proof does not lead to the old root of tree size 6$"
    ):
        root_from_consistency(old, new, ROOTS[5], cproof)
    with pytest.raises(ProofError, match=r"^the proof has 2 hashes; tree sizes 6 and 8 need 3$"):
        root_from_consistency(old, new, ROOTS[old], cproof[:2])
    with pytest.raises(ProofError, match=r"^the proof is empty; tree sizes 6 and 8 need one$"):
        root_from_consistency(old, new, ROOTS[old], [])
    with pytest.raises(ProofError, match=r"^the proof has 1 hashes; equal tree sizes need none$"):
        root_from_consistency(8, 8, ROOTS[8], [ROOTS[8]])
    with pytest.raises(ProofError, match=r"^a consistency proof needs 0 < old size <= new size"):
        root_from_consistency(0, 8, EMPTY_ROOT, cproof)


def test_proof_requests_outside_the_tree_are_refused() -> None:
    store, _ = build(LEAVES)
    with pytest.raises(ValueError, match=r"^leaf index 8 is not in a tree of size 8$"):
        inclusion_proof(store, 8, 8)
    with pytest.raises(ValueError, match=r"^a consistency proof needs 0 < old size <= new size"):
        consistency_proof(store, 0, 8)
    with pytest.raises(ValueError, match=r"^a consistency proof needs 0 < old size <= new size"):
        consistency_proof(store, 5, 4)
    with pytest.raises(KeyError):  # the store has no tree of 9 leaves
        inclusion_proof(store, 0, 9)


@PROPERTIES
@given(size=st.integers(1, 300), seed=st.integers(0, 2**16), data=st.data())
def test_inclusion_proofs_from_stored_nodes_are_rfc9162_paths(
    size: int, seed: int, data: st.DataObject
) -> None:
    leaves = random_leaves(size, seed)
    store, tree = build(leaves)
    top = tree.root()
    assert top == root(leaves) == mth(leaves) == root_at(store, size)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(store, index, size)
    assert proof == path(index, leaves)
    assert verify_inclusion(leaves[index], index, size, proof, top)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
        assert not verify_inclusion(leaves[other], index, size, proof, top)
        assert not verify_inclusion(leaves[index], other, size, proof, top)
    assert not verify_inclusion(leaf_hash(b"not logged"), index, size, proof, top)
    # A doubled size always changes the path's shape; other sizes may share it (leaf 0 of 3 and
    # of 4 leaves), which is why a receipt names the signed size its root belongs to.
    assert not verify_inclusion(leaves[index], index, size * 2, proof, top)
    assert not verify_inclusion(leaves[index], index, size, proof, node_hash(top, top))


@PROPERTIES
@given(new=st.integers(2, 300), seed=st.integers(0, 2**16), data=st.data())
def test_consistency_proofs_from_stored_nodes_are_rfc9162_subproofs(
    new: int, seed: int, data: st.DataObject
) -> None:
    leaves = random_leaves(new, seed)
    store, tree = build(leaves)
    old = data.draw(st.integers(1, new - 1), label="old")
    proof = consistency_proof(store, old, new)
    assert proof == subproof(old, leaves, True)
    old_root = root_at(store, old)
    assert old_root == root(leaves[:old])
    assert verify_consistency(old, new, old_root, tree.root(), proof)
    # A log that rewrote a leaf of the old tree (a fork) cannot prove it extends that tree.
    forked = [*leaves[: old - 1], leaf_hash(b"rewritten"), *leaves[old:]]
    assert not verify_consistency(old, new, old_root, root(forked), proof)
    assert not verify_consistency(old, new, root(forked[:old]), tree.root(), proof)


def test_consistency_between_every_pair_of_sizes() -> None:
    leaves = random_leaves(48)
    store, _ = build(leaves)
    roots = [root(leaves[:n]) for n in range(49)]
    for new in range(1, 49):
        for old in range(1, new + 1):
            proof = consistency_proof(store, old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)
            tampered = node_hash(roots[new], roots[new])
            assert not verify_consistency(old, new, roots[old], tampered, proof), (old, new)
            assert not verify_consistency(old, new, tampered, roots[new], proof), (old, new)


def test_proofs_for_past_sizes_stay_the_same_as_the_log_grows() -> None:
    leaves = random_leaves(100)
    small, _ = build(leaves[:37])
    large, _ = build(leaves)
    for index in range(37):
        assert inclusion_proof(large, index, 37) == inclusion_proof(small, index, 37)
    for old in range(1, 38):
        assert consistency_proof(large, old, 37) == consistency_proof(small, old, 37)
    assert root_at(large, 37) == root(leaves[:37])


def test_append_returns_exactly_the_subtrees_it_completes() -> None:
    leaves = random_leaves(300)
    tree, seen = CompactTree(), set()
    for n, leaf in enumerate(leaves):
        nodes = tree.append(leaf)
        trailing_ones = (n ^ (n + 1)).bit_length() - 1
        assert len(nodes) == 1 + trailing_ones
        assert nodes[0] == (0, n, leaf)
        for level, index, digest in nodes:
            assert digest == root(leaves[index << level : (index + 1) << level])
            assert (index + 1) << level == n + 1  # each ends at the new leaf
            seen.add((level, index))
        assert len(seen) == 2 * (n + 1) - (n + 1).bit_count()


def test_extend_in_batches_equals_appending_one_by_one() -> None:
    leaves = random_leaves(257)
    one, many = CompactTree(), CompactTree()
    nodes_one = [node for leaf in leaves for node in one.append(leaf)]
    nodes_many = [
        node for start in range(0, 257, 10) for node in many.extend(leaves[start : start + 10])
    ]
    assert nodes_one == nodes_many
    assert one == many
    assert one.root() == root(leaves)


def test_a_tree_restored_from_the_store_equals_the_live_one() -> None:
    leaves = random_leaves(130)
    store, live = MemoryNodes(), CompactTree()
    for n, leaf in enumerate(leaves, start=1):
        store.put_many(live.append(leaf))
        restored = CompactTree.from_store(store, n)
        assert restored == live
        assert restored.root() == live.root()
    fresh = CompactTree()
    fresh.extend(leaves[:77])
    restored = CompactTree.from_store(store, 77)
    assert restored.extend(leaves[77:]) == fresh.extend(leaves[77:])
    assert restored == fresh == live


def test_a_refused_leaf_leaves_the_tree_as_it_was() -> None:
    tree = CompactTree()
    tree.extend(LEAVES[:5])
    with pytest.raises(ValueError, match=r"^leaf 7: hash of 3 bytes, not 32$"):
        tree.extend([LEAVES[5], LEAVES[6], b"bad"])
    assert (tree.size, tree.root()) == (5, ROOTS[5])
    with pytest.raises(ValueError, match=r"^a tree of 5 leaves has 2 edge hashes, not 1$"):
        CompactTree(5, [ROOTS[5]])


def test_memory_nodes_refuse_gaps_and_changed_subtrees() -> None:
    store, _ = build(LEAVES[:4])
    store.put_many([(0, 3, NODES[0, 3])])  # the same node again is fine
    with pytest.raises(ValueError, match=r"^node \(0, 3\) is stored with another hash$"):
        store.put_many([(0, 3, NODES[0, 2])])
    with pytest.raises(ValueError, match=r"^node \(0, 6\) would leave a gap: level 0 has 4 nodes$"):
        store.put_many([(0, 6, NODES[0, 6])])
    with pytest.raises(ValueError, match=r"^node \(0, 4\): hash of 2 bytes, not 32$"):
        store.put_many([(0, 4, b"xx")])


def test_subtree_hashes_need_a_subtree() -> None:
    store, _ = build(LEAVES)
    assert subtree_hash(store, 4, 8) == NODES[2, 1]
    assert subtree_hash(store, 4, 7) == root(LEAVES[4:7])
    assert subtree_hash(store, 3, 3) == EMPTY_ROOT
    with pytest.raises(ValueError, match=r"^\[3, 5\) is not a subtree: 3 is not a multiple of 2$"):
        subtree_hash(store, 3, 5)
    with pytest.raises(ValueError, match=r"^\[5, 4\) is not a range of leaves$"):
        subtree_hash(store, 5, 4)


class CountingNodes:
    """A NodeStore that counts reads, one `get` per node (no batched reads)."""

    def __init__(self, inner: MemoryNodes) -> None:
        self.inner, self.reads = inner, 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.inner.get(level, index)

    def put_many(self, nodes: object) -> None:
        raise AssertionError("proofs only read")


def test_proofs_read_logarithmically_many_nodes_of_a_million_leaf_log() -> None:
    size = 1_000_000
    store, tree = MemoryNodes(), CompactTree()
    for start in range(0, size, 5_000):
        batch = [leaf_hash(i.to_bytes(4, "big")) for i in range(start, start + 5_000)]
        store.put_many(tree.extend(batch))
    assert len(store) == 2 * size - size.bit_count()
    counting, bound = CountingNodes(store), 2 * size.bit_length()  # 40 reads for 20 levels
    assert CompactTree.from_store(counting, size) == tree
    assert counting.reads == size.bit_count()
    top = tree.root()
    for index in (0, 1, 345_678, 524_287, 524_288, size - 2, size - 1):
        counting.reads = 0
        proof = inclusion_proof(counting, index, size)
        assert counting.reads <= bound, (index, counting.reads)
        assert verify_inclusion(leaf_hash(index.to_bytes(4, "big")), index, size, proof, top)
    for old in (1, 3, 1_023, 65_536, 500_001, 999_999):
        counting.reads = 0
        old_root = root_at(counting, old)
        proof = consistency_proof(counting, old, size)
        assert counting.reads <= bound + old.bit_count(), (old, counting.reads)
        assert verify_consistency(old, size, old_root, top, proof)


def test_a_batchs_proofs_built_in_memory_are_rfc_9162s():
    """tree_log.Appended.proofs builds each new leaf's inclusion proof from the tree's edge
    before the batch and the batch's own nodes; they equal the proofs from every stored node,
    for batches of any size at any offset."""
    import random

    from policysite.collector.core import merkle
    from policysite.collector.core.checkpoint import generate_signer
    from policysite.collector.core.tree_log import TreeAppender

    signer, *_ = generate_signer("example.com/consent-log")
    appender, stored, tree = TreeAppender(signer), merkle.MemoryNodes(), merkle.CompactTree()
    rng = random.Random(11)
    while tree.size < 1500:
        count = rng.choice([1, 1, 2, 3, 5, 8, 13, 64, 100, 257])
        leaves = [merkle.leaf_hash(str(tree.size + i).encode()) for i in range(count)]
        appended = appender.append(tree, leaves)
        stored.put_many(appended.nodes)
        expected = [
            b"".join(merkle.inclusion_proof(stored, index, appended.size))
            for index in range(appended.first, appended.size)
        ]
        assert appended.proofs() == expected
        tree = merkle.CompactTree(appended.size, appended.edge_after)
