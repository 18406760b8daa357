"""HTTP semantics of the collector (openapi.yaml, docs/collector.md) through the real ASGI app
on a real SQLite store."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import time
import uuid

import pytest
from collector_fixtures.support import (
    ORIGIN,
    SHA_EN,
    SHA_NEXT_VI,
    SHA_VI,
    SITE,
    Collector,
    body,
    check_receipt,
    write_policy,
)

from policysite.collector.core.record import verify_receipt
from policysite.collector.core.settings import CollectorSettings


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "var" / "consents.sqlite3")


@pytest.fixture
def collector(db):
    client = Collector(db)
    yield client
    client.close()


def rows(db: str) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM consents ORDER BY id").fetchall()


def test_collector_stores_consent_and_answers_201_with_receipt(collector, db):
    data = body(page="/chinh-sach-bao-mat/?utm_source=mail#muc-3")
    response = collector.post(data, headers={"user-agent": "Firefox/140"})
    assert response.status_code == 201
    reply = response.json()
    assert set(reply) == {"receipt", "received_at"}
    [row] = rows(db)
    assert row["received_at"] == reply["received_at"] == reply["receipt"]["record"]["received_at"]
    proven = check_receipt(reply["receipt"], db)  # offline, with the log's public key only
    assert (proven.consent_id, proven.seq, proven.leaf_index) == (data["consent_id"], 1, 0)
    assert row["leaf_index"] == 0 and proven.tree_size == 1
    assert "ip" not in reply["receipt"]["record"]
    assert row["consent_id"] == data["consent_id"] and row["seq"] == 1
    assert row["policy_sha256"] == SHA_VI
    assert json.loads(row["choices"]) == data["choices"]
    assert row["page"] == "/chinh-sach-bao-mat/"
    assert row["user_agent"] == "Firefox/140"
    assert row["ip"] == "203.0.113.0/24"
    [stored] = collector.service.store.records_for(data["consent_id"])
    assert verify_receipt(stored)


def test_collector_records_the_sha256_of_the_text_consented_to(collector, db):
    assert collector.post(body(language="en")).status_code == 201
    # 2027-01-01 has no English text yet: the Vietnamese text, which prevails, is recorded.
    assert collector.post(body(language="en", version="2027-01-01")).status_code == 201
    assert [row["policy_sha256"] for row in rows(db)] == [SHA_EN, SHA_NEXT_VI]


def test_collector_repeat_of_same_seq_gets_200_and_same_receipt(collector, db):
    data = body()
    first = collector.post(data)
    again = collector.post(data, headers={"user-agent": "a later retry from the queue"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(rows(db)) == 1


def test_collector_same_seq_with_another_decision_is_409(collector, db):
    data = body()
    assert collector.post(data).status_code == 201
    rejected = {"necessary": True, "analytics": False, "advertising": False}
    response = collector.post({**data, "action": "reject_all", "choices": rejected})
    assert response.status_code == 409
    assert response.json()["field"] == "seq"
    later = {**data, "seq": 2, "action": "reject_all", "choices": rejected}
    assert collector.post(later).status_code == 201
    assert [row["action"] for row in rows(db)] == ["custom", "reject_all"]


def test_collector_accepts_application_json(collector):
    response = collector.request("POST", "/api/consent", json=body(), headers={"origin": ORIGIN})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"referrer": "x"}, "referrer"),
        ({"document": "terms"}, "document"),
        ({"version": "2025-01-01"}, "version"),
        ({"language": "fr"}, "language"),
        ({"choices": {"necessary": True, "analytics": True, "advertising": False, "x": True}},
         "choices.x"),
        ({"seq": 0}, "seq"),
        ({"page": "https://evil.example/"}, "page"),
        ({"action": "reject_all"}, "action"),  # body()'s choices grant analytics
    ],
)  # fmt: skip
def test_collector_rejects_bad_body_with_400_naming_the_field(collector, db, changes, field):
    response = collector.post(body(**changes))
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["error"]
    assert rows(db) == []


def test_collector_rejects_a_duplicated_key_with_400_naming_it(collector, db):
    text = json.dumps(body(seq=1)).replace('"seq": 1', '"seq": 1, "seq": 2')
    response = collector.request(
        "POST",
        "/api/consent",
        content=text,
        headers={"content-type": "text/plain", "origin": ORIGIN},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "seq"
    assert rows(db) == []


def test_collector_rejects_body_that_is_not_json(collector):
    response = collector.request(
        "POST", "/api/consent", content=b"{not json", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["field"] is None


def test_collector_body_limit_is_4_kib(collector):
    data = body()
    data["page"] = "/"
    base = len(json.dumps(data).encode())
    data["page"] = "/" + "a" * (4096 - base)
    exactly = json.dumps(data).encode()
    assert len(exactly) == 4096
    # A 4 KiB body is accepted as far as size goes (the page is then too long: 400, not 413).
    response = collector.request(
        "POST", "/api/consent", content=exactly, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400 and response.json()["field"] == "page"
    response = collector.request(
        "POST", "/api/consent", content=exactly + b" ", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type",
    [None, "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "text/plain; charset=ISO-8859-1"],
)  # fmt: skip
def test_collector_wrong_content_type_is_415(collector, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = collector.request(
        "POST", "/api/consent", content=json.dumps(body()).encode(), headers=headers
    )
    assert response.status_code == 415


def test_collector_refuses_origin_not_allowed_with_403_and_no_cors(collector, db):
    for origin in ("https://evil.example", "null", "http://ximgo.com"):
        response = collector.post(body(), headers={"origin": origin})
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
    assert rows(db) == []


def test_collector_answers_cors_only_for_allowed_origins(collector):
    response = collector.post(body(), headers={"origin": "https://www.ximgo.com"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "https://www.ximgo.com"
    assert response.headers["vary"] == "origin"
    # Without Origin (curl, a server) the request is not a browser's cross-site one: no CORS.
    response = collector.post(body(), headers={"origin": None})
    assert response.status_code == 201
    assert "access-control-allow-origin" not in response.headers


def test_collector_extra_origins_are_allowed(db):
    client = Collector(db, extra_origins=("http://127.0.0.1:8000",))
    try:
        response = client.post(body(), headers={"origin": "http://127.0.0.1:8000"})
        assert response.status_code == 201
        assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    finally:
        client.close()


def test_collector_preflight_for_allowed_origin_only(collector):
    headers = {"origin": ORIGIN, "access-control-request-method": "POST"}
    response = collector.request("OPTIONS", "/api/consent", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "content-type"
    headers["origin"] = "https://evil.example"
    response = collector.request("OPTIONS", "/api/consent", headers=headers)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_collector_get_returns_that_browsers_records_without_ip(collector):
    data = body()
    collector.post(data)
    rejected = {"necessary": True, "analytics": False, "advertising": False}
    collector.post({**data, "seq": 2, "action": "reject_all", "choices": rejected})
    collector.post(body())  # another browser
    response = collector.request("GET", f"/api/consent/{data['consent_id'].upper()}")
    assert response.status_code == 200
    reply = response.json()
    assert reply["consent_id"] == data["consent_id"]
    assert [r["seq"] for r in reply["records"]] == [1, 2]
    assert [r["action"] for r in reply["records"]] == ["custom", "reject_all"]
    assert all("ip" not in r for r in reply["records"])
    assert "203.0.113" not in response.text
    unknown = collector.request("GET", f"/api/consent/{uuid.uuid4()}")
    assert unknown.status_code == 200 and unknown.json()["records"] == []
    bad = collector.request("GET", "/api/consent/not-a-uuid")
    assert bad.status_code == 400 and bad.json()["field"] == "consent_id"


def test_collector_health_and_unknown_paths_and_methods(collector):
    assert collector.request("GET", "/api/health").json() == {"status": "ok", "store": "sqlite"}
    assert collector.request("GET", "/api/nothing").status_code == 404
    assert collector.request("GET", "/").status_code == 404
    response = collector.request("GET", "/api/consent")
    assert response.status_code == 405 and response.headers["allow"] == "POST, OPTIONS"
    response = collector.request("DELETE", f"/api/consent/{uuid.uuid4()}")
    assert response.status_code == 405 and response.headers["allow"] == "GET, OPTIONS"
    assert collector.request("POST", "/api/health").status_code == 405


def test_collector_default_rate_limit_lets_a_shared_carrier_network_through(db):
    # A mobile carrier's CGNAT puts many visitors in one /24: a busy minute must not see a 429.
    assert (CollectorSettings().rate_limit, CollectorSettings().burst) == ("600/min", 120)
    client = Collector(db, settings=CollectorSettings())
    try:
        statuses = {
            client.post(body(), client_ip=f"203.0.113.{i % 250 + 1}").status_code
            for i in range(120)
        }
        assert statuses == {201}
    finally:
        client.close()


def test_collector_rate_limits_per_client_network_with_retry_after(db):
    client = Collector(db, settings=CollectorSettings(rate_limit="1/min", burst=3))
    try:
        statuses = [client.post(body()).status_code for _ in range(3)]
        assert statuses == [201, 201, 201]
        limited = client.post(body(), client_ip="203.0.113.99")  # same /24
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert client.post(body(), client_ip="198.51.100.1").status_code == 201
    finally:
        client.close()


def test_collector_trusts_x_forwarded_for_only_from_trusted_proxies(db):
    client = Collector(db, settings=CollectorSettings(rate_limit="0"))
    try:
        forwarded = {"x-forwarded-for": "192.0.2.200, 198.51.100.23"}
        client.post(body(), headers=forwarded, client_ip="127.0.0.1")  # nginx on this host
        client.post(body(), headers=forwarded, client_ip="203.0.113.7")  # a client lying
        client.post(body(), client_ip="2001:db8:abcd:12::1")
    finally:
        client.close()
    assert [row["ip"] for row in rows(db)] == [
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001:db8:abcd::/48",
    ]


def test_collector_can_store_a_keyed_hash_of_the_ip_instead(db):
    key = "k" * 32
    client = Collector(db, settings=CollectorSettings(rate_limit="0", ip_hmac_key=key))
    try:
        assert client.post(body()).status_code == 201
    finally:
        client.close()
    expected = hmac.new(key.encode(), bytes([203, 0, 113, 7]), hashlib.sha256).hexdigest()
    assert rows(db)[0]["ip"] == f"hmac-sha256:{expected}"


def test_collector_cuts_user_agent_to_256_characters(collector, db):
    collector.post(body(), headers={"user-agent": "Mozilla/5.0 " + "x" * 500})
    assert rows(db)[0]["user_agent"] == ("Mozilla/5.0 " + "x" * 500)[:256]


def test_collector_picks_up_a_rebuilt_policy_without_restart(tmp_path, db):
    site = tmp_path / "site"
    write_policy(site)
    client = Collector(db, site)
    try:
        assert client.post(body(version="2027-02-01")).status_code == 400

        def add_version(data: dict) -> None:
            data["documents"]["privacy"]["versions"].append(
                {"version": "2027-02-01", "effective": "2027-02-01", "status": "upcoming",
                 "summary": "x", "reconsent": False,
                 "languages": {"vi": {"url": "u", "title": "t", "sha256": "4" * 64}}}
            )  # fmt: skip

        write_policy(site, add_version)
        deadline = time.monotonic() + 10  # the service stats policy.json at most once a second
        while client.post(body(version="2027-02-01")).status_code != 201:
            assert time.monotonic() < deadline, "policy.json was not reloaded"
            time.sleep(0.2)
    finally:
        client.close()


def _unavailable_then_back(client: Collector, db: str, break_it, repair) -> None:
    assert client.post(body()).status_code == 201
    break_it()
    try:
        response = client.post(body())
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert client.request("GET", "/api/health").status_code == 503
    finally:
        repair()
    assert client.post(body()).status_code == 201
    assert client.request("GET", "/api/health").status_code == 200
    assert len(rows(db)) == 2


def test_collector_answers_503_while_sqlite_file_is_read_only_then_resumes(collector, db):
    _unavailable_then_back(collector, db, lambda: os.chmod(db, 0o444), lambda: os.chmod(db, 0o644))


def test_collector_answers_503_while_sqlite_folder_is_read_only_then_resumes(collector, db):
    folder = os.path.dirname(db)
    _unavailable_then_back(
        collector, db, lambda: os.chmod(folder, 0o555), lambda: os.chmod(folder, 0o755)
    )


def test_collector_answers_503_while_sqlite_file_is_gone_then_resumes(collector, db):
    moved = db + ".moved"
    _unavailable_then_back(
        collector, db, lambda: os.rename(db, moved), lambda: os.rename(moved, db)
    )


def test_collector_takes_settings_from_environment_by_default(db, monkeypatch):
    monkeypatch.setenv("POLICYSITE_RATE_LIMIT", "1/h")
    monkeypatch.setenv("POLICYSITE_RATE_BURST", "2")
    client = Collector(db, settings=None)
    try:
        assert [client.post(body()).status_code for _ in range(3)] == [201, 201, 429]
    finally:
        client.close()


def test_lifespan_opens_the_service_and_tunes_the_garbage_collector(db):
    import asyncio
    import gc

    from policysite.collector.http.asgi import create_app

    app = create_app(db, SITE, settings=CollectorSettings(rate_limit="0"))
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []
    frozen: list[int] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)
        frozen.append(gc.get_freeze_count())
        thresholds.append(gc.get_threshold())

    thresholds: list[tuple[int, int, int]] = []
    before = gc.get_threshold()
    gc.unfreeze()
    try:
        asyncio.run(app({"type": "lifespan"}, receive, send))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert frozen[0] > 1000  # the modules and the service: a full collection skips them
    assert thresholds[0] == (20_000, *before[1:])  # young collections far apart
    assert app.service is None  # closed at shutdown


@pytest.mark.parametrize(
    "text",
    [
        '{"\\ud800": 1}',  # a lone surrogate as a field name
        json.dumps(body()).replace('"analytics"', '"\\udfff"'),  # … as a category name
        json.dumps(body()).replace('"custom"', '"\\ud83d"'),  # … as a value
    ],
    ids=["field-name", "category-name", "value"],  # body() draws a new consent id each time
)
def test_collector_answers_400_to_a_lone_surrogate_with_json_it_can_send(collector, db, text):
    response = collector.request(
        "POST", "/api/consent", content=text.encode("ascii"),
        headers={"content-type": "text/plain", "origin": ORIGIN},
    )  # fmt: skip
    assert response.status_code == 400
    answer = json.loads(response.content.decode("ascii"))  # escaped, so plain ASCII
    assert answer["error"] and answer["field"]
    assert rows(db) == []


@pytest.mark.parametrize(
    "consent_id",
    [
        "00000000-0000-0000-0000-000000000000",  # the nil UUID
        "c232ab00-9414-11ec-b3c8-9f6bdeced846",  # version 1: the time and a MAC address
        "0f8fad5b-d9cb-369f-a165-70867728950e",  # version 3
        "0f8fad5b-d9cb-469f-c165-70867728950e",  # version 4 digit, but not the RFC variant
    ],
)
def test_collector_accepts_only_random_version_4_consent_ids(collector, db, consent_id):
    response = collector.post(body(consent_id=consent_id))
    assert response.status_code == 400
    assert response.json()["field"] == "consent_id"
    assert "version 4" in response.json()["error"]
    assert collector.request("GET", f"/api/consent/{consent_id}").status_code == 400
    assert rows(db) == []
