"""No client input gets a 5xx: arbitrary JSON, bytes, ids, headers, paths and methods are sent
through the real ASGI app onto a real SQLite file (docs/collector.md).

Every answer below 500 is JSON with an "error" text unless it is a success, and a consent is
stored (201) exactly when the validator accepts its body: the row count says so.
"""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import quote

import pytest
from collector_fixtures.support import ORIGIN, SITE, Collector, body
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policysite.collector.core.policy import load_policy
from policysite.collector.core.settings import CollectorSettings
from policysite.collector.core.validation import (
    FIELDS,
    PAGE_PATTERN,
    FieldError,
    validate_consent,
)
from policysite.collector.http.messages import MAX_BODY

POLICY = load_policy(SITE / "policy.json")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run, so CI is deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Characters that broke or could break encoders, parsers and stores: lone surrogates (sent as
# "\ud800" escapes), NUL and other controls, separators JavaScript treats as line ends, a BOM,
# the last code point, a backslash and a quote.
ODD_CHARACTERS = ["\ud800", "\udfff", "\udc00", "\x00", "\x1f", "\x7f", "\u2028", "\ufeff",
                  "\U0010ffff", "\\", '"', "é", "/", "?", "#", " "]  # fmt: skip
ODD = st.sampled_from(ODD_CHARACTERS)
CHARACTERS = st.characters() | ODD
TEXT = st.text(CHARACTERS, max_size=24) | st.builds(
    lambda piece, n: piece * n, st.text(CHARACTERS, min_size=1, max_size=3), st.integers(1, 3000)
)
NUMBERS = (
    st.integers(-(10**400), 10**400)
    | st.floats()  # json.dumps writes NaN and Infinity, which are not JSON
    | st.sampled_from([0, -1, 1, 2**53 - 1, 2**53, 2**63, -(2**63), 1e308, 5e-324, 7.0])
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# Number texts json.dumps cannot write: out of float range, thousands of digits, odd syntax.
NUMBER_TEXTS = ["1e999999", "-1e400", "9" * 4000, "-" + "1" * 4000, "1.0e-99999", "01",
                "1.", ".5", "+1", "0x10", "1_000", "Infinity", "-Infinity", "NaN", "1e+",
                "--1"]  # fmt: skip
RAW_NUMBERS = st.sampled_from(NUMBER_TEXTS)


def encoded(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def replaced(data: dict, field: str, value: object) -> dict:
    """The body with one field (or, under "choices.", one category) set to `value`."""
    if field.startswith("choices."):
        data["choices"][field.removeprefix("choices.")] = value
    else:
        data[field] = value
    return data


FIELD_NAMES = st.sampled_from(
    [*sorted(FIELDS), "choices.necessary", "choices.analytics", "choices.ads", "\ud800", ""]
)
# Bodies near the edge of valid: every seq bound, both gpc values, pages valid or nearly.
NEAR_VALID = st.builds(
    lambda seq, gpc, page: encoded(body(seq=seq, gpc=gpc, page=page)),
    st.integers(-2, 3) | st.integers(2**53 - 3, 2**53 + 2),
    st.booleans(),
    st.from_regex(PAGE_PATTERN, fullmatch=True) | TEXT.map(lambda t: "/" + t),
)
BODIES = st.one_of(
    NEAR_VALID,
    JSON_VALUES.map(encoded),
    st.binary(max_size=64),
    st.binary(min_size=MAX_BODY - 8, max_size=MAX_BODY + 8),
    st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b'{"seq":"\xe9"}', b"\xef\xbb\xbf{}"]),
    st.builds(lambda f, v: encoded(replaced(body(), f, v)), FIELD_NAMES, JSON_VALUES),
    st.builds(
        lambda f, v: encoded(replaced(body(), f, 0)).replace(b": 0", b": " + v.encode(), 1),
        FIELD_NAMES.filter(lambda f: f.isidentifier()),
        RAW_NUMBERS,
    ),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 3000)),
    st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(1, 800)),
)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz") / "consents.sqlite3")


@pytest.fixture(scope="module")
def collector(db):
    client = Collector(db)
    yield client
    client.close()


def stored(db: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM consents").fetchone()[0]


def assert_json_error(response) -> None:
    """A refusal says why in JSON: {"error": "..."}."""
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str)


