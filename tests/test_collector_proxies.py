"""X-Forwarded-For is believed only from explicit proxies, and then only its right-most hop that
is not one (docs/collector.md, "Behind a proxy"). A real store: the stored `ip` is checked."""

from __future__ import annotations

import sqlite3

import pytest
from collector_fixtures.support import (
    Collector,
    body,
    post_many,
    start_collector,
    stop_collector,
)

from policysite.collector.core.addresses import LOOPBACK, default_trusted_proxies
from policysite.collector.core.settings import CollectorSettings


def stored_ips(db) -> list[str | None]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT ip FROM consents ORDER BY id")]


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("127.0.0.1", LOOPBACK),
        ("127.0.0.2", LOOPBACK),
        ("::1", LOOPBACK),
        ("localhost", LOOPBACK),
        ("0.0.0.0", ()),
        ("::", ()),
        ("203.0.113.5", ()),
        ("ximgo.com", ()),
    ],
)
def test_the_default_proxies_depend_on_the_address_listened_on(host, trusted):
    assert default_trusted_proxies(host) == trusted


@pytest.fixture
def behind_nginx(tmp_path):
    """A collector whose proxies are nginx on this host and a load balancer network."""
    db = tmp_path / "consents.sqlite3"
    settings = CollectorSettings(rate_limit="0", forwarded_allow_ips=("127.0.0.1", "10.0.0.0/8"))
    client = Collector(str(db), settings=settings)
    yield client, db
    client.close()


@pytest.mark.parametrize(
    ("forwarded", "stored"),
    [
        ("198.51.100.7", "198.51.100.0/24"),
        # the right-most hop that is not a proxy; what is left of it anyone could have written
        ("192.0.2.1, 198.51.100.7, 10.1.2.3", "198.51.100.0/24"),
        ("not-an-ip, 198.51.100.7", "198.51.100.0/24"),
        ("198.51.100.7:51234", "198.51.100.0/24"),
        ("[2001:db8:1:2::7]:443", "2001:db8:1::/48"),
        ("2001:db8:1:2::7", "2001:db8:1::/48"),
        ("198.51.100.7,, ", "198.51.100.0/24"),
        ("10.9.9.9, 10.1.2.3", "10.9.9.0/24"),  # every hop a proxy: the left-most
    ],
)
def test_the_right_most_untrusted_hop_is_the_client(behind_nginx, forwarded, stored):
    client, db = behind_nginx
    response = client.post(body(), headers={"x-forwarded-for": forwarded}, client_ip="127.0.0.1")
    assert response.status_code == 201
    assert stored_ips(db) == [stored]


@pytest.mark.parametrize("forwarded", ["junk1", "198.51.100.7, junk", "999.1.1.1", "1.2.3.4.5"])
def test_an_unparseable_hop_that_must_be_read_is_400_and_stores_nothing(behind_nginx, forwarded):
    client, db = behind_nginx
    response = client.post(body(), headers={"x-forwarded-for": forwarded}, client_ip="127.0.0.1")
    assert response.status_code == 400
    assert "X-Forwarded-For" in response.json()["error"]
    gets = client.request(
        "GET", f"/api/consent/{body()['consent_id']}",
        headers={"x-forwarded-for": forwarded}, client_ip="127.0.0.1",
    )  # fmt: skip
    assert gets.status_code == 400
    assert stored_ips(db) == []


def test_a_client_that_is_not_a_proxy_cannot_choose_its_address(behind_nginx):
    client, db = behind_nginx
    for forwarded in ("198.51.100.7", "junk1"):  # ignored, not even parsed
        response = client.post(
            body(), headers={"x-forwarded-for": forwarded}, client_ip="203.0.113.9"
        )
        assert response.status_code == 201
    assert stored_ips(db) == ["203.0.113.0/24", "203.0.113.0/24"]


def test_rotating_x_forwarded_for_does_not_escape_the_rate_limit(tmp_path):
    settings = CollectorSettings(rate_limit="1/min", burst=2, forwarded_allow_ips=())
    client = Collector(str(tmp_path / "c.sqlite3"), settings=settings)
    try:
        statuses = [
            client.post(
                body(), headers={"x-forwarded-for": f"198.51.100.{i}"}, client_ip="127.0.0.1"
            ).status_code
            for i in range(4)
        ]
    finally:
        client.close()
    assert statuses == [201, 201, 429, 429]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("host", "options", "stored"),
    [
        ("127.0.0.1", (), "198.51.100.0/24"),  # nginx on this host: believed
        ("0.0.0.0", (), "127.0.0.0/24"),  # public: nobody is a proxy unless named
        ("0.0.0.0", ("--forwarded-allow-ips", "127.0.0.1"), "198.51.100.0/24"),
        ("127.0.0.1", ("--forwarded-allow-ips", ""), "127.0.0.0/24"),
    ],
)
def test_collector_trusts_loopback_proxies_only_when_it_listens_on_loopback(
    tmp_path, host, options, stored
):
    process, port, _ = start_collector(tmp_path, "--host", host, *options)
    try:
        assert post_many(port, 1, {"x-forwarded-for": "198.51.100.7"}) == [201]
    finally:
        stop_collector(process)
    assert stored_ips(tmp_path / "c.sqlite3") == [stored]


@pytest.mark.slow
def test_collector_warns_when_a_public_collector_believes_anyone(tmp_path):
    process, _, log = start_collector(tmp_path, "--host", "0.0.0.0", "--forwarded-allow-ips", "*")
    stop_collector(process)
    assert "warning: --forwarded-allow-ips * on 0.0.0.0" in log.read_text("utf-8")
