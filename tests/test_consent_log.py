"""The verifiable consent log end to end, on SQLite and PostgreSQL: receipts a visitor checks
offline, proofs from the collector, and `consents verify` catching each kind of tampering
(docs/consent-log.md)."""

from __future__ import annotations

import base64
import sqlite3

import psycopg
import pytest
from collector_fixtures.support import (
    Collector,
    body,
    either_store,
    log_signer,
    log_verifier,
    sqlite_path,
)

from policysite.cli import main
from policysite.collector.core import merkle
from policysite.collector.core.checkpoint import (
    Checkpoint,
    generate_signer,
    sign_checkpoint,
    verify_checkpoint,
)
from policysite.collector.core.receipt import verify as verify_receipt

RECORDS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    return either_store(request, tmp_path)


@pytest.fixture
def logged(db) -> list[dict]:
    """RECORDS consents posted one by one; their 201 answers."""
    collector = Collector(db)
    try:
        answers = [collector.post(body()) for _ in range(RECORDS)]
    finally:
        collector.close()
    assert [a.status_code for a in answers] == [201] * RECORDS
    return [a.json() for a in answers]


def sql(db: str, *statements: str, params: tuple = ()) -> list[tuple]:
    """Run statements as the database's owner would, triggers and all; the last's rows."""
    if db.startswith("postgresql://"):
        with psycopg.connect(db, autocommit=True) as conn:
            for statement in statements:
                cursor = conn.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else []
    with sqlite3.connect(db, isolation_level=None) as conn:
        for statement in statements:
            cursor = conn.execute(statement.replace("%s", "?"), params)
        return cursor.fetchall()


def without_triggers(db: str, *statements: str, params: tuple = ()) -> None:
    """What an operator with the database file can do: lift the append-only guard, edit."""
    if db.startswith("postgresql://"):
        lift = ["ALTER TABLE consents DISABLE TRIGGER USER"]
        restore = ["ALTER TABLE consents ENABLE TRIGGER USER"]
    else:
        lift = ["DROP TRIGGER consents_no_update", "DROP TRIGGER consents_no_delete"]
        restore = []
    sql(db, *lift, *statements, *restore, params=params)


def verify(db: str, capsys, *extra: str) -> tuple[int, str]:
    key = log_verifier(db).key_text()
    code = main(["consents", "verify", "--db", db, "--key", key, *extra])
    return code, capsys.readouterr().out


def test_every_201_carries_a_receipt_a_visitor_checks_offline(db, logged):
    verifier = log_verifier(db)
    proven = [verify_receipt(answer["receipt"], verifier) for answer in logged]
    assert [p.leaf_index for p in proven] == list(range(RECORDS))
    assert [p.tree_size for p in proven] == list(range(1, RECORDS + 1))  # a checkpoint a batch
    first = logged[0]["receipt"]
    assert first["record"]["ip_commitment"].startswith("sha256:")
    leaf = base64.b64decode(first["leaf_hash"])
    [(stored_leaf,)] = sql(db, "SELECT substr(nodes, 1, 32) FROM log_batches WHERE first = 0")
    assert bytes(stored_leaf) == leaf


def test_the_collector_serves_proofs_to_its_latest_checkpoint(db, logged):
    collector = Collector(db)
    try:
        note = collector.request("GET", "/api/log/checkpoint").text
        consent_id = logged[3]["receipt"]["record"]["consent_id"]
        mine = collector.request("GET", f"/api/consent/{consent_id}").json()
        early = verify_checkpoint(logged[9]["receipt"]["checkpoint"], log_verifier(db))
        proof = collector.request("GET", f"/api/log/consistency?from={early.size}").json()
    finally:
        collector.close()
    latest = verify_checkpoint(note, log_verifier(db))
    assert latest.size == RECORDS
    [receipt] = mine["receipts"]
    assert receipt["checkpoint"] == note  # proofs to the latest checkpoint, not the first
    assert verify_receipt(receipt, log_verifier(db)).leaf_index == 3
    hashes = [base64.b64decode(h) for h in proof["proof"]]
    assert (proof["from"], proof["to"]) == (10, RECORDS)
    assert merkle.verify_consistency(early.size, latest.size, early.root, latest.root, hashes)


