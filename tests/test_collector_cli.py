"""`collector` and `consents export|stats|report|purge` on real data (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from collector_fixtures.support import (
    SITE,
    fresh_database,
    make_record,
    start_collector,
    stop_collector,
    write_policy,
)

from policysite.cli import main
from policysite.collector.core.record import COLUMNS, utc_timestamp, verify_receipt
from policysite.collector.core.store import open_store

ROOT = Path(__file__).resolve().parent.parent

# Two ISO weeks, two versions; analytics granted 2 of 4 times, advertising 1 of 4.
DATA = [
    ("2026-11-23T08:00:00.000000Z", "2026-11-24", {"analytics": True}),
    ("2026-11-24T09:00:00.000000Z", "2026-11-24", {}),
    ("2026-11-30T10:00:00.000000Z", "2027-01-01", {"analytics": True, "advertising": True}),
    ("2026-12-01T11:00:00.000000Z", "2027-01-01", {}),
]


def fill(db: str) -> list:
    store = open_store(db)
    records = [make_record(at, version=v, **choices) for at, v, choices in DATA]
    store.insert_batch(records)
    store.close()
    return records


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "consents.sqlite3")
    return fresh_database(request.getfixturevalue("postgres").url)


@pytest.fixture
def db(empty_db) -> str:
    fill(empty_db)
    return empty_db


@pytest.fixture
def sqlite_db(tmp_path) -> str:
    url = str(tmp_path / "consents.sqlite3")
    fill(url)
    return url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_consents_export_csv_with_date_range(db, capsys):
    code, out, _err = run(
        capsys, "consents", "export", "--db", db, "--since", "2026-11-24", "--until", "2026-11-30"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["received_at"] for r in rows] == [DATA[1][0], DATA[2][0]]
    assert json.loads(rows[1]["choices"]) == {
        "advertising": True, "analytics": True, "necessary": True
    }  # fmt: skip
    assert rows[0]["ip"] == "203.0.113.0/24" and rows[0]["gpc"] == ""


def test_consents_export_jsonl_to_a_file(db, tmp_path, capsys):
    target = tmp_path / "out.jsonl"
    code, out, err = run(
        capsys, "consents", "export", "--db", db, "--format", "jsonl", "-o", str(target)
    )
    assert (code, out) == (0, "")
    assert err == f"wrote 4 record(s) to {target}\n"
    lines = target.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["version"] for r in records] == [
        "2026-11-24",
        "2026-11-24",
        "2027-01-01",
        "2027-01-01",
    ]
    assert records[0]["choices"]["analytics"] is True
    # An export carries everything needed to re-check each receipt.
    from policysite.collector.core.record import ConsentRecord, canonical_choices

    for r in records:
        r["choices"] = canonical_choices(r["choices"])
        assert verify_receipt(ConsentRecord(**r))


def test_consents_stats_text_table(db, capsys):
    code, out, _ = run(capsys, "consents", "stats", "--db", db)
    assert code == 0
    assert out.splitlines()[0] == (
        "4 consent decision(s), 2026-11-23T08:00:00.000000Z … 2026-12-01T11:00:00.000000Z (UTC)"
    )
    assert "Actions: reject_all 2 (50.0%), custom 1 (25.0%), accept_all 1 (25.0%)" in out
    assert re.search(r"analytics\s+2\s+4\s+50\.0%", out)
    assert re.search(r"advertising\s+1\s+4\s+25\.0%", out)
    assert re.search(r"privacy 2026-11-24\s+2\s+100\.0%\s+50\.0%\s+0\.0%", out)
    assert re.search(r"privacy 2027-01-01\s+2\s+100\.0%\s+50\.0%\s+50\.0%", out)
    assert re.search(r"2026-W48\s+2\s+100\.0%\s+50\.0%\s+0\.0%", out)
    assert re.search(r"2026-W49\s+2\s+100\.0%\s+50\.0%\s+50\.0%", out)


def test_consents_stats_json(sqlite_db, capsys):
    _code, out, _ = run(
        capsys, "consents", "stats", "--db", sqlite_db, "--json", "--since", "2026-11-30"
    )
    stats = json.loads(out)
    assert stats["total"] == 2
    assert stats["categories"]["advertising"] == {"granted": 1, "decisions": 2, "rate": 0.5}
    assert stats["weeks"] == {
        "2026-W49": {
            "decisions": 2,
            "rates": {"necessary": 1.0, "analytics": 0.5, "advertising": 0.5},
        }
    }


def test_consents_report_is_one_self_contained_html_file(sqlite_db, tmp_path, capsys):
    target = tmp_path / "report.html"
    code, _, err = run(capsys, "consents", "report", "--db", sqlite_db, "-o", str(target))
    assert code == 0 and err == f"wrote {target} (4 record(s))\n"
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 8  # per day, category, week, language, page, GPC, one per version
    assert "<polyline" in page and "2026-W48" in page and "privacy 2027-01-01" in page
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<script|<link""", page)


def test_consents_purge_deletes_only_old_records_and_says_how_many(empty_db, capsys):
    db = empty_db
    now = dt.datetime.now(dt.UTC)
    store = open_store(db)
    store.insert_batch([make_record(utc_timestamp(now - dt.timedelta(days=d))) for d in (40, 10)])
    store.close()
    purge = ["consents", "purge", "--db", db, "--older-than", "30"]
    code, out, _ = run(capsys, *purge, "--dry-run")
    assert code == 0 and out.startswith("would delete 1 record(s) received before ")
    code, out, _ = run(capsys, *purge, "--yes")
    assert code == 0 and out.startswith("deleted 1 record(s) received before ")
    store = open_store(db)
    [kept] = store.iter_records()
    assert kept.received_at == utc_timestamp(now - dt.timedelta(days=10))
    store.close()


