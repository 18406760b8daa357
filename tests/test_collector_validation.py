"""The consent validator: valid bodies pass, every mutation names its field.

The fields are openapi.yaml's; docs/collector.md, *What a body must say*, adds two rules."""

from __future__ import annotations

import json

import pytest
from collector_fixtures.support import SHA_NEXT_VI, SHA_VI, SITE, body
from hypothesis import given, settings
from hypothesis import strategies as st

from policysite.collector.core.policy import load_policy
from policysite.collector.core.validation import FieldError, validate_consent

POLICY = load_policy(SITE / "policy.json")
CATEGORIES = ("necessary", "analytics", "advertising")


def validate(data: object):
    return validate_consent(json.dumps(data).encode(), POLICY)


def field_of(data: object) -> str | None:
    with pytest.raises(FieldError) as caught:
        validate(data)
    return caught.value.field


def test_validate_returns_the_consent_with_sha256_of_the_text():
    data = body(
        page="/en/privacy-policy/?ref=x#cookies", consent_id="0F8FAD5B-D9CB-469F-A165-70867728950E"
    )
    consent = validate(data)
    assert consent.consent_id == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert consent.page == "/en/privacy-policy/"
    assert consent.policy_sha256 == SHA_VI
    assert consent.choices == data["choices"]
    assert validate(body(gpc=None, page=None)).gpc is None


def test_validate_reads_an_integral_number_as_the_integer_seq():
    # 7.0 and 7 are one JSON number (and one JSON Schema integer): the widget sends 7.
    consent = validate_consent(
        json.dumps(body(seq=7)).replace('"seq": 7', '"seq": 7.0').encode(), POLICY
    )
    assert consent.seq == 7 and type(consent.seq) is int


def test_validate_keeps_a_query_string_or_backslash_after_the_path_out_of_page():
    assert validate(body(page="/a/?q=\\x#f")).page == "/a/"
    assert validate(body(page="/a%20b/")).page == "/a%20b/"


def test_validate_uses_default_language_text_when_translation_lags():
    assert validate(body(version="2027-01-01", language="en")).policy_sha256 == SHA_NEXT_VI


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"consent_id": "not-a-uuid"}, "consent_id"),
        ({"consent_id": "0f8fad5bd9cb469fa16570867728950e"}, "consent_id"),
        ({"seq": True}, "seq"),
        ({"seq": 1.5}, "seq"),
        ({"seq": 2**53}, "seq"),
        ({"document": ["privacy"]}, "document"),
        ({"version": "24/11/2026"}, "version"),
        ({"version": "2026-11-25"}, "version"),
        ({"language": "VI"}, "language"),
        ({"action": "accept"}, "action"),
        ({"action": {"x": 1}}, "action"),
        ({"gpc": "yes"}, "gpc"),
        ({"page": "chinh-sach-bao-mat"}, "page"),
        ({"page": "//evil.example/"}, "page"),
        ({"page": "/a b"}, "page"),
        ({"page": "/chính-sách/"}, "page"),  # location.pathname is percent-encoded
        ({"page": "/a\tb"}, "page"),
        ({"page": "/a\\b?c"}, "page"),
        ({"page": "/a?" + "x" * 1024}, "page"),  # too long with its query string
        ({"seq": 1.5e300}, "seq"),
        ({"choices": []}, "choices"),
        ({"choices": {"necessary": False, "analytics": True, "advertising": True}},
         "choices.necessary"),
        ({"choices": {"necessary": True, "analytics": 1, "advertising": True}},
         "choices.analytics"),
        ({"choices": {"necessary": True, "analytics": True}}, "choices.advertising"),
        ({"consent_id": None}, "consent_id"),
        ({"action": None}, "action"),
        ({"extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_validate_names_the_field_that_is_wrong(changes, field):
    assert field_of(body(**changes)) == field


@pytest.mark.parametrize(
    "raw", [b"", b"[]", b'"x"', b"{", b"\xff\xfe", b'{"seq": NaN}', b"[" * 5000, b"null"]
)
def test_validate_rejects_what_is_not_a_json_object_as_a_body_error(raw):
    with pytest.raises(FieldError) as caught:
        validate_consent(raw, POLICY)
    assert caught.value.field is None


def test_validate_rejects_a_duplicated_key_naming_it():
    text = json.dumps(body(seq=1))
    with pytest.raises(FieldError) as caught:
        validate_consent(text.replace('"seq": 1', '"seq": 1, "seq": 2').encode(), POLICY)
    assert caught.value.field == "seq"
    assert "appears twice" in caught.value.message
    twice = text.replace('"analytics": true', '"analytics": true, "analytics": false')
    with pytest.raises(FieldError) as caught:
        validate_consent(twice.encode(), POLICY)
    assert caught.value.field == "choices.analytics"


ALL_ON = {"necessary": True, "analytics": True, "advertising": True}
ALL_OFF = {"necessary": True, "analytics": False, "advertising": False}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "reject_all", "choices": ALL_OFF | {"analytics": True}},
         "reject_all contradicts choices.analytics: true"),
        ({"action": "accept_all", "choices": ALL_ON | {"analytics": False}},
         "accept_all contradicts choices.analytics: false"),
        ({"action": "accept_all", "choices": ALL_ON | {"advertising": False}, "gpc": False},
         "accept_all contradicts choices.advertising: false"),
        ({"action": "accept_all", "choices": ALL_ON | {"advertising": False}, "gpc": None},
         "accept_all contradicts choices.advertising: false"),
        ({"action": "accept_all", "choices": ALL_OFF | {"advertising": True}, "gpc": True},
         "accept_all contradicts choices.analytics: false"),
        ({"action": "reject_all", "choices": ALL_OFF | {"advertising": True}, "gpc": True},
         "reject_all contradicts choices.advertising: true"),
    ],
)  # fmt: skip
def test_validate_rejects_an_action_its_choices_contradict(changes, message):
    with pytest.raises(FieldError) as caught:
        validate(body(**changes))
    assert caught.value.field == "action"
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "accept_all", "choices": ALL_ON},
        {"action": "reject_all", "choices": ALL_OFF},
        {"action": "reject_all", "choices": ALL_OFF, "gpc": True},
        # Under GPC the widget's "accept all" leaves advertising off (docs/widget.md) ...
        {"action": "accept_all", "choices": ALL_ON | {"advertising": False}, "gpc": True},
        # ... and a visitor may still have turned it on before accepting.
        {"action": "accept_all", "choices": ALL_ON, "gpc": True},
        {"action": "custom", "choices": ALL_ON},
        {"action": "custom", "choices": ALL_OFF},
    ],
)
def test_validate_accepts_actions_that_agree_with_their_choices(changes):
    assert validate(body(**changes)).action == changes["action"]


