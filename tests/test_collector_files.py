"""The files that hold consent records are private whatever the umask (docs/collector.md,
"Files and permissions"): 0600, or 0640 with the group option. Real files, real commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_fixtures.support import Collector, body, file_mode, make_record, umask

from policysite.cli import main
from policysite.collector.core.settings import CollectorSettings
from policysite.collector.core.store import open_store


def database_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
            db.with_name(db.name + ".lock")]  # fmt: skip


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277])
@pytest.mark.parametrize(("group_readable", "expected"), [(False, 0o600), (True, 0o640)])
def test_database_wal_shm_and_lock_file_have_the_collectors_mode(
    tmp_path, mask, group_readable, expected
):
    db = tmp_path / "var" / "consents.sqlite3"
    settings = CollectorSettings(rate_limit="0", group_readable=group_readable)
    with umask(mask):
        client = Collector(str(db), settings=settings)
        try:
            assert client.post(body()).status_code == 201  # a commit: -wal and -shm exist
            assert client.request("GET", "/api/health").status_code == 200
            modes = {path.name: file_mode(path) for path in database_files(db)}
        finally:
            client.close()
    assert modes == {path.name: expected for path in database_files(db)}
    assert file_mode(db.parent) & 0o007 == 0  # the folder it made is closed to others too


def test_an_existing_world_readable_database_is_reported(tmp_path, caplog):
    db = tmp_path / "consents.sqlite3"
    open_store(str(db)).close()
    db.chmod(0o644)
    open_store(str(db)).close()
    assert f"{db} has mode 0644" in caplog.text
    assert f"chmod 0600 {db}" in caplog.text
    assert file_mode(db) == 0o644  # an operator's choice is reported, not overridden


@pytest.fixture
def filled(tmp_path) -> str:
    db = tmp_path / "consents.sqlite3"
    store = open_store(str(db))
    store.insert_batch([make_record("2026-11-25T01:00:00.000000Z")])
    store.close()
    return str(db)


@pytest.mark.parametrize("command", ["export", "report"])
@pytest.mark.parametrize(("option", "expected"), [((), 0o600), (("--group-readable",), 0o640)])
def test_exports_and_reports_are_created_private(filled, tmp_path, command, option, expected):
    out = tmp_path / f"out.{command}"
    with umask(0o022):
        assert main(["consents", command, "--db", filled, "-o", str(out), *option]) == 0
    assert file_mode(out) == expected
    assert out.stat().st_size > 0


def test_an_export_over_an_existing_readable_file_makes_it_private(filled, tmp_path):
    out = tmp_path / "consents.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    assert main(["consents", "export", "--db", filled, "-o", str(out)]) == 0
    assert file_mode(out) == 0o600
    assert "old" not in out.read_text()


def test_the_group_option_comes_from_the_environment(filled, tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYSITE_GROUP_READABLE", "1")
    out = tmp_path / "consents.csv"
    assert main(["consents", "export", "--db", filled, "-o", str(out)]) == 0
    assert file_mode(out) == 0o640
