"""The collector over PostgreSQL: the same HTTP answers, and 503 while the server is down."""

from __future__ import annotations

import psycopg
import pytest
from collector_fixtures.support import Collector, body, fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres) -> str:
    return fresh_database(postgres.url)


@pytest.fixture
def collector(database):
    client = Collector(database)
    yield client
    client.close()


def count(database: str) -> int:
    with psycopg.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM consents").fetchone()[0]


def test_collector_on_postgres_stores_repeats_and_conflicts(collector, database):
    data = body()
    first = collector.post(data)
    assert first.status_code == 201
    assert collector.post(data).json() == first.json()
    assert collector.post(data).status_code == 200
    granted = dict.fromkeys(data["choices"], True)
    assert collector.post({**data, "action": "accept_all", "choices": granted}).status_code == 409
    mine = collector.request("GET", f"/api/consent/{data['consent_id']}").json()
    assert mine["receipts"] == [first.json()["receipt"]]  # nothing was logged since
    assert mine["records"][0]["received_at"] == first.json()["received_at"]
    assert count(database) == 1


def test_collector_answers_503_while_postgres_is_down_then_resumes(postgres, collector, database):
    assert collector.post(body()).status_code == 201
    postgres.stop()
    try:
        response = collector.post(body())
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert collector.request("GET", "/api/health").status_code == 503
    finally:
        postgres.start()
    assert collector.post(body()).status_code == 201  # reconnected by itself
    assert collector.request("GET", "/api/health").status_code == 200
    assert count(database) == 2


def test_collector_runs_as_a_role_that_can_only_insert_and_read(postgres, database, capsys):
    from policysite.cli import main
    from policysite.collector.core.store import open_store

    open_store(database).close()  # the owner creates the schema once
    role = f"collector_{database.rsplit('_', 1)[-1]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT, INSERT ON consents, schema_version TO {role}")
        conn.execute(f"GRANT SELECT, INSERT ON log_batches, log_checkpoints TO {role}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE ON health_probe, log_head TO {role}")
        conn.execute(f"GRANT SELECT ON log_removed TO {role}")
    restricted = database.replace("postgres@", f"{role}@")
    client = Collector(restricted)
    try:
        assert client.post(body()).status_code == 201
        health = client.request("GET", "/api/health").json()
        assert health == {"status": "ok", "store": "postgresql"}
    finally:
        client.close()
    assert main(["consents", "purge", "--db", restricted, "--older-than", "0", "--yes"]) == 1
    assert "permission denied for table consents" in capsys.readouterr().err
    assert count(database) == 1
