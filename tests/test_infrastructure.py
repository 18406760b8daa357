"""The suite's own real parts start: a PostgreSQL server and Chromium."""

from __future__ import annotations

import psycopg


def test_postgres_fixture_accepts_connections(postgres):
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("select 1 + 1").fetchone() == (2,)


def test_browser_fixture_renders_a_page(browser):
    page = browser.new_page()
    page.set_content("<title>ok</title><p>Xin chào</p>")
    assert page.text_content("p") == "Xin chào"
    page.close()