# --- properties -----------------------------------------------------------------------------

PAGES = st.from_regex(r"/([a-z0-9\-]{1,12}/){0,3}(\?[a-z=&]{0,10})?(#[a-z]{0,10})?", fullmatch=True)
VERSIONS = ("2026-11-24", "2027-01-01")
ACTIONS = ("accept_all", "reject_all", "custom")


def agreeing(data: dict) -> dict:
    """Make choices agree with the action, as the widget sends them (GPC keeps advertising off)."""
    if data["action"] != "custom":
        on = data["action"] == "accept_all"
        data["choices"] = {c: c == "necessary" or on for c in CATEGORIES}
        if on and data.get("gpc"):
            data["choices"]["advertising"] = False
    return data


valid_bodies = st.fixed_dictionaries(
    {
        "consent_id": st.uuids(version=4).map(str),
        "seq": st.integers(1, 2**53 - 1),
        "document": st.just("privacy"),
        "version": st.sampled_from(VERSIONS),
        "language": st.sampled_from(["vi", "en"]),
        "choices": st.fixed_dictionaries(
            {"necessary": st.just(True), "analytics": st.booleans(), "advertising": st.booleans()}
        ),
        "action": st.sampled_from(ACTIONS),
    },
    optional={"gpc": st.booleans(), "page": PAGES},
).map(agreeing)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # NaN and Infinity are not JSON
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
not_strings = json_values.filter(lambda v: not isinstance(v, str))

# (field, a value of the wrong kind, or one that policy.json does not list)
bad_values = st.one_of(
    st.tuples(st.just("consent_id"), not_strings | st.text(max_size=20)),
    st.tuples(st.just("seq"), json_values.filter(lambda v: type(v) is not int or v < 1)),
    st.tuples(st.just("document"), json_values.filter(lambda v: v != "privacy")),
    st.tuples(st.just("version"), json_values.filter(lambda v: v not in VERSIONS)),
    st.tuples(st.just("language"), json_values.filter(lambda v: v not in ("vi", "en"))),
    st.tuples(st.just("action"), json_values.filter(lambda v: v not in ACTIONS)),
    st.tuples(st.just("gpc"), json_values.filter(lambda v: type(v) is not bool)),
    st.tuples(st.just("page"), not_strings | st.text(max_size=10).filter(lambda v: v[:1] != "/")),
)


@settings(max_examples=100, deadline=None)
@given(valid_bodies)
def test_property_valid_bodies_are_accepted(data):
    consent = validate(data)
    assert consent.consent_id == data["consent_id"] and consent.seq == data["seq"]
    assert consent.choices == data["choices"]
    if "page" in data:
        assert "?" not in consent.page and "#" not in consent.page


@settings(max_examples=150, deadline=None)
@given(valid_bodies, bad_values)
def test_property_a_bad_value_is_rejected_naming_its_field(data, bad):
    field, value = bad
    assert field_of({**data, field: value}) == field


@settings(max_examples=100, deadline=None)
@given(valid_bodies, st.sampled_from(
    ["consent_id", "seq", "document", "version", "language", "choices", "action"]
))  # fmt: skip
def test_property_a_missing_required_field_is_named(data, field):
    del data[field]
    assert field_of(data) == field


@settings(max_examples=100, deadline=None)
@given(valid_bodies, st.text(min_size=1, max_size=12), json_values)
def test_property_an_unknown_field_is_named(data, name, value):
    if name in data or name in ("gpc", "page"):
        return
    data[name] = value
    assert field_of(data) == name


@settings(max_examples=100, deadline=None)
@given(valid_bodies, st.sampled_from(CATEGORIES), json_values | st.none())
def test_property_a_bad_choice_is_named(data, category, value):
    if type(value) is bool and not (category == "necessary" and value is False):
        return
    data["choices"][category] = value
    assert field_of(data) == f"choices.{category}"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_property_any_body_gives_a_consent_or_a_field_error(raw):
    try:
        validate_consent(raw, POLICY)
    except FieldError as error:
        assert error.field is None or isinstance(error.field, str)
