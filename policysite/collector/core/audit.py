"""`consents verify`: an auditor's check of the whole consent log against its signatures.

It trusts nothing the store says about itself. Every leaf is recomputed from its stored record
(leaf.py), the tree is rebuilt from those leaves, and every checkpoint, stored or published
elsewhere, must be signed by the log's key and carry the rebuilt tree's root at its size: so
all of them are prefixes of one tree, each consistent with the next. The stored leaf hashes
serve only to say which record changed, and to stand in for the records that `consents purge`
and `consents erase` removed, which keep their leaf's hash (docs/consent-log.md, "Verifying
the log").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from policysite.collector.core import merkle
from policysite.collector.core.checkpoint import NoteError, Verifier, verify_checkpoint
from policysite.collector.core.leaf import ip_commitment, record_leaf_hash

SHOWN_PER_KIND = 20  # problems of one kind listed before "and N more"
_MISSING = b"\0" * merkle.HASH_SIZE  # stands in for a leaf nothing is left of


def _(message: str) -> str:
    """Marks a msgid for pybabel extract: `consents report` shows findings in the theme's
    language (the `messages` catalogs); `verify` prints them in English, the msgids'."""
    return message


class Finding(NamedTuple):
    """A problem as a msgid and its values, which may be findings themselves (a label)."""

    message: str
    values: dict[str, Any]

    def text(
        self,
        gettext: Callable[[str], str] = str,
        number: Callable[[int], str] = "{:,}".format,
    ) -> str:
        """The finding in a language: its gettext and how it writes numbers (English's)."""

        def value(item: Any) -> str:
            if isinstance(item, Finding):
                return item.text(gettext, number)
            return number(item) if type(item) is int else str(item)

        return gettext(self.message).format(**{k: value(v) for k, v in self.values.items()})


REMOVED = {"purged": _("purged"), "erased": _("erased")}  # how log_removed marks a leaf


@dataclass(frozen=True)
class Published:
    """A checkpoint kept outside the store (content/consent-log/, a CDN, a visitor)."""

    source: str  # where it came from, for messages
    note: str


