"""`consents report` in the operator's language, with the consent log's health first, on a
real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest
from collector_fixtures.support import (
    SITE,
    either_store,
    log_signer,
    log_verifier,
    make_record,
    sqlite_path,
)

from policysite.cli import main
from policysite.collector.core.store import open_store

COUNT = 1234  # enough for a thousands separator: "1.234" in vi, "1,234" in en
DAYS = ("2026-11-30", "2026-12-01", "2026-12-03")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    return either_store(request, tmp_path)


@pytest.fixture
def logged(db) -> str:
    return fill_log(db)


def fill_log(db: str) -> str:
    """COUNT records committed into the log, over three days; every second grants analytics."""
    store = open_store(db, signer=log_signer(db))
    records = [
        make_record(f"{DAYS[i % 3]}T08:00:00.{i:06d}Z", analytics=i % 2 == 0) for i in range(COUNT)
    ]
    for start in range(0, COUNT, 500):
        store.commit_batch(records[start : start + 500])
    store.close()
    return db


def report(db: str, tmp_path, capsys, *extra: str, key: bool = True) -> tuple[int, str]:
    target = tmp_path / "report.html"
    args = ["consents", "report", "--db", db, "-o", str(target), "--site", str(tmp_path)]
    if key:
        args += ["--key", log_verifier(db).key_text()]
    code = main([*args, *extra])
    capsys.readouterr()
    return code, target.read_text(encoding="utf-8") if code == 0 else ""


def text_of(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_the_report_speaks_vietnamese_and_opens_with_an_intact_log(logged, tmp_path, capsys):
    code, page = report(logged, tmp_path, capsys, "--lang", "vi")
    assert code == 0
    assert '<html lang="vi">' in page
    words = text_of(page)
    assert "Báo cáo đồng ý" in words
    assert "1.234 quyết định, từ ngày 30 tháng 11 năm 2026 đến ngày 3 tháng 12 năm 2026" in words
    health = words[words.index("Nhật ký đồng ý") : words.index("Quyết định")]
    assert "Nguyên vẹn: mọi bản ghi" in health
    assert "Điểm kiểm tra mới nhất: 1.234 bản ghi, ký ngày" in health
    assert "--published DIR" in health  # nothing published was compared
    assert "tùy chỉnh 617 (50,0%), từ chối tất cả 617 (50,0%)" in words
    # The log's section comes first, before any chart.
    assert page.index("Nhật ký đồng ý") < page.index("<svg")


def test_the_report_in_english_writes_english_numbers(logged, tmp_path, capsys):
    code, page = report(logged, tmp_path, capsys, "--lang", "en")
    words = text_of(page)
    assert code == 0 and '<html lang="en">' in page
    assert "1,234 decisions, from November 30, 2026 to December 3, 2026" in words
    assert "Intact: every record" in words and "Latest checkpoint: 1,234 records" in words
    assert "custom 617 (50.0%), reject all 617 (50.0%)" in words


def test_the_report_names_what_is_wrong_with_a_tampered_log(logged, tmp_path, capsys):
    if logged.startswith("postgresql://"):
        with psycopg.connect(logged, autocommit=True) as conn:
            conn.execute("ALTER TABLE consents DISABLE TRIGGER USER")
            conn.execute("UPDATE consents SET action = 'accept_all' WHERE leaf_index = 7")
    else:
        with sqlite3.connect(logged, isolation_level=None) as conn:
            conn.execute("DROP TRIGGER consents_no_update")
            conn.execute("UPDATE consents SET action = 'accept_all' WHERE leaf_index = 7")
    code, page = report(logged, tmp_path, capsys, "--lang", "vi")
    words = text_of(page)
    assert code == 0  # the report is written; it says what is wrong
    assert "Không nguyên vẹn: 3 vấn đề." in words  # the row, and the two checkpoints over it
    assert "điểm kiểm tra đã lưu có kích thước 1.234 không khớp với các bản ghi" in words
    assert "lá 7 (" in words and "bản ghi đã bị sửa sau khi được ghi vào nhật ký" in words
    assert "Nguyên vẹn: mọi bản ghi" not in words


def test_the_report_says_when_it_cannot_check_the_log(logged, tmp_path, capsys):
    code, page = report(logged, tmp_path, capsys, "--lang", "vi", key=False)
    assert code == 0
    assert "Chưa kiểm tra: không có khóa công khai." in text_of(page)


def test_the_report_counts_published_checkpoints(logged, tmp_path, capsys):
    published = tmp_path / "published"
    published.mkdir()
    assert main(["consents", "checkpoint", "--db", logged, "-o", str(published / "a.txt")]) == 0
    code, page = report(logged, tmp_path, capsys, "--lang", "vi", "--published", str(published))
    assert code == 0
    assert "1 điểm kiểm tra đã công bố được đối chiếu với nhật ký." in text_of(page)


def test_the_reports_language_defaults_to_the_sites(logged, tmp_path, capsys):
    (tmp_path / "policy.json").write_text((SITE / "policy.json").read_text(encoding="utf-8"))
    code, page = report(logged, tmp_path, capsys)
    assert code == 0 and '<html lang="vi">' in page


def test_a_language_without_a_catalog_is_refused(logged, tmp_path, capsys):
    code = main(["consents", "report", "--db", logged, "-o", str(tmp_path / "r.html"),
                 "--lang", "fr"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert "--lang fr: the theme has no catalog for it" in err and "use one of en, vi" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_the_report_has_no_axe_violations(tmp_path, capsys, browser, width, scheme):
    """The page is the same from either store: axe runs on SQLite's, in Chromium."""
    from test_widget_support import violations

    db = fill_log(sqlite_path(tmp_path))
    _, page_html = report(db, tmp_path, capsys, "--lang", "vi")
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.set_content(page_html)
        assert violations(page) == []
    finally:
        context.close()