def test_an_intact_log_verifies(db, logged, capsys):
    code, out = verify(db, capsys)
    assert code == 0, out
    assert out.startswith(f"intact: {RECORDS} leaves, {RECORDS} records stored (0 purged")
    assert f"latest size {RECORDS}" in out


def test_a_changed_record_is_named(db, logged, capsys):
    consent_id = logged[7]["receipt"]["record"]["consent_id"]
    without_triggers(
        db, "UPDATE consents SET action = 'accept_all' WHERE leaf_index = 7"
    )  # a reject turned into an accept
    code, out = verify(db, capsys)
    assert code == 1
    assert f"leaf 7 ({consent_id} seq 1): the record was changed after it was logged" in out
    assert f"stored checkpoint of size {RECORDS} does not match the records" in out


def test_a_deleted_record_is_tampering(db, logged, capsys):
    without_triggers(db, "DELETE FROM consents WHERE leaf_index = 12")
    code, out = verify(db, capsys)
    assert code == 1
    assert "leaf 12: its record was deleted outside `consents purge`" in out


def test_an_invented_record_is_outside_the_log(db, logged, capsys):
    columns = (
        "received_at, consent_id, seq, document, version, language, policy_sha256, action,"
        " choices, gpc, page, user_agent, ip, receipt"
    )
    sql(
        db,
        f"INSERT INTO consents ({columns}) SELECT received_at, consent_id, 2, document,"
        " version, language, policy_sha256, 'accept_all', choices, gpc, page, user_agent, ip,"
        f" receipt FROM consents WHERE leaf_index = 5",
    )
    code, out = verify(db, capsys)
    assert code == 1
    assert "seq 2 (received " in out and "is not in the log: it was inserted outside" in out


def test_an_invented_record_given_the_next_leaf_index_is_caught_too(db, logged, capsys):
    sql(
        db,
        "INSERT INTO consents (received_at, consent_id, seq, document, version, language,"
        " policy_sha256, action, choices, gpc, page, user_agent, ip, receipt, leaf_index)"
        " SELECT received_at, consent_id, 9, document, version, language, policy_sha256,"
        f" action, choices, gpc, page, user_agent, ip, receipt, {RECORDS} FROM consents"
        " WHERE leaf_index = 0",
    )
    code, out = verify(db, capsys)
    assert code == 1
    assert f"leaf {RECORDS} (" in out and "its leaf was never stored" in out


def test_an_altered_checkpoint_and_one_signed_by_another_key_are_refused(db, logged, capsys):
    [(note,)] = sql(db, "SELECT note FROM log_head")
    lines = note.split("\n")
    forged = "\n".join([lines[0], lines[1], base64.b64encode(b"\1" * 32).decode(), *lines[3:]])
    sql(db, "UPDATE log_head SET note = %s", params=(forged,))
    code, out = verify(db, capsys)
    assert code == 1
    assert f"stored checkpoint of size {RECORDS}: not signed by the key of" in out

    other, *_ = generate_signer(log_signer(db).name)  # same log name, another key
    root = verify_checkpoint(note, log_verifier(db)).root
    sql(db, "UPDATE log_head SET note = %s", params=(sign_checkpoint(
        Checkpoint(other.name, RECORDS, root), other),))  # fmt: skip
    code, out = verify(db, capsys)
    assert code == 1 and "not signed by the key of" in out


def test_a_rewritten_history_is_a_fork_against_published_checkpoints(db, logged, capsys, tmp_path):
    published = tmp_path / "published"
    published.mkdir()
    assert main(["consents", "checkpoint", "--db", db, "-o", str(published / "40.txt")]) == 0
    capsys.readouterr()
    # The operator rewrites a record, recomputes the tree and signs it again with the real key.
    without_triggers(db, "UPDATE consents SET action = 'accept_all' WHERE leaf_index = 2")
    _rebuild_and_resign(db)
    code, out = verify(db, capsys)  # the store alone now looks consistent but for its archive
    assert "the record was changed" not in out
    code, out = verify(db, capsys, "--published", str(published))
    assert code == 1
    assert f"published checkpoint {published / '40.txt'} does not match the records" in out
    assert "the log was forked" in out  # the same size, signed twice, two roots