@dataclass
class Report:
    size: int = 0  # leaves in the rebuilt tree
    records: int = 0
    purged: int = 0
    erased: int = 0
    checkpoints: int = 0  # stored checkpoints whose signature holds
    published: int = 0
    latest: int | None = None
    signed_at: str | None = None  # when the latest stored checkpoint was signed
    findings: list[Finding] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    def problem(self, kind: str, message: str, **values: Any) -> None:
        """Record a problem (a msgid and its values); past SHOWN_PER_KIND of one kind, only
        count it."""
        count = self._counts[kind] = self._counts.get(kind, 0) + 1
        if count <= SHOWN_PER_KIND:
            self.findings.append(Finding(message, values))

    def close(self) -> None:
        for kind, count in self._counts.items():
            if count > SHOWN_PER_KIND:
                more = _("… and {count} more problems of the kind {kind}")
                self.findings.append(Finding(more, {"count": count - SHOWN_PER_KIND, "kind": kind}))

    @property
    def problems(self) -> list[str]:
        """The findings in English, as `consents verify` prints them."""
        return [finding.text() for finding in self.findings]

    @property
    def intact(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        removed = f"{self.purged:,} purged, {self.erased:,} erased"
        head = "no checkpoint yet" if self.latest is None else f"latest size {self.latest:,}"
        return (
            f"intact: {self.size:,} leaves, {self.records:,} records stored ({removed}); "
            f"{self.checkpoints:,} stored and {self.published:,} published checkpoints "
            f"match; {head}"
        )


@dataclass
class _Expected:
    """A signed checkpoint waiting for the rebuilt tree to reach its size."""

    label: Finding
    size: int
    root: bytes
    stored: bool  # in the store (else published elsewhere)
    matched: bool | None = None


def audit(
    snapshot: Any,
    verifier: Verifier,
    published: Iterable[Published] = (),
    known_texts: set[str] | None = None,
    known_banners: set[str] | None = None,
) -> Report:
    """Check the log in `snapshot` (store.log_snapshot()) against `verifier`'s key.

    `known_texts`, the policy texts' sha256 that policy.json lists, and `known_banners`, the
    banners the site archives, when given: records consented to any other text, or shown any
    other banner (or none named), are reported: what they saw is not archived.
    """
    report = Report()
    expected = _signed_checkpoints(snapshot.checkpoints(), verifier, report, stored=True)
    expected += _signed_checkpoints(
        ((p.source, p.note) for p in published), verifier, report, stored=False
    )
    _report_forks(expected, report)
    by_size: dict[int, list[_Expected]] = {}
    for entry in expected:
        by_size.setdefault(entry.size, []).append(entry)
    stored_sizes = [e.size for e in expected if e.stored]
    report.latest = max(stored_sizes, default=None)
    report.signed_at = snapshot.signed_at()
    unseen = _Unarchived(known_texts, known_banners)
    tree = _rebuild(snapshot, report, by_size, report.latest or 0, unseen)
    report.size = tree.size
    unseen.report(report)
    _report_checkpoints(expected, tree.size, report)
    report.close()
    return report


def _signed_checkpoints(
    notes: Iterable[tuple[Any, str]], verifier: Verifier, report: Report, *, stored: bool
) -> list[_Expected]:
    found = []
    for where, note in notes:
        label = (
            Finding(_("stored checkpoint of size {size}"), {"size": where})
            if stored
            else Finding(_("published checkpoint {source}"), {"source": where})
        )
        try:
            checkpoint = verify_checkpoint(note, verifier)
        except NoteError as error:
            report.problem(
                "checkpoint", _("{label}: not signed by the key of {key}: {error}"),
                label=label, key=verifier.name, error=error,
            )  # fmt: skip
            continue
        if stored and checkpoint.size != where:
            report.problem(
                "checkpoint", _("{label}: its signed size is {size}"),
                label=label, size=checkpoint.size,
            )  # fmt: skip
            continue
        found.append(_Expected(label, checkpoint.size, checkpoint.root, stored))
        if stored:
            report.checkpoints += 1
        else:
            report.published += 1
    return found


def _report_forks(expected: list[_Expected], report: Report) -> None:
    roots: dict[int, dict[bytes, Finding]] = {}
    for entry in expected:
        roots.setdefault(entry.size, {}).setdefault(entry.root, entry.label)
    for size, labels in sorted(roots.items()):
        if len(labels) > 1:
            first, *others = labels.values()
            for other in others:
                first = Finding(_("{first} and {second}"), {"first": first, "second": other})
            report.problem(
                "fork", _("the log was forked: {names} are both of size {size} but differ"),
                names=first, size=size,
            )  # fmt: skip


class _Unarchived:
    """Counts the records whose policy text or banner the site does not archive."""

    def __init__(self, texts: set[str] | None, banners: set[str] | None) -> None:
        self.texts, self.banners = texts, banners
        self.unknown_texts: dict[str, int] = {}
        self.unknown_banners: dict[str | None, int] = {}

    def add(self, record: Any) -> None:
        if self.texts is not None and record.policy_sha256 not in self.texts:
            sha = record.policy_sha256
            self.unknown_texts[sha] = self.unknown_texts.get(sha, 0) + 1
        if self.banners is not None and record.banner_sha256 not in self.banners:
            banner = record.banner_sha256
            self.unknown_banners[banner] = self.unknown_banners.get(banner, 0) + 1

    def report(self, report: Report) -> None:
        for sha, count in sorted(self.unknown_texts.items()):
            report.problem(
                "text",
                _("{count} record(s) consented to policy text {sha}, which policy.json does "
                  "not list: what they agreed to is not archived"),
                count=count, sha=sha,
            )  # fmt: skip
        for banner, count in sorted(self.unknown_banners.items(), key=lambda i: i[0] or ""):
            unnamed = _("{count} record(s) do not name the banner their visitor was shown")
            unarchived = _(
                "{count} record(s) were shown banner {banner}, which the site does not "
                "archive (consent-log/banner/)"
            )
            message = unnamed if banner is None else unarchived
            report.problem("banner", message, count=count, banner=banner)


def _rebuild(
    snapshot: Any,
    report: Report,
    by_size: dict[int, list[_Expected]],
    head: int,
    unseen: _Unarchived,
) -> merkle.CompactTree:
    """The tree rebuilt from the records, leaf by leaf, checked against each stored leaf."""
    removed = snapshot.removed()
    stored = _peekable(snapshot.leaf_hashes())
    records = _peekable(snapshot.records())
    tree = merkle.CompactTree()
    while True:
        index = tree.size
        while records.next is not None and (records.next.leaf_index or 0) < index:
            if records.next.leaf_index is None:
                break
            another = _("has the leaf index of another")
            _outside(records.take_if(lambda _item: True), another, report)
        stored_hash = stored.take_if(lambda item, i=index: item[0] == i)
        record = records.take_if(lambda s, i=index: s.leaf_index == i)
        if stored_hash is None and record is None and index not in removed:
            if stored.next is None and index >= head:
                break  # the tree's end: what records remain are outside it
            report.problem(
                "missing", _("leaf {index}: nothing is left of it, not even its hash"), index=index
            )
            leaf = _MISSING
        elif record is not None:
            leaf = _leaf_of(record, index, stored_hash, removed, report)
            unseen.add(record.record)
        elif index in removed:
            why = removed[index]
            report.purged += why == "purged"
            report.erased += why == "erased"
            leaf = stored_hash[1] if stored_hash else _MISSING
            if stored_hash is None:
                report.problem(
                    "missing", _("leaf {index} was {why}, but its hash is gone too"),
                    index=index, why=Finding(REMOVED.get(why, why), {}),
                )  # fmt: skip
        else:
            report.problem(
                "deleted",
                _("leaf {index}: its record was deleted outside `consents purge` and "
                  "`consents erase`"),
                index=index,
            )  # fmt: skip
            leaf = stored_hash[1]  # type: ignore[index]
        tree.append(leaf)
        for entry in by_size.get(tree.size, ()):
            entry.matched = entry.root == tree.root()
    for stored_record in records.rest():
        where = _("is not in the log") if stored_record.leaf_index is None else _("is past its end")
        _outside(stored_record, where, report)
    return tree


def _outside(stored: Any, where: str, report: Report) -> None:
    record = stored.record
    report.problem(
        "outside",
        _("record {consent_id} seq {seq} (received {received_at}) {where}: it was inserted "
          "outside the collector, or while the log was off"),
        consent_id=record.consent_id, seq=record.seq, received_at=record.received_at,
        where=Finding(where, {}),
    )  # fmt: skip


def _leaf_of(
    stored: Any, index: int, stored_hash: tuple | None, removed: dict[int, str], report: Report
) -> bytes:
    record = stored.record
    commitment = None if record.ip is None else ip_commitment(record.ip, stored.ip_salt or b"")
    leaf = record_leaf_hash(record, commitment)
    report.records += 1
    name = Finding(
        _("leaf {index} ({consent_id} seq {seq})"),
        {"index": index, "consent_id": record.consent_id, "seq": record.seq},
    )
    if stored_hash is None:
        report.problem(
            "outside", _("{name}: its leaf was never stored: inserted outside the log"), name=name
        )
    elif stored_hash[1] != leaf:
        changed = _("{name}: the record was changed after it was logged")
        report.problem("changed", changed, name=name)
    if index in removed:
        why = Finding(REMOVED.get(removed[index], removed[index]), {})
        report.problem(
            "changed", _("{name} is marked {why}, but its record is there"), name=name, why=why
        )
    return leaf


def _report_checkpoints(expected: list[_Expected], size: int, report: Report) -> None:
    first_bad = None
    for entry in sorted(expected, key=lambda e: e.size):
        if entry.matched is None:
            report.problem(
                "checkpoint",
                _("{label} is of a tree of {size} leaves, but the log has only {have}: leaves "
                  "were removed from its end"),
                label=entry.label, size=entry.size, have=size,
            )  # fmt: skip
        elif not entry.matched:
            first_bad = first_bad or entry
            report.problem(
                "checkpoint",
                _("{label} does not match the records: the first {size} leaves are not the "
                  "ones it signed (records changed, removed or inserted)"),
                label=entry.label, size=entry.size,
            )  # fmt: skip
        elif first_bad is not None:
            report.problem(
                "fork",
                _("the log was rewritten: {bad} does not match, yet the later {good} does (it "
                  "signs another history)"),
                bad=first_bad.label, good=entry.label,
            )  # fmt: skip
            first_bad = None


class _peekable:
    """An iterator whose next item can be looked at before it is taken."""

    def __init__(self, items: Iterator) -> None:
        self._items = items
        self.next = next(items, None)

    def take_if(self, wanted: Any) -> Any:
        if self.next is None or not wanted(self.next):
            return None
        item, self.next = self.next, next(self._items, None)
        return item

    def rest(self) -> Iterator:
        while self.next is not None:
            item, self.next = self.next, next(self._items, None)
            yield item
