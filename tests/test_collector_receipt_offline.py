"""`consents verify-receipt`: a visitor's receipt is checked with nothing but the log's public
key (docs/consent-log.md, "Receipts"): no database, no network. Each kind of tampering is
named."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from policysite.cli import main
from policysite.collector.core import merkle, receipt
from policysite.collector.core.checkpoint import Checkpoint, generate_signer, sign_checkpoint
from policysite.collector.core.leaf import ip_commitment, leaf_data, leaf_hash, new_salt

ORIGIN = "ximgo.com/consent-log"


def record(n: int) -> dict:
    return {
        "received_at": f"2026-12-03T10:00:{n:02d}.000000Z",
        "consent_id": str(uuid.UUID(int=n + 1, version=4)),
        "seq": 1,
        "document": "privacy",
        "version": "2026-11-24",
        "language": "vi",
        "policy_sha256": "1" * 64,
        "action": "custom" if n % 2 else "reject_all",
        "choices": '{"advertising":false,"analytics":true,"necessary":true}',
        "gpc": n % 3 == 0,
        "page": "/chinh-sach-bao-mat/",
        "user_agent": "Mozilla/5.0 (iPhone) Safari/604.1",
        "ip_commitment": ip_commitment(f"203.0.{n}.0/24", new_salt()),
        "banner_sha256": "b" * 64 if n % 2 else None,
    }


@pytest.fixture(scope="module")
def log():
    """A log of 7 records, its signed checkpoint, and the key pair."""
    signer, _, public = generate_signer(ORIGIN)
    records = [record(n) for n in range(7)]
    nodes = merkle.MemoryNodes()
    tree = merkle.CompactTree()
    nodes.put_many(tree.extend([leaf_hash(r) for r in records]))
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), signer)
    return records, nodes, note, public


def receipt_file(tmp_path: Path, log, index: int = 4, change=None) -> Path:
    records, nodes, note, _ = log
    data = receipt.make(records[index], index, merkle.inclusion_proof(nodes, index, 7), note)
    data = copy.deepcopy(data)
    if change:
        change(data)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def check(path: Path, key: str, capsys) -> tuple[int, str]:
    code = main(["consents", "verify-receipt", str(path), "--key", key])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_receipt_is_valid_offline_with_the_public_key(tmp_path, log, capsys):
    records, _, _, public = log
    for index in range(7):
        code, out = check(receipt_file(tmp_path, log, index), public, capsys)
        r = records[index]
        assert (code, out) == (
            0,
            f"valid: {r['consent_id']} seq 1 {r['action']} at {r['received_at']}, "
            f"policy {'1' * 64}\n",
        )


def test_the_leaf_is_the_documented_json_array(log):
    records, *_ = log
    data = leaf_data(records[0]).decode("utf-8")
    assert json.loads(data) == ["consent/1", *records[0].values()]
    assert data.startswith('["consent/1","2026-12-03T10:00:00.000000Z",')
    assert "203.0." not in data  # the address only as its salted commitment


def _set(path: list, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(["record", "action"], "accept_all"), "not in the signed tree"),
        (_set(["record", "choices"], '{"advertising":true}'), "not in the signed tree"),
        (_set(["record", "received_at"], "2026-12-04T10:00:04.000000Z"), "not in the signed tree"),
        (_set(["record", "ip_commitment"], None), "not in the signed tree"),
        (_set(["record", "banner_sha256"], "c" * 64), "not in the signed tree"),
        (_set(["leaf_index"], 5), "not in the signed tree"),
        (_set(["leaf_index"], 9), "is not in the checkpoint's tree of 7 records"),
        (_set(["leaf_index"], -1), '"leaf_index" must be a whole number'),
        (_set(["inclusion_proof", 0], "A" * 43 + "="), "not in the signed tree"),
        (_set(["inclusion_proof", 0], "not base64!"), "not a base64 SHA-256"),
        (lambda d: d["inclusion_proof"].pop(), "the inclusion proof does not fit"),
        (lambda d: d["record"].pop("page"), "the record is incomplete: the record has no 'page'"),
        (_set(["record", "seq"], 1.5), "'seq' is a float"),
        (_set(["format"], "something/2"), "not a consent receipt"),
        (lambda d: d.update(checkpoint=d["checkpoint"].replace("\n7\n", "\n8\n")), "bad signature"),
    ],
)
def test_each_kind_of_tampering_is_named(tmp_path, log, capsys, change, message):
    path = receipt_file(tmp_path, log, change=change)
    code, out = check(path, log[3], capsys)
    assert code == 1
    assert out.startswith(f"invalid: {path}: ")
    assert message in out


def test_a_checkpoint_signed_by_another_key_is_refused(tmp_path, log, capsys):
    _, nodes, _, public = log
    other, _, _ = generate_signer(ORIGIN)  # same name, another key
    tree = merkle.CompactTree.from_store(nodes, 7)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 7, tree.root()), other)
    path = receipt_file(tmp_path, log, change=_set(["checkpoint"], forged))
    code, out = check(path, public, capsys)
    assert code == 1
    assert f"the checkpoint is not signed by {ORIGIN}" in out


def test_the_key_may_come_from_a_file_or_the_sites_policy_json(tmp_path, log, capsys):
    path = receipt_file(tmp_path, log)
    key_file = tmp_path / "log.pub"
    key_file.write_text(log[3] + "\n")
    assert check(path, str(key_file), capsys)[0] == 0
    site = tmp_path / "dist"
    site.mkdir()
    (site / "policy.json").write_text(json.dumps({"consent": {"log_public_key": log[3]}}))
    assert main(["consents", "verify-receipt", str(path), "--site", str(site)]) == 0
    assert capsys.readouterr().out.startswith("valid: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", "not-a-key"], "--key is not a log public key"),
        (["--site", "nowhere"], "no log public key here"),
    ],
)
def test_without_a_usable_key_it_is_a_clean_error(tmp_path, log, capsys, argv, message):
    path = receipt_file(tmp_path, log)
    assert main(["consents", "verify-receipt", str(path), *argv]) == 1
    assert message in capsys.readouterr().err


def test_a_file_that_is_not_a_receipt_is_invalid(tmp_path, log, capsys):
    path = tmp_path / "receipt.json"
    path.write_text("{not json")
    code, out = check(path, log[3], capsys)
    assert code == 1 and "not JSON" in out
