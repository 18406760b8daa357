"""The hot path's writers give exactly what the checked ones give: seal() as compute_receipt(),
the leaf as leaf_data(), the 201's receipt as json.dumps()."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policysite.collector.core.record import ConsentRecord, compute_receipt, seal, verify_receipt

text = st.text(max_size=40)
maybe_text = st.none() | text
fields = st.tuples(
    text,  # received_at
    text,  # consent_id
    st.integers(min_value=1, max_value=2**53 - 1),
    st.sampled_from(["privacy", 'qu"ote', "chính-sách"]),  # few values: the cached run recurs
    st.sampled_from(["2026-11-24", "2027-01-01"]),
    st.sampled_from(["vi", "en"]),
    st.sampled_from(["ab" * 32, "cd" * 32]),
    st.sampled_from(["accept_all", "reject_all", "custom"]),
    st.sampled_from(['{"analytics":true}', '{"a\\\\b":false}']),
    st.none() | st.booleans(),
    maybe_text,  # page
    maybe_text,  # user_agent
    maybe_text,  # ip
)


@given(fields)
def test_seal_gives_the_receipt_compute_receipt_gives(values):
    record = seal(*values)
    assert record == ConsentRecord(*values, compute_receipt(*values))
    assert verify_receipt(record)


def test_seal_does_not_confuse_an_integer_gpc_with_true():
    base = ("t", "id", 1, "privacy", "2026-11-24", "vi", "ab" * 32, "custom", "{}")
    seal(*base, True, None, None, None)  # caches the run with gpc true
    odd = (*base, 1, None, None, None)
    assert seal(*odd).receipt == compute_receipt(*odd)


@settings(max_examples=200, deadline=None)
@given(fields, st.one_of(st.none(), st.just("sha256:" + "ab" * 32)))
def test_the_hot_path_leaf_and_receipt_are_the_checked_ones(values, commitment):
    """record_leaf_hash and receipt.to_json write what leaf_data and json.dumps write."""
    import json
    import os

    from policysite.collector.core import leaf, receipt
    from policysite.collector.core.tree_log import Logged

    record = seal(*values)
    assert leaf.record_leaf_hash(record, commitment) == leaf.leaf_hash(
        leaf.record_fields(record, commitment)
    )
    logged = Logged(3, commitment, os.urandom(32), os.urandom(64), "log\n4\nabc\n\n— log x\n")
    expected = json.dumps(
        receipt.from_logged(record, logged), separators=(",", ":"), ensure_ascii=False
    )
    assert receipt.to_json(record, logged) == expected