@FUZZ
@given(raw=BODIES, content_type=st.sampled_from(["text/plain;charset=UTF-8", "application/json"]))
def test_any_body_gets_the_validators_answer_and_a_201_only_when_it_is_valid(
    collector, db, raw, content_type
):
    before = stored(db)
    response = collector.request(
        "POST",
        "/api/consent",
        content=raw,
        headers={"content-type": content_type, "origin": ORIGIN},
    )
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")
    if len(raw) > MAX_BODY:
        assert response.status_code == 413
        assert_json_error(response)
        assert stored(db) == before
        return
    try:
        consent = validate_consent(raw, POLICY)
    except FieldError as error:
        assert response.status_code == 400
        assert_json_error(response)
        assert response.json()["field"] == error.field
        assert stored(db) == before
        return
    assert response.status_code in (200, 201, 409), response.text
    assert stored(db) == before + (response.status_code == 201)
    if response.status_code == 201:
        records = collector.request("GET", f"/api/consent/{consent.consent_id}").json()["records"]
        assert [r["seq"] for r in records] == [consent.seq]


def test_a_body_with_a_lone_surrogate_anywhere_is_a_400_in_json(collector):
    for raw in (b'{"\\ud800":1}', encoded(body(choices={"\ud800": True})),
                encoded(body(page="/\ud800")), encoded(body(language="\udfff"))):  # fmt: skip
        response = collector.request(
            "POST", "/api/consent", content=raw, headers={"content-type": "text/plain"}
        )
        assert response.status_code == 400, raw
        assert_json_error(response)


@FUZZ
@given(
    st.text(CHARACTERS, max_size=80)
    | st.uuids().map(str)
    | st.uuids(version=4).map(str).map(str.upper)
)
def test_any_consent_id_in_the_path_gets_a_json_answer(collector, raw_id):
    path = "/api/consent/" + quote(raw_id, safe="", errors="surrogatepass")
    response = collector.request("GET", path)
    assert response.status_code in (200, 400, 404), response.text
    event(f"status {response.status_code}")
    if response.status_code != 200:
        assert_json_error(response)


METHODS = st.sampled_from(
    ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "get", "X"]
)
ODD_PATHS = ["/api/consent", "/api/consent/", "/api/health", "/api/health/", "/api", "/",
             "//api/consent", "/api/consent/0f8fad5b-d9cb-469f-a165-70867728950e",
             "/api/consent/x/y", "/API/CONSENT", "/api/consent%00", "/api/%2e%2e/health",
             "/api/consent/%ed%a0%80"]  # fmt: skip
PATHS = st.sampled_from(ODD_PATHS) | st.text(CHARACTERS, max_size=40).map(
    lambda t: "/" + quote(t, safe="/", errors="surrogatepass")
)
HEADER_TEXT = st.text(
    st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=300
).map(lambda t: t.encode("latin-1"))


@FUZZ
@given(
    method=METHODS,
    path=PATHS,
    headers=st.dictionaries(
        st.sampled_from(["origin", "content-type", "user-agent", "x-forwarded-for", "x-odd"]),
        HEADER_TEXT,
        max_size=4,
    ),
    raw=BODIES,
)
def test_any_method_path_and_headers_get_an_answer_below_500(collector, method, path, headers, raw):
    response = collector.request(method, path, content=raw, headers=headers, client_ip="127.0.0.1")
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")
    if response.status_code >= 400:
        assert_json_error(response)
    if response.status_code == 405:
        assert response.headers["allow"]


@FUZZ
@given(
    forwarded=HEADER_TEXT
    | st.lists(
        st.ip_addresses().map(str) | HEADER_TEXT.map(lambda b: b.decode("latin-1")), max_size=4
    ).map(lambda hops: ", ".join(hops).encode("latin-1", "replace")),
    origin=st.just(ORIGIN.encode()) | HEADER_TEXT,
)
def test_any_forwarded_for_from_a_trusted_proxy_gets_an_answer_below_500(
    proxied, forwarded, origin
):
    response = proxied.post(
        body(), headers={"x-forwarded-for": forwarded, "origin": origin}, client_ip="127.0.0.1"
    )
    assert response.status_code in (201, 400, 403, 429), response.text
    event(f"status {response.status_code}")
    if response.status_code != 201:
        assert_json_error(response)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    db = tmp_path_factory.mktemp("proxied") / "consents.sqlite3"
    client = Collector(
        str(db), settings=CollectorSettings(rate_limit="5/s", forwarded_allow_ips=("127.0.0.1",))
    )
    yield client
    client.close()