def _rebuild_and_resign(db: str) -> None:
    """Recompute every leaf from the rows, replace the tree's nodes, re-sign the head."""
    from policysite.collector.core.leaf import ip_commitment, record_leaf_hash
    from policysite.collector.core.record import COLUMNS, ConsentRecord

    rows = sql(db, f"SELECT {', '.join(COLUMNS)}, ip_salt FROM consents ORDER BY leaf_index")
    leaves = []
    for row in rows:
        values = list(row[: len(COLUMNS)])
        if db.startswith("postgresql://"):
            from policysite.collector.core.record import canonical_choices, utc_timestamp

            values[0], values[1] = utc_timestamp(values[0]), str(values[1])
            values[8] = canonical_choices(values[8])
        else:
            values[9] = None if values[9] is None else bool(values[9])
        record = ConsentRecord(*values)
        leaves.append(record_leaf_hash(record, ip_commitment(record.ip, bytes(row[-1]))))
    tree = merkle.CompactTree()
    nodes = tree.extend(leaves)
    signer = log_signer(db)
    note = sign_checkpoint(Checkpoint(signer.name, tree.size, tree.root()), signer)
    lift = (
        ["ALTER TABLE log_batches DISABLE TRIGGER USER"]
        if db.startswith("postgresql://")
        else ["DROP TRIGGER log_batches_no_delete"]
    )
    sql(db, *lift, "DELETE FROM log_batches")
    blob = b"".join(digest for _, _, digest in nodes)
    sql(db, "INSERT INTO log_batches VALUES (0, %s, %s)", params=(tree.size, blob))
    sql(db, "UPDATE log_head SET note = %s", params=(note,))


def test_purge_and_erase_keep_the_log_provable(db, logged, capsys):
    consent_id = logged[4]["receipt"]["record"]["consent_id"]
    assert main(["consents", "erase", "--db", db, "--consent-id", consent_id, "--yes"]) == 0
    assert "erased 1 record(s) of consent id" in capsys.readouterr().out
    assert main(["consents", "purge", "--db", db, "--older-than", "0", "--yes"]) == 0
    assert f"deleted {RECORDS - 1} record(s)" in capsys.readouterr().out
    assert sql(db, "SELECT count(*) FROM consents") == [(0,)]
    code, out = verify(db, capsys)
    assert code == 0, out
    assert f"{RECORDS} leaves, 0 records stored ({RECORDS - 1} purged, 1 erased)" in out
    # A receipt kept by the visitor still proves the erased consent was given.
    assert verify_receipt(logged[4]["receipt"], log_verifier(db)).leaf_index == 4


def test_removal_asks_before_it_deletes(db, logged, capsys, monkeypatch):
    consent_id = logged[0]["receipt"]["record"]["consent_id"]
    assert main(["consents", "erase", "--db", db, "--consent-id", consent_id]) == 1
    assert "pass --yes to confirm" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert main(["consents", "purge", "--db", db, "--older-than", "0"]) == 1
    assert "nothing deleted" in capsys.readouterr().out
    assert sql(db, "SELECT count(*) FROM consents") == [(RECORDS,)]
    monkeypatch.setattr("builtins.input", lambda question: "y")
    assert main(["consents", "erase", "--db", db, "--consent-id", consent_id]) == 0
    assert sql(db, "SELECT count(*) FROM consents") == [(RECORDS - 1,)]


def test_a_published_checkpoint_ahead_of_the_log_shows_records_dropped(
    db, logged, capsys, tmp_path
):
    published = tmp_path / "published"
    published.mkdir()
    assert main(["consents", "checkpoint", "--db", db, "-o", str(published / "40.txt")]) == 0
    capsys.readouterr()
    code, out = verify(db, capsys, "--published", str(published))
    assert code == 0 and "1 published checkpoints match" in out
    # Drop the last record, its leaf, its checkpoint: the store is consistent; what was
    # published says otherwise.
    lift = (
        [f"ALTER TABLE {t} DISABLE TRIGGER USER" for t in ("log_batches", "log_checkpoints")]
        if db.startswith("postgresql://")
        else ["DROP TRIGGER log_batches_no_delete", "DROP TRIGGER log_checkpoints_no_delete"]
    )
    without_triggers(db, f"DELETE FROM consents WHERE leaf_index = {RECORDS - 1}")
    last = RECORDS - 1  # the last batch (one record each) and its checkpoint go
    sql(db, *lift, f"DELETE FROM log_batches WHERE first >= {last}",
        f"DELETE FROM log_checkpoints WHERE size > {last}")  # fmt: skip
    sql(db, "DELETE FROM log_head")
    code, out = verify(db, capsys, "--published", str(published))
    assert code == 1
    assert "is of a tree of 40 leaves, but the log has only 39" in out


