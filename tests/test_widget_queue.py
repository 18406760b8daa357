"""The widget's queue: a decision is never lost because the collector was down.

docs/widget.md, *Delivery to the collector, and the queue*, describes it.

The collector runs inside `python build.py serve`, so "down" is that server stopped, and
"back" is the same command started again on the same port and database.
"""

from __future__ import annotations

import json

import pytest
from test_widget_support import (
    BEFORE_RECONSENT,
    GATED_PAGE,
    Server,
    consent_cookie,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUEUE = "JSON.parse(localStorage.getItem('ximgo_consent_q') || '[]')"


def test_widget_queues_while_the_collector_is_down_and_delivers_exactly_once(browser, tmp_path):
    server = Server(tmp_path, BEFORE_RECONSENT).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.base + GATED_PAGE)
        server.stop()
        page.get_by_role("button", name="Chấp nhận tất cả").click()
        # The choice applies at once: the gated scripts are live (their files wait for the server).
        assert page.locator("script[type='text/plain']").count() == 0
        [queued] = page.evaluate(QUEUE)
        consent_id = consent_cookie(context)["value"].split(".")[0]
        assert json.loads(queued)["consent_id"] == consent_id
        assert json.loads(queued)["seq"] == 1

        server.start()
        sends: list[str] = []
        page.on("request", lambda r: "/api/consent" in r.url and sends.append(r.method))
        page.goto(server.base + GATED_PAGE)
        wait_until(page, f"{QUEUE}.length == 0")
        assert sends  # delivered on this later load
        rows = server.rows(consent_id)
        assert [(r["seq"], r["action"]) for r in rows] == [(1, "accept_all")]

        sends.clear()
        page.reload()
        page.wait_for_timeout(300)
        assert sends == []  # nothing left to send
        assert len(server.rows(consent_id)) == 1
    finally:
        context.close()
        server.stop()


def test_widget_drops_a_queued_decision_that_the_collector_refuses(browser, tmp_path):
    server = Server(tmp_path, BEFORE_RECONSENT).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.base + GATED_PAGE)
        with page.expect_response(lambda r: r.url.endswith("/api/consent")):
            page.get_by_role("button", name="Từ chối tất cả").click()
        wait_until(page, f"{QUEUE}.length == 0")
        # A decision for a version this site never published: 400, which retrying cannot fix.
        refused = {
            "consent_id": "8f1c2a4e-1b2c-4d3e-8f40-5a6b7c8d9e0f",
            "seq": 1,
            "document": "privacy",
            "version": "2001-01-01",
            "language": "vi",
            "choices": {"necessary": True, "analytics": False, "advertising": False},
            "action": "reject_all",
        }
        page.evaluate(
            "(body) => localStorage.setItem('ximgo_consent_q', JSON.stringify([body]))",
            json.dumps(refused),
        )
        with page.expect_response(lambda r: r.url.endswith("/api/consent")) as answer:
            page.reload()
        assert answer.value.status == 400
        wait_until(page, f"{QUEUE}.length == 0")
        assert server.rows(refused["consent_id"], at_least=0) == []
    finally:
        context.close()
        server.stop()
