"""The text cache's pack on disk (policysite.render.cache): marshal segments, appended by builds
that
only add entries, consolidated when entries are re-dated or expire. A damaged pack or one made
by other code is ignored, never an error: the cache only makes builds faster."""

from __future__ import annotations

import marshal

from policysite.render import cache

ENTRY_A = ("<p>một</p>", ((2, "mot", "Một"),), ("mot",))
ENTRY_B = ("<p>hai</p>", (), ())


def pack_bytes(root):
    return (root / cache.PACK_NAME).read_bytes()


def test_builds_that_only_add_entries_append_their_segments(tmp_path):
    today = cache._today()
    first, second = cache.segment({"a": ENTRY_A}, today), cache.segment({"b": ENTRY_B}, today)
    cache.save(tmp_path, set(), [first])
    cache.save(tmp_path, {"a"}, [b"", second])  # "a" already dated today: nothing to rewrite
    assert pack_bytes(tmp_path) == first + second
    assert cache.read_pack(tmp_path) == {"a": (today, ENTRY_A), "b": (today, ENTRY_B)}


def test_nothing_new_writes_nothing(tmp_path):
    today = cache._today()
    cache.save(tmp_path, set(), [cache.segment({"a": ENTRY_A}, today)])
    before = (tmp_path / cache.PACK_NAME).stat().st_mtime_ns
    cache.save(tmp_path, {"a"}, [b""])
    assert (tmp_path / cache.PACK_NAME).stat().st_mtime_ns == before


def test_used_entries_are_redated_and_unused_old_ones_dropped_in_one_segment(tmp_path):
    today = cache._today()
    old = cache.segment({"used": ENTRY_A}, today - 3)
    expired = cache.segment({"gone": ENTRY_B}, today - cache.PRUNE_AFTER_DAYS - 1)
    (tmp_path / cache.PACK_NAME).write_bytes(old + expired)
    # what two render workers computed, as one build hands it over: segments end to end
    new = cache.segment({"new": ENTRY_B}, today) + cache.segment({"newer": ENTRY_A}, today)
    cache.save(tmp_path, {"used"}, [new])
    assert cache.read_pack(tmp_path) == {
        "used": (today, ENTRY_A),
        "new": (today, ENTRY_B),
        "newer": (today, ENTRY_A),
    }
    salt, entries = marshal.loads(pack_bytes(tmp_path))  # one segment: nothing after it
    assert len(marshal.dumps((salt, entries))) == len(pack_bytes(tmp_path))


def test_a_damaged_pack_is_ignored_and_replaced(tmp_path):
    today = cache._today()
    good = cache.segment({"a": ENTRY_A}, today)
    (tmp_path / cache.PACK_NAME).write_bytes(good + good[: len(good) // 2])  # cut short
    assert cache.read_pack(tmp_path) == {}
    cache.save(tmp_path, set(), [cache.segment({"b": ENTRY_B}, today)])
    assert cache.read_pack(tmp_path) == {"b": (today, ENTRY_B)}


def test_a_pack_made_by_other_code_is_ignored(tmp_path):
    today = cache._today()
    other = marshal.dumps((b"other code", {"a": (today, ENTRY_A)}))
    (tmp_path / cache.PACK_NAME).write_bytes(cache.segment({"b": ENTRY_B}, today) + other)
    assert cache.read_pack(tmp_path) == {}