def test_verify_needs_a_key(db, logged, capsys, tmp_path):
    assert main(["consents", "verify", "--db", db, "--site", str(tmp_path)]) == 1
    assert "no log public key here" in capsys.readouterr().err


def test_checkpoint_of_an_empty_log_is_a_clear_error(tmp_path, capsys):
    db = str(tmp_path / "empty.sqlite3")
    Collector(db).close()
    assert main(["consents", "checkpoint", "--db", db]) == 1
    assert "has no checkpoint yet" in capsys.readouterr().err


def test_checkpoint_goes_to_stdout(db, logged, capsys):
    assert main(["consents", "checkpoint", "--db", db]) == 0
    out = capsys.readouterr().out
    assert verify_checkpoint(out, log_verifier(db)).size == RECORDS


def test_nodes_read_back_from_batches_of_any_size_are_the_trees(db):
    """Each batch's nodes are one blob; every complete subtree read back through the store
    (two queries for any number) is the one an in-memory tree has, and so are proofs."""
    import random

    from collector_fixtures.support import make_record

    from policysite.collector.core.store import open_store
    from policysite.collector.core.store.log_tables import LogTables

    store = open_store(db, signer=log_signer(db))
    memory, tree, rng = merkle.MemoryNodes(), merkle.CompactTree(), random.Random(7)
    try:
        while tree.size < 700:
            count = rng.choice([1, 2, 3, 5, 8, 31, 64, 100])
            batch = [make_record(f"2026-11-25T00:00:00.{tree.size + i:06}Z") for i in range(count)]
            for committed in store.commit_batch(batch):
                leaf = base64.b64decode(_receipt_of(committed)["leaf_hash"])
                memory.put_many(tree.append(leaf))
        keys = [(level, index) for level in range(10) for index in range(tree.size >> level)]
        if db.startswith("postgresql://"):
            with psycopg.connect(db) as conn:
                stored = LogTables("%s").nodes(conn).get_many(keys)
        else:
            with sqlite3.connect(db) as conn:
                stored = LogTables("?").nodes(conn).get_many(keys)
        assert stored == memory.get_many(keys)
        latest = verify_checkpoint(store.latest_checkpoint()[1], log_verifier(db))
        assert latest.root == tree.root()
        for old in (1, 2, 63, 64, 65, 333, tree.size):
            proof = store.consistency_proof(old, tree.size)
            assert proof == merkle.consistency_proof(memory, old, tree.size)
    finally:
        store.close()


def _receipt_of(committed) -> dict:
    from policysite.collector.core.receipt import from_logged

    return from_logged(committed.record, committed.logged)


def test_verify_reports_records_whose_banner_or_text_is_not_archived(tmp_path, capsys):
    """The built site archives each banner under its sha256; a record naming another banner,
    or none, or a text policy.json does not list, is reported: what it saw is not kept."""
    import shutil

    from collector_fixtures.support import SITE

    db = sqlite_path(tmp_path)
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    archived = "a" * 64
    (site / "consent-log" / "banner").mkdir(parents=True)
    (site / "consent-log" / "banner" / f"{archived}.json").write_text("{}\n")
    collector = Collector(db)
    try:
        for banner in (archived, archived):
            assert collector.post({**body(), "banner_sha256": banner}).status_code == 201
        args = ["consents", "verify", "--db", db, "--key", log_verifier(db).key_text()]
        assert main([*args, "--site", str(site)]) == 0
        assert capsys.readouterr().out.startswith("intact: 2 leaves")
        assert collector.post({**body(), "banner_sha256": "b" * 64}).status_code == 201
        assert collector.post(body()).status_code == 201  # a widget that does not say
    finally:
        collector.close()
    assert main([*args, "--site", str(site)]) == 1
    out = capsys.readouterr().out
    assert f"1 record(s) were shown banner {'b' * 64}, which the site does not archive" in out
    assert "1 record(s) do not name the banner their visitor was shown" in out
    assert main([*args, "--site", str(tmp_path / "nowhere")]) == 0  # nothing to check against
    assert "the archived policy texts and banners are not checked" in capsys.readouterr().err
