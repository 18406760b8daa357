"""The collector's logs: every process (main, workers, writer) writes lines with a time, a level
and its pid, as text or JSON, and an outage is logged when it starts and when it ends, not once
per refused batch. docs/collector.md, *Logs*."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from collector_fixtures.support import SHA_VI, SITE, start_collector, stop_collector
from collector_fixtures.support import post_many as post

from policysite.collector.core.committer import GroupCommitter
from policysite.collector.core.logs import REMINDER_SECONDS, Outage, duration
from policysite.collector.core.record import seal, utc_timestamp
from policysite.collector.core.store import StoreUnavailable, open_store

ROOT = Path(__file__).resolve().parent.parent
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"\[(main|worker|writer) (\d+)\] [\w.]+: \S"
)


class Clock:
    """Seconds since the epoch that a test moves forward."""

    def __init__(self, now: float = 1_796_320_800.0) -> None:  # 2026-12-03T18:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records]


# --- the outage tracker ---------------------------------------------------------------------


def test_an_outage_is_logged_when_it_starts_once_a_minute_and_when_it_ends(caplog):
    clock = Clock()
    outage = Outage("consent store /var/c.sqlite3", logging.getLogger("test.outage"), clock=clock)
    caplog.set_level(logging.INFO, "test.outage")
    outage.succeeded()  # nothing to end
    for _ in range(2000):  # a second's worth of refused batches
        outage.failed(3, "disk full")
        clock.now += 0.0005
    assert messages(caplog) == [
        ("ERROR", "consent store /var/c.sqlite3 unavailable since 2026-12-03T18:00:00.000Z: "
                  "disk full"),
    ]  # fmt: skip
    clock.now = 1_796_320_800.0 + REMINDER_SECONDS - 0.01
    outage.failed(1, "disk full")
    assert len(caplog.records) == 1  # not yet a minute
    clock.now = 1_796_320_800.0 + REMINDER_SECONDS
    outage.failed(1, "read-only")
    outage.failed(1, "read-only")
    clock.now += REMINDER_SECONDS
    outage.failed(1, "read-only")
    clock.now += 5
    outage.succeeded()
    outage.succeeded()
    assert messages(caplog)[1:] == [
        ("ERROR", "consent store /var/c.sqlite3 still unavailable since 2026-12-03T18:00:00.000Z,"
                  " 6002 request(s) refused so far: read-only"),
        ("ERROR", "consent store /var/c.sqlite3 still unavailable since 2026-12-03T18:00:00.000Z,"
                  " 6004 request(s) refused so far: read-only"),
        ("WARNING", "consent store /var/c.sqlite3 available again after 2 min 5 s; "
                    "6004 request(s) refused"),
    ]  # fmt: skip
    caplog.clear()
    outage.failed(2, "read-only")  # a new outage counts from zero
    clock.now += 0.25
    outage.succeeded()
    assert messages(caplog) == [
        ("ERROR", "consent store /var/c.sqlite3 unavailable since 2026-12-03T18:02:05.000Z: "
                  "read-only"),
        ("WARNING", "consent store /var/c.sqlite3 available again after 250 ms; "
                    "2 request(s) refused"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0404, "40 ms"),
        (1.0, "1.0 s"),
        (9.94, "9.9 s"),
        (12.4, "12 s"),
        (185, "3 min 5 s"),
        (8040, "2 h 14 min"),
    ],
)
def test_durations_read_as_an_operator_says_them(seconds, text):
    assert duration(seconds) == text


def test_a_worker_committing_itself_logs_one_line_per_outage_not_per_batch(tmp_path, caplog):
    """GroupCommitter (PostgreSQL, or SQLite without the writer process) shares the tracker."""
    db = tmp_path / "c.sqlite3"
    store = open_store(str(db))
    committer = GroupCommitter(store)
    caplog.set_level(logging.INFO, "policysite.collector")

    async def post(count: int) -> list[str]:
        outcomes = []
        for _ in range(count):  # one at a time: each is a batch of its own
            record = seal(
                utc_timestamp(), str(uuid.uuid4()), 1, "privacy", "2026-11-24", "vi", SHA_VI,
                "custom", '{"analytics":true}', False, "/", None, "203.0.113.0/24",
            )  # fmt: skip
            try:
                await committer.submit(record)
                outcomes.append("stored")
            except StoreUnavailable:
                outcomes.append("refused")
        return outcomes

    try:
        db.chmod(0o444)
        assert asyncio.run(post(30)) == ["refused"] * 30
        db.chmod(0o600)
        assert asyncio.run(post(1)) == ["stored"]
    finally:
        db.chmod(0o600)
        committer.close()
        store.close()
    lines = [text for _, text in messages(caplog)]
    assert len(lines) == 2, lines
    assert re.fullmatch(
        rf"consent store {re.escape(str(db))} unavailable since \S+Z: {re.escape(str(db))} "
        "is read-only",
        lines[0],
    ), lines
    assert re.fullmatch(
        rf"consent store {re.escape(str(db))} available again after [\d.]+ m?s; "
        "30 request\\(s\\) refused",
        lines[1],
    ), lines


# --- the collector's processes ---------------------------------------------------------------


def wait_for_line(log: Path, text: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text("utf-8"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_json_logs_from_every_process_and_one_line_each_way_per_outage(tmp_path):
    db = tmp_path / "c.sqlite3"
    process, port, log = start_collector(tmp_path, "--workers", "2", "--log-format", "json")
    try:
        deadline = time.monotonic() + 20  # both workers have opened the store
        while log.read_text("utf-8").count("Application startup complete") < 2:
            assert time.monotonic() < deadline, log.read_text("utf-8")
            time.sleep(0.05)
        assert post(port, 5) == [201] * 5
        db.chmod(0o444)  # the store checks the mode bits: read-only even for root
        refused = post(port, 50)
        db.chmod(0o600)
        assert refused == [503] * 50
        assert post(port, 3) == [201] * 3
    finally:
        db.chmod(0o600)
        stop_collector(process)
    lines = log.read_text("utf-8").splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), entry
        assert entry["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, entry
        assert isinstance(entry["process"], int) and entry["role"] in {"main", "worker", "writer"}
    said = {(entry["role"], entry["message"]) for entry in entries}
    assert ("worker", "Application startup complete.") in said, lines
    assert {e["process"] for e in entries if e["message"] == "Application startup complete."} == {
        e["process"] for e in entries if e["message"].startswith("Started server process")
    }  # two workers, each logging itself
    assert len({e["process"] for e in entries if e["role"] == "worker"}) == 2, lines
    assert any(role == "main" and "Uvicorn running on" in text for role, text in said), lines
    down = [e for e in entries if "unavailable since" in e["message"]]
    up = [e for e in entries if "available again" in e["message"]]
    assert len(down) == 1 and len(up) == 1, lines
    assert down[0]["level"] == "ERROR" and down[0]["role"] == "writer"
    assert down[0]["message"].endswith(f"{db} is read-only"), down
    assert up[0]["level"] == "WARNING"
    assert up[0]["message"].endswith("; 50 request(s) refused"), up
    # Besides the first start's word about the log's new key (test_collector_cli.py checks it)
    loud = [e for e in entries if e["level"] != "INFO" and "log_public_key" not in e["message"]]
    assert [e["level"] for e in loud] == ["ERROR", "WARNING"], [
        (e["level"], e["role"], e["message"]) for e in loud
    ]


@pytest.mark.slow
def test_text_logs_say_time_level_role_and_pid_on_every_line(tmp_path):
    process, port, log = start_collector(tmp_path)
    try:
        assert post(port, 1) == [201]
    finally:
        stop_collector(process)
    lines = log.read_text("utf-8").splitlines()
    roles: dict[str, set[int]] = {}
    for line in lines:
        match = TEXT_LINE.match(line)
        assert match, f"not a log line: {line!r}"
        roles.setdefault(match[2], set()).add(int(match[3]))
    assert roles["main"] == {process.pid}, lines  # one worker: uvicorn serves in main
    (writer_pid,) = roles["writer"]
    assert writer_pid != process.pid
    assert any(
        f"INFO [writer {writer_pid}] policysite.collector: consent writer for " in line
        for line in lines
    ), lines
    assert any("INFO [main" in line and "Application startup complete." in line for line in lines)
    # uvicorn ends the main process by SIGTERM after its shutdown; the writer sees its parent
    # gone and stops on its own, within POLL_SECONDS.
    assert wait_for_line(log, f"INFO [writer {writer_pid}] policysite.collector: consent "
                              "writer stopped; 1 record(s) committed")  # fmt: skip


@pytest.mark.slow
def test_log_level_warning_hides_info_lines_in_every_process(tmp_path):
    process, port, log = start_collector(tmp_path, "--log-level", "warning", "--workers", "2")
    try:
        assert post(port, 1) == [201]
    finally:
        stop_collector(process)
    said = [line for line in log.read_text("utf-8").splitlines() if "log_public_key" not in line]
    assert said == []  # but the word about the log's new key, a warning


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [("text", TEXT_LINE.pattern + ".*"), ("json", r'\{"time": .*"level": "INFO".*\}')],
)
def test_without_a_log_config_our_lines_still_get_time_level_and_pid(fmt, pattern):
    """As under a bare `uvicorn policysite.collector.asgi:app`, whose config omits our logger."""
    script = (
        "import logging; from policysite.collector.core.logs import ensure_handler; "
        "ensure_handler(); ensure_handler(); "
        "logging.getLogger('policysite.collector').info('reloaded %s', 'policy.json')"
    )
    env = {**os.environ, "POLICYSITE_LOG_FORMAT": fmt}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), result.stderr
    assert "reloaded policy.json" in lines[0]
    assert ("[main " if fmt == "text" else '"role": "main"') in lines[0]


def test_a_bad_log_format_in_the_environment_is_a_clean_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "build.py", "collector", "--port", "1", "--site", str(SITE),
         "--db", str(tmp_path / "c.sqlite3")],
        cwd=ROOT, env={**os.environ, "POLICYSITE_LOG_FORMAT": "xml"}, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: --log-format 'xml' (or $POLICYSITE_LOG_FORMAT): choose one of text, json"
    ), result.stderr
    assert "Traceback" not in result.stderr