def test_consents_commands_refuse_a_missing_database(tmp_path, capsys):
    missing = tmp_path / "nothing.sqlite3"
    code, _out, err = run(capsys, "consents", "stats", "--db", str(missing))
    assert code == 1
    assert err.startswith(f"{missing}: error: no consent database here")
    assert not missing.exists()
    code, _, err = run(
        capsys,
        "consents",
        "export",
        "--db",
        str(missing),
        "--since",
        "2026-12-01",
        "--until",
        "2026-11-01",
    )
    assert (code, err) == (1, "error: --since 2026-12-01 is after --until 2026-11-01\n")


def test_consents_db_comes_from_database_url(sqlite_db, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_db)
    code, out, _ = run(capsys, "consents", "stats", "--json")
    assert code == 0 and json.loads(out)["total"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "missing-site"], "missing-site/policy.json: error: policy.json not found"),
        (["--db", "mysql://localhost/x"], "error: --db: unsupported database URL scheme mysql://"),
        (["--db", "postgresql://u:pw@127.0.0.1:1/x"], "error: cannot open the consent store"),
        (["--rate-limit", "lots"], "error: rate limit 'lots' is not understood"),
        (["--forwarded-allow-ips", "proxy.local"], "error: --forwarded-allow-ips: 'proxy.local'"),
        (["--read-timeout", "0"], "error: the read timeout must be above 0 s, got 0.0"),
        (["--max-connections", "0"], "error: --max-connections must be at least 1, got 0"),
        (["--keep-alive-timeout", "0"], "error: --keep-alive-timeout must be at least 1, got 0"),
    ],
)
def test_collector_refuses_to_start_with_a_clear_message(tmp_path, args, message):
    argv = ["--db", str(tmp_path / "c.sqlite3"), "--site", str(SITE), *args]
    result = subprocess.run(
        [sys.executable, "build.py", "collector", "--port", "1", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr and "pw" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "-o", "/nonexistent/x.csv"], "/nonexistent/x.csv: error: cannot write"),
        (["export", "-o", "/tmp"], "/tmp: error: cannot write"),
        (["report", "-o", "/nonexistent/r.html"], "/nonexistent/r.html: error: cannot write"),
    ],
)
def test_consents_output_that_cannot_be_written_is_a_clean_error(sqlite_db, argv, message):
    action, *rest = argv
    result = subprocess.run(
        [sys.executable, "build.py", "consents", action, "--db", sqlite_db, *rest],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert "→ " in result.stderr  # a hint says what to do
    assert "Traceback" not in result.stderr


def test_consents_export_csv_cells_never_run_as_formulas(tmp_path, capsys):
    """OWASP's CSV injection advice: a cell starting with = + - @ tab or CR gets a leading
    apostrophe in CSV; JSON Lines keeps the value as stored."""
    from collector_fixtures.support import Collector, body

    sqlite_db = str(tmp_path / "consents.sqlite3")
    agents = ['=HYPERLINK("https://evil.example","x")', "+1", "-2", "@SUM(A1)", "Firefox"]
    client = Collector(sqlite_db)
    try:
        for agent in agents:
            assert client.post(body(), headers={"user-agent": agent}).status_code == 201
    finally:
        client.close()
    code, out, _ = run(capsys, "consents", "export", "--db", sqlite_db)
    assert code == 0
    exported = [row["user_agent"] for row in csv.DictReader(io.StringIO(out))]
    assert exported == [f"'{agent}" for agent in agents[:-1]] + ["Firefox"]
    code, out, _ = run(capsys, "consents", "export", "--db", sqlite_db, "--format", "jsonl")
    assert [json.loads(line)["user_agent"] for line in out.splitlines()] == agents
    # A tab or CR cannot arrive in a header; the rule covers them for any stored text.
    from policysite.collector.commands.exports import _inert

    assert (_inert("\tx"), _inert("\rx"), _inert("x=1"), _inert(None)) == (
        "'\tx",
        "'\rx",
        "x=1",
        None,
    )


def _start(tmp_path, site, *extra: str) -> str:
    """Start `collector` (its start-up checks), stop it; return what it printed."""
    process, _, log = start_collector(tmp_path, *extra, site=site)
    stop_collector(process)
    return log.read_text("utf-8")


def test_collector_creates_the_log_key_once_and_prints_its_public_key(tmp_path):
    key = tmp_path / "keys" / "consent-log.key"
    first = _start(tmp_path, SITE, "--log-key", str(key))
    assert "created the consent log's signing key" in first, first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = first.split('log_public_key = "')[1].split('"')[0]
    assert public.startswith("ximgo.com/consent-log+")
    second = _start(tmp_path, SITE, "--log-key", str(key))
    assert "created" not in second
    assert f'the key in {key} is "{public}"' in second  # site.toml does not have it yet
    site = tmp_path / "site"
    write_policy(site, lambda data: data["consent"].update(log_public_key=public))
    assert public not in _start(tmp_path, site, "--log-key", str(key))


def test_collector_refuses_a_key_other_than_the_published_one(tmp_path):
    site = tmp_path / "site"
    other = "ximgo.com/consent-log+00000000+AUcpUod6GFXieSjfliVPaPeUYWnDx+5HaRBxgA5g7WOR"
    write_policy(site, lambda data: data["consent"].update(log_public_key=other))
    argv = ["--db", str(tmp_path / "c.sqlite3"), "--site", str(site), "--port", "1"]
    result = subprocess.run(
        [sys.executable, "build.py", "collector", *argv, "--log-key", str(tmp_path / "k")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "but site.toml publishes" in result.stderr and "Traceback" not in result.stderr