def mixed(count: int = 60) -> list:
    """Records over 20 days, two languages, two versions, some with GPC, two pages."""
    from policysite.collector.core.record import seal

    records = []
    for i in range(count):
        english = i % 4 == 0
        record = make_record(
            f"2026-11-{10 + i % 20:02d}T09:00:00.{i:06d}Z",
            version="2026-11-24" if i < count // 2 else "2027-01-01",
            analytics=i % 3 == 0,
            advertising=i % 5 == 0,
        )._replace(
            language="en" if english else "vi",
            gpc=i % 6 == 0,
            page="/en/privacy-policy/" if english else "/chinh-sach-bao-mat/",
        )
        records.append(seal(*record[:13]))
    return records


def sql(db: str, query: str) -> list[tuple]:
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as conn:
            return conn.execute(query.replace("DAY", DAY_PG)).fetchall()
    with sqlite3.connect(db) as conn:
        return conn.execute(query.replace("DAY", "substr(received_at, 1, 10)")).fetchall()


DAY_PG = "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def table_rows(page: str, heading: str) -> dict[str, list[str]]:
    """The body of the first table after `heading`: each row's header cell → its other cells."""
    table = page[page.index(f">{heading}</h2>") :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return {
        row[0]: row[1:]
        for row in (
            [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", tr)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body)
        )
    }


def test_the_reports_tables_are_the_databases_counts(db, tmp_path, capsys):
    store = open_store(db, signer=log_signer(db))
    store.commit_batch(mixed())
    store.close()
    code, page = report(db, tmp_path, capsys, "--lang", "vi")
    assert code == 0
    per_day = table_rows(page, "Quyết định theo ngày (UTC)")
    expected = dict(sql(db, "SELECT DAY, count(*) FROM consents GROUP BY 1"))
    assert {day: int(cells[-1]) for day, cells in per_day.items()} == expected
    rejected = dict(
        sql(db, "SELECT DAY, count(*) FROM consents WHERE action = 'reject_all' GROUP BY 1")
    )
    assert {
        d: int(c[1]) for d, c in per_day.items() if int(c[1])
    } == rejected  # columns: accept all, reject all, custom, all
    by_language = table_rows(page, "Theo ngôn ngữ")
    assert {k: int(v[0]) for k, v in by_language.items()} == dict(
        sql(db, "SELECT language, count(*) FROM consents GROUP BY 1")
    )
    by_page = table_rows(page, "Theo trang")
    assert {k: int(v[0]) for k, v in by_page.items()} == dict(
        sql(db, "SELECT page, count(*) FROM consents GROUP BY 1")
    )
    [(gpc,)] = sql(db, "SELECT count(*) FROM consents WHERE gpc")
    assert f"{gpc} quyết định được gửi khi Global Privacy Control bật (16,7% tổng số)." in page
    # "necessary" is always on: in the tables, not in the charts.
    charts = re.findall(r"<svg.*?</svg>", page)
    assert not any(">necessary<" in chart for chart in charts)
    assert '<th scope="col">necessary</th>' in page


def test_report_screenshot(tmp_path, capsys, browser):
    """docs/screenshots/report-vi.png: the report of a seeded store, in Vietnamese (copied into
    docs/ with POLICYSITE_UPDATE_SCREENSHOTS=1, as the widget's screenshots are)."""
    import os
    import shutil

    from conftest import ROOT

    db = sqlite_path(tmp_path)
    store = open_store(db, signer=log_signer(db))
    store.commit_batch(mixed(600))
    store.close()
    _, page_html = report(db, tmp_path, capsys, "--lang", "vi")
    context = browser.new_context(viewport={"width": 900, "height": 1400})
    try:
        page = context.new_page()
        page.set_content(page_html)
        shot = tmp_path / "report-vi.png"
        page.screenshot(path=str(shot), full_page=False)
    finally:
        context.close()
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    if os.environ.get("POLICYSITE_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, ROOT / "docs" / "screenshots" / shot.name)


def changes_of_mind() -> list:
    """Three visitors: one withdraws analytics in week 49, one grants advertising on top (no
    withdrawal), one is asked again for the re-consent version 2027-01-01 and accepts all."""
    from policysite.collector.core.record import seal

    def decision(visitor: int, seq: int, at: str, version: str = "2026-11-24", **choices):
        record = make_record(at, seq=seq, version=version, **choices)
        return seal(
            *record._replace(consent_id=f"0000000{visitor}-0000-4000-8000-000000000000")[:13]
        )

    return [
        decision(1, 1, "2026-11-24T08:00:00.000000Z", analytics=True),
        decision(1, 2, "2026-12-01T08:00:00.000000Z"),  # analytics withdrawn, 2026-W49
        decision(2, 1, "2026-11-24T09:00:00.000000Z", analytics=True),
        decision(2, 2, "2026-12-01T09:00:00.000000Z", analytics=True, advertising=True),
        decision(3, 1, "2026-11-24T10:00:00.000000Z"),
        decision(
            3, 2, "2026-12-02T10:00:00.000000Z", "2027-01-01", analytics=True, advertising=True
        ),
    ]


def test_the_report_counts_withdrawals_and_answers_when_asked_again(db, tmp_path, capsys):
    store = open_store(db, signer=log_signer(db))
    store.commit_batch(changes_of_mind())
    store.close()
    (tmp_path / "policy.json").write_text((SITE / "policy.json").read_text(encoding="utf-8"))
    code, page = report(db, tmp_path, capsys, "--lang", "vi")
    assert code == 0
    withdrawals = table_rows(page, "Rút lại đồng ý theo tuần ISO")
    assert withdrawals == {"2026-W49": ["1", "0"]}  # analytics, advertising
    [(expected,)] = sql(
        db,
        "SELECT count(*) FROM consents c JOIN consents b ON b.consent_id = c.consent_id"
        " AND b.seq = c.seq - 1 WHERE b.action <> 'reject_all' AND c.action = 'reject_all'",
    )
    assert int(withdrawals["2026-W49"][0]) == expected
    again = table_rows(page, "Câu trả lời khi được hỏi lại cho phiên bản mới")
    assert again == {"privacy 2027-01-01": ["1"]}  # accept all: the one answer
    # Counted over the whole log: a period that starts after the first decisions still sees
    # what each visitor decided before.
    code, page = report(db, tmp_path, capsys, "--lang", "vi", "--since", "2026-11-30")
    [cells] = table_rows(page, "Rút lại đồng ý theo tuần ISO").values()
    section = page[page.index(">Rút lại đồng ý theo tuần ISO<") :]
    columns = re.findall(r'<th scope="col">([^<]*)</th>', section[: section.index("</thead>")])
    assert dict(zip(columns[1:], cells, strict=True)) == {"analytics": "1", "advertising": "0"}


def test_the_report_says_when_nobody_changed_their_mind(logged, tmp_path, capsys):
    _, page = report(logged, tmp_path, capsys, "--lang", "vi")
    words = text_of(page)
    assert "Không có lần rút lại nào trong khoảng thời gian này." in words
    assert "Không ai được hỏi lại trong khoảng thời gian này." in words


def test_chart_labels_stay_legible_on_a_phone(tmp_path, capsys, browser):
    """At 390 px each chart keeps its own width and scrolls sideways in its frame, rather than
    shrinking its labels to a few pixels; in print it fits the page."""
    db = fill_log(sqlite_path(tmp_path))
    _, page_html = report(db, tmp_path, capsys, "--lang", "vi")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_content(page_html)
        heights = page.evaluate(
            "[...document.querySelectorAll('.chart svg text')].map(t => t.getBBox() && "
            "t.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 11
        frame = page.evaluate(
            "(() => { const f = document.querySelector('.chart');"
            " return [f.scrollWidth > f.clientWidth, f.tabIndex]; })()"
        )
        assert frame == [True, 0]
        page.emulate_media(media="print")
        assert page.evaluate(
            "[...document.querySelectorAll('.chart')].every(f => f.scrollWidth <= f.clientWidth)"
        )
    finally:
        context.close()


def test_the_report_passes_the_nu_html_checker(tmp_path, capsys):
    """Both languages, with every section filled (withdrawals and answers to a new version)."""
    from test_site_validators import vnu

    db = sqlite_path(tmp_path)
    store = open_store(db, signer=log_signer(db))
    store.commit_batch(mixed())
    store.commit_batch(changes_of_mind())
    store.close()
    (tmp_path / "policy.json").write_text((SITE / "policy.json").read_text(encoding="utf-8"))
    files = []
    for lang in ("vi", "en"):
        code, page = report(db, tmp_path, capsys, "--lang", lang)
        assert code == 0 and "<svg" in page
        files.append(tmp_path / f"report-{lang}.html")
        files[-1].write_text(page, encoding="utf-8")
    canary = tmp_path / "canary.html"  # proves the checker runs and reports
    canary.write_text('<!doctype html><html lang="en"><title>t</title><p><div></p>')
    errors = vnu([*files, canary])
    assert {Path(e["url"].removeprefix("file:")).name for e in errors} == {"canary.html"}, errors
