"""seal(), the hot path's receipt, writes exactly what compute_receipt() writes."""

from __future__ import annotations

from hypothesis import given
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
