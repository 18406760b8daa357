"""The consent widget's behaviour (docs/widget.md), in Debian's headless Chromium.

Every test drives the built site as `python build.py serve` serves it (CSP default-src 'self'),
with the real collector writing to SQLite, in a fresh browser context, by role and name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_widget_support import (
    AFTER_RECONSENT,
    CATEGORIES,
    EN_PAGE,
    FIRST_VERSION,
    GATED_PAGE,
    NONCE_PAGE,
    ORDER_PAGE,
    RECONSENT_VERSION,
    TAG_MANAGER_PAGE,
    VI_PAGE,
    Server,
    base36,
    consent_cookie,
    data_layer,
    module_server,
    observe,
    wait_until,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    yield from module_server(tmp_path_factory)


DENIED = {
    "ad_storage": "denied",
    "ad_user_data": "denied",
    "ad_personalization": "denied",
    "analytics_storage": "denied",
}
GRANTED = dict.fromkeys(DENIED, "granted")
COOKIE_VALUE = re.compile(
    r"^(?P<id>[0-9a-f-]{36})\.(?P<seq>\d+)\.(?P<version>\d{4}-\d\d-\d\d)"
    r"\.(?P<choices>[!a-z+]+)\.(?P<created>[0-9a-z]+)\.(?P<updated>[0-9a-z]+)$"
)


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def banner(page):
    return page.get_by_role("region", name="Cookie", exact=True)


def dialog(page):
    return page.get_by_role("dialog", name="Cài đặt cookie")


def choose(page, name: str) -> None:
    """Click a button by name and wait until the collector has answered."""
    with page.expect_response(lambda r: r.url.endswith("/api/consent")) as answer:
        page.get_by_role("button", name=name).first.click()
    assert answer.value.status == 201


def stored(context) -> dict[str, str]:
    cookie = consent_cookie(context)
    assert cookie is not None, "no consent cookie"
    match = COOKIE_VALUE.match(cookie["value"])
    assert match, cookie["value"]
    return match.groupdict()


def ticked_when_asked_again(page) -> set[str]:
    """Open the preferences while the banner asks again; the categories that come ticked.
    Closing the dialog brings the banner back."""
    page.get_by_role("button", name="Tùy chỉnh").click()
    ticked = page.evaluate(
        "[...document.querySelectorAll('dialog input:checked')].map((box) => box.name)"
    )
    page.keyboard.press("Escape")
    banner(page).wait_for()
    return set(ticked)


def ran(page) -> list[str]:
    return page.evaluate("window.ran || []")


def test_widget_first_visit_shows_banner_denies_everything_and_sends_nothing(server, context):
    page = context.new_page()
    requests = observe(page)
    page.goto(server.base + GATED_PAGE)
    region = banner(page)
    region.wait_for()
    for name in ("Chấp nhận tất cả", "Từ chối tất cả", "Tùy chỉnh"):
        assert region.get_by_role("button", name=name).is_visible()
    assert region.get_by_role("link", name="Chính sách bảo mật").get_attribute("href") == VI_PAGE
    page.wait_for_timeout(300)  # give any stray request time to show up
    assert ran(page) == []
    assert data_layer(page) == [["consent", "default", DENIED]]
    assert page.evaluate("fbqCalls") == []
    assert page.evaluate("policyConsent.get()") is None
    assert consent_cookie(context) is None
    sent = [(m, u) for m, u in requests if m != "GET" or "/api/" in u or "ran.js" in u]
    assert sent == []
    assert page.evaluate("localStorage.length") == 0


def test_widget_accept_all_runs_gated_scripts_and_is_recorded(server, context):
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    page.evaluate("document.addEventListener('consent:change', (e) => (window.changed = e.detail))")
    before = dt.datetime.now(dt.UTC).timestamp()
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "(window.ran || []).length == 3")
    assert sorted(ran(page)) == ["advertising", "analytics", "both"]
    assert banner(page).count() == 0
    assert data_layer(page)[-1] == ["consent", "update", GRANTED]
    assert page.evaluate("fbqCalls") == [["consent", "grant"]]

    cookie = consent_cookie(context)
    assert cookie["path"] == "/" and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert not cookie["httpOnly"]
    remaining = cookie["expires"] - before
    assert 179 * 86400 < remaining <= 180 * 86400 + 5
    value = stored(context)
    assert uuid.UUID(value["id"]).version == 4
    assert value["seq"] == "1" and value["version"] == FIRST_VERSION
    assert value["choices"] == "necessary+analytics+advertising"
    assert value["created"] == value["updated"]
    assert int(value["updated"], 36) / 1000 >= before - 1

    detail = page.evaluate("window.changed")
    assert detail == {**page.evaluate("policyConsent.get()"), "revoked": []}
    assert detail["choices"] == dict.fromkeys(CATEGORIES, True)
    assert (detail["id"], detail["seq"], detail["version"]) == (value["id"], 1, FIRST_VERSION)

    [row] = server.rows(value["id"])
    assert row["seq"] == 1 and row["action"] == "accept_all"
    assert row["document"] == "privacy" and row["version"] == FIRST_VERSION
    assert row["language"] == "vi" and row["page"] == GATED_PAGE and row["gpc"] == 0
    assert row["choices"] == dict.fromkeys(CATEGORIES, True)
    # Delivered: nothing left in the queue; the receipt kept.
    wait_until(page, "localStorage.getItem('ximgo_consent_r')")
    assert page.evaluate("localStorage.getItem('ximgo_consent_q')") is None

    # The next page applies the stored choice at once, without asking or sending, and says so.
    page.add_init_script(
        "document.addEventListener('consent:change', (e) => (window.changed = e.detail))"
    )
    page.goto(server.base + GATED_PAGE)
    wait_until(page, "(window.ran || []).length == 3")
    assert banner(page).count() == 0
    assert data_layer(page) == [["consent", "default", DENIED], ["consent", "update", GRANTED]]
    assert page.evaluate("window.changed") == detail
    assert len(server.rows(value["id"])) == 1


def test_widget_reject_all_runs_nothing_and_is_recorded(server, context):
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    choose(page, "Từ chối tất cả")
    assert banner(page).count() == 0
    assert data_layer(page)[-1] == ["consent", "update", DENIED]
    assert page.evaluate("fbqCalls") == [["consent", "revoke"]]
    value = stored(context)
    assert value["choices"] == "necessary+!analytics+!advertising"
    [row] = server.rows(value["id"])
    assert row["action"] == "reject_all"
    assert row["choices"] == {"necessary": True, "analytics": False, "advertising": False}
    page.reload()
    page.wait_for_timeout(200)
    assert ran(page) == [] and banner(page).count() == 0


def test_widget_custom_choice_grants_only_what_was_ticked(server, context):
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    page.get_by_role("button", name="Tùy chỉnh").click()
    prefs = dialog(page)
    necessary = prefs.get_by_role("switch", name="Cần thiết")
    assert necessary.is_checked() and necessary.is_disabled()
    assert not prefs.get_by_role("switch", name="Phân tích").is_checked()
    assert not prefs.get_by_role("switch", name="Quảng cáo").is_checked()
    prefs.get_by_text("Danh sách cookie").nth(1).click()  # analytics' cookies
    assert prefs.get_by_text("_ga_*").is_visible()
    assert (
        "_ga (Google Analytics, 2 năm): Phân biệt người dùng để thống kê lượt truy cập."
        in prefs.inner_text()
    )
    prefs.get_by_role("switch", name="Phân tích").check()
    choose(page, "Lưu lựa chọn")
    assert not prefs.is_visible()
    wait_until(page, "(window.ran || []).length == 1")
    assert ran(page) == ["analytics"]
    expected = {**DENIED, "analytics_storage": "granted"}
    assert data_layer(page)[-1] == ["consent", "update", expected]
    [row] = server.rows(stored(context)["id"])
    assert row["action"] == "custom"
    assert row["choices"] == {"necessary": True, "analytics": True, "advertising": False}


def test_widget_footer_reopens_preferences_and_withdrawal_is_the_next_record(server, context):
    page = context.new_page()
    page.goto(server.base + VI_PAGE)
    choose(page, "Chấp nhận tất cả")
    first = stored(context)
    page.goto(server.base + VI_PAGE)
    page.locator("[data-consent-open]").first.click()  # the footer's "Cài đặt cookie"
    prefs = dialog(page)
    assert prefs.get_by_role("switch", name="Phân tích").is_checked()
    assert prefs.get_by_role("switch", name="Quảng cáo").is_checked()
    prefs.get_by_role("switch", name="Phân tích").uncheck()
    prefs.get_by_role("switch", name="Quảng cáo").uncheck()
    choose(page, "Lưu lựa chọn")
    second = stored(context)
    assert second["id"] == first["id"] and second["seq"] == "2"
    assert second["created"] == first["created"]
    assert second["choices"] == "necessary+!analytics+!advertising"
    rows = server.rows(first["id"], at_least=2)
    assert [(r["seq"], r["action"]) for r in rows] == [(1, "accept_all"), (2, "custom")]
    assert rows[1]["choices"] == {"necessary": True, "analytics": False, "advertising": False}
    assert data_layer(page)[-1] == ["consent", "update", DENIED]
    assert page.evaluate("policyConsent.get().seq") == 2


def test_widget_asks_again_when_a_reconsent_version_is_in_force(server, context, tmp_path):
    page = context.new_page()
    page.goto(server.base + VI_PAGE)
    choose(page, "Chấp nhận tất cả")
    first = stored(context)
    # Cookies ignore the port: the same browser visits the site built after 2026-12-15.
    later = Server(tmp_path, AFTER_RECONSENT).start()
    try:
        page.goto(later.base + GATED_PAGE)
        region = banner(page)
        region.wait_for()
        page.wait_for_timeout(200)
        assert ran(page) == []  # the old choice no longer counts
        assert data_layer(page) == [["consent", "default", DENIED]]
        assert page.evaluate("policyConsent.get()") is None
        assert ticked_when_asked_again(page) == {"necessary"}  # no default consent
        choose(page, "Từ chối tất cả")
        second = stored(context)
        assert (second["id"], second["seq"]) == (first["id"], "2")
        assert second["version"] == RECONSENT_VERSION
        [row] = later.rows(first["id"])
        assert (row["seq"], row["version"], row["action"]) == (2, RECONSENT_VERSION, "reject_all")
    finally:
        later.stop()


def test_widget_asks_again_when_the_choice_has_expired(server, context):
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    choose(page, "Chấp nhận tất cả")
    first = stored(context)
    later = context.new_page()
    later.clock.install(time=dt.datetime.now(dt.UTC) + dt.timedelta(days=181))
    later.goto(server.base + GATED_PAGE)
    banner(later).wait_for()
    assert later.evaluate("policyConsent.get()") is None
    assert later.evaluate("window.ran || []") == []
    assert ticked_when_asked_again(later) == {"necessary"}  # the expired choice is not kept
    choose(later, "Chấp nhận tất cả")
    assert stored(context)["seq"] == "2" and stored(context)["id"] == first["id"]
    assert [r["seq"] for r in server.rows(first["id"], at_least=2)] == [1, 2]


def test_widget_honours_global_privacy_control(server, context):
    page = context.new_page()
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    page.goto(server.base + GATED_PAGE)
    region = banner(page)
    region.wait_for()
    notice = "Cookie quảng cáo bị tắt theo tín hiệu Global Privacy Control."
    assert notice in region.inner_text()
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "(window.ran || []).length == 1")
    assert ran(page) == ["analytics"]
    assert data_layer(page)[-1] == ["consent", "update", {**DENIED, "analytics_storage": "granted"}]
    assert page.evaluate("fbqCalls") == [["consent", "revoke"]]
    [row] = server.rows(stored(context)["id"])
    assert row["gpc"] == 1 and row["action"] == "accept_all"
    assert row["choices"] == {"necessary": True, "analytics": True, "advertising": False}
    # Choosing otherwise, explicitly, in the preferences is the visitor's right.
    page.get_by_role("button", name="Cài đặt cookie").click()
    assert notice in dialog(page).inner_text()
    dialog(page).get_by_role("switch", name="Quảng cáo").check()
    choose(page, "Lưu lựa chọn")
    assert server.rows(stored(context)["id"], at_least=2)[-1]["choices"]["advertising"] is True


def test_widget_speaks_english_on_english_pages(server, context):
    page = context.new_page()
    page.goto(server.base + EN_PAGE)
    region = page.get_by_role("region", name="Cookies", exact=True)
    region.wait_for()
    assert "We use necessary cookies" in region.inner_text()
    assert region.get_by_role("link", name="Privacy policy").get_attribute("href") == EN_PAGE
    for name in ("Accept all", "Reject all"):
        assert region.get_by_role("button", name=name).is_visible()
    region.get_by_role("button", name="Customise").click()
    prefs = page.get_by_role("dialog", name="Cookie settings")
    assert prefs.get_by_role("switch", name="Analytics").is_visible()
    prefs.get_by_text("Cookie list").nth(1).click()
    assert (
        "_ga (Google Analytics, 2 years): Distinguishes users for visit statistics."
        in prefs.inner_text()
    )
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        prefs.get_by_role("button", name="Save choices").click()
    [row] = server.rows(stored(context)["id"])
    assert row["language"] == "en" and row["action"] == "custom"


def test_widget_works_with_the_keyboard_alone(server, context):
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    banner(page).wait_for()
    page.keyboard.press("Tab")  # the banner comes first in the tab order
    focused = "document.activeElement"
    assert page.evaluate(f"{focused}.textContent") == "Chính sách bảo mật"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate(f"{focused}.textContent") == "Tùy chỉnh"
    assert page.evaluate(f"{focused}.matches(':focus-visible')")
    outline = page.evaluate(f"getComputedStyle({focused}).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    prefs = dialog(page)
    assert prefs.is_visible()
    inside = f"{focused}.closest('dialog') !== null"
    seen = set()
    for _ in range(12):  # more presses than the dialog has controls: focus never leaves it
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
        seen.add(page.evaluate(f"{focused}.textContent || {focused}.name"))
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside)
    assert {"analytics", "advertising", "Lưu lựa chọn", "×"} <= seen
    page.keyboard.press("Escape")
    assert not prefs.is_visible()
    assert page.evaluate(f"{focused}.textContent") == "Tùy chỉnh"  # focus came back
    page.keyboard.press("Space")  # reopen with Space, tick analytics with Space, save with Enter
    assert prefs.is_visible()
    page.evaluate("document.querySelector('dialog input[name=analytics]').focus()")
    page.keyboard.press("Space")
    while page.evaluate(f"{focused}.textContent") != "Lưu lựa chọn":
        page.keyboard.press("Tab")
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        page.keyboard.press("Enter")
    [row] = server.rows(stored(context)["id"])
    assert row["choices"] == {"necessary": True, "analytics": True, "advertising": False}


def test_widget_has_no_layout_shift_and_no_csp_violation(server, context):
    page = context.new_page()
    observe(page)
    page.goto(server.base + VI_PAGE)
    banner(page).wait_for()
    assert page.evaluate("getComputedStyle(document.querySelector('.pc-b')).position") == "fixed"
    page.wait_for_timeout(500)  # past the banner's entrance animation
    assert page.evaluate("cls") == 0
    choose(page, "Chấp nhận tất cả")
    page.wait_for_timeout(200)
    assert page.evaluate("cls") == 0
    assert page.evaluate("cspViolations") == []


def test_widget_carries_the_csp_nonce_to_gated_scripts(server, context):
    page = context.new_page()
    observe(page)
    page.goto(server.base + NONCE_PAGE)
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "(window.ran || []).length == 3")
    assert sorted(ran(page)) == ["advertising", "analytics", "both"]
    blocked = [v for v in page.evaluate("cspViolations") if "ran.js" in v or "consent" in v]
    assert blocked == []


def test_widget_api_opens_the_preferences_and_reports_the_choice(server, context):
    page = context.new_page()
    page.goto(server.base + VI_PAGE)
    banner(page).wait_for()
    assert page.evaluate("policyConsent.get()") is None
    page.evaluate("policyConsent.open()")
    assert dialog(page).is_visible()
    page.evaluate("policyConsent.open()")  # already open: nothing happens, nothing throws
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Từ chối tất cả").click()
    choice = page.evaluate("policyConsent.get()")
    assert choice["choices"] == {"necessary": True, "analytics": False, "advertising": False}
    page.evaluate("policyConsent.get().choices.analytics = true")  # a copy: changes nothing
    assert page.evaluate("policyConsent.get().choices.analytics") is False


def test_widget_keeps_the_receipts_and_offers_them_for_download(server, context, tmp_path):
    from policysite.collector.core.checkpoint import Signer
    from policysite.collector.core.receipt import verify

    page = context.new_page()
    page.goto(server.base + VI_PAGE)
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "policyConsent.receipts().length == 1")
    page.evaluate("policyConsent.open()")
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Từ chối tất cả").click()
    wait_until(page, "policyConsent.receipts().length == 2")
    receipts = page.evaluate("policyConsent.receipts()")
    key = Signer.parse((server.root / "consent-log.key").read_text().strip()).verifier
    proven = [verify(r, key) for r in receipts]  # offline: the public key is all it takes
    # Each names the banner the visitor was shown, which the build archived.
    policy = json.loads(page.request.get(server.base + "/policy.json").body())
    banner = policy["consent"]["banner_sha256"]
    assert [r["record"]["banner_sha256"] for r in receipts] == [banner, banner]
    archived = page.request.get(server.base + f"/consent-log/banner/{banner}.json")
    assert archived.status == 200 and hashlib.sha256(archived.body()).hexdigest() == banner
    assert [(p.consent_id, p.seq, p.action) for p in proven] == [
        (stored(context)["id"], 1, "accept_all"),
        (stored(context)["id"], 2, "reject_all"),
    ]
    page.evaluate("policyConsent.open()")
    with page.expect_download() as download:
        dialog(page).get_by_role("button", name="Tải bản ghi đồng ý của tôi").click()
    assert download.value.suggested_filename == "consent-record.json"
    saved = tmp_path / "consent-record.json"
    download.value.save_as(saved)
    assert json.loads(saved.read_text()) == receipts


def test_widget_makes_a_v4_id_without_crypto_randomuuid(server, context):
    """Plain-http origins and older Safari have no crypto.randomUUID: the id comes from
    crypto.getRandomValues, still a version 4 UUID the collector accepts."""
    page = context.new_page()
    page.add_init_script("delete Crypto.prototype.randomUUID")
    page.goto(server.base + VI_PAGE)
    assert page.evaluate("typeof crypto.randomUUID") == "undefined"
    choose(page, "Từ chối tất cả")
    consent_id = stored(context)["id"]
    assert uuid.UUID(consent_id).version == 4 and str(uuid.UUID(consent_id)) == consent_id
    assert [row["seq"] for row in server.rows(consent_id)] == [1]


def test_widget_matches_the_page_language_case_insensitively(server, context):
    """lang="EN-us" is English, and the banner says which language it speaks."""
    page = context.new_page()

    def shout(route):
        response = route.fetch()
        body = response.text().replace('<html lang="en"', '<html lang="EN-us"', 1)
        route.fulfill(response=response, body=body)

    page.route("**" + EN_PAGE, shout)
    page.goto(server.base + EN_PAGE)
    assert page.evaluate("document.documentElement.lang") == "EN-us"
    region = page.get_by_role("region", name="Cookies", exact=True)
    region.wait_for()
    assert region.get_by_role("button", name="Accept all").is_visible()
    assert region.get_attribute("lang") == "en"


TRACKERS = {"_ga", "_ga_ABC123", "_ga_XYZ789", "_gcl_au", "_fbp"}


def test_withdrawal_deletes_the_trackers_cookies_and_tells_the_scripts(server, context):
    """Accept all, let the gated tags set Google Analytics', Google Ads' and the Facebook
    pixel's real cookies (one on a path of its own), then withdraw: every cookie site.toml
    declares for a refused category is gone, patterns like _ga_* included, even after a
    reload; Consent Mode, the pixel and consent:change are told what was revoked."""
    page = context.new_page()
    page.add_init_script(
        "window.changes = []; document.addEventListener('consent:change',"
        " (e) => changes.push(e.detail.revoked));"
    )
    page.goto(server.base + GATED_PAGE)
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "(window.ran || []).length == 3")
    assert {c["name"] for c in context.cookies()} >= TRACKERS
    page.get_by_role("button", name="Cài đặt cookie").click()  # the footer's control
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Từ chối tất cả").click()
    left = {c["name"] for c in context.cookies()}
    assert left & TRACKERS == set(), left
    assert "ximgo_consent" in left  # the choice itself is kept: withdrawal is a choice
    assert page.evaluate("changes") == [[], ["analytics", "advertising"]]
    assert data_layer(page)[-1] == ["consent", "update", DENIED]
    assert page.evaluate("fbqCalls")[-1] == ["consent", "revoke"]
    page.reload()
    page.wait_for_timeout(300)
    assert ran(page) == [] and {c["name"] for c in context.cookies()} & TRACKERS == set()


def test_withdrawal_of_one_category_keeps_the_others_cookies(server, context):
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "(window.ran || []).length == 3")
    page.get_by_role("button", name="Cài đặt cookie").click()
    dialog(page).locator("input[name=advertising]").uncheck()
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Lưu lựa chọn").click()
    left = {c["name"] for c in context.cookies()}
    assert {"_ga", "_ga_ABC123", "_ga_XYZ789"} <= left
    assert left & {"_gcl_au", "_fbp"} == set()


def test_reload_on_revoke_reloads_the_page_after_a_withdrawal(server, context):
    """With [consent] reload_on_revoke = true (baked into consent.js as "reload":1), a
    withdrawal reloads the page, so scripts already running stop."""
    page = context.new_page()

    def reloading(route):
        response = route.fetch()
        body = response.text().replace('"reload":0', '"reload":1', 1)
        assert '"reload":1' in body
        route.fulfill(response=response, body=body)

    page.route("**/consent.js", reloading)
    page.goto(server.base + GATED_PAGE)
    choose(page, "Chấp nhận tất cả")
    page.evaluate("window.before = 1")
    page.get_by_role("button", name="Cài đặt cookie").click()
    with page.expect_event("load"):
        dialog(page).get_by_role("button", name="Từ chối tất cả").click()
    assert page.evaluate("window.before") is None  # a new page
    assert ran(page) == []


def test_gated_scripts_run_in_document_order_each_once(server, context):
    """A plugin runs after its library even when the library arrives half a second late;
    a script marked async need not wait; a second decision runs nothing again."""
    page = context.new_page()

    def late(route):
        time.sleep(0.5)  # the server is slow with the library
        route.continue_()

    page.route("**/_widget/library.js", late)
    page.goto(server.base + ORDER_PAGE)
    choose(page, "Chấp nhận tất cả")
    wait_until(page, "(window.order || []).length == 3")
    order = page.evaluate("window.order")
    assert order.index("library") < order.index("plugin") and "too early" not in order
    assert order[0] == "async"  # it did not wait for the late library
    page.evaluate("policyConsent.open()")
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Lưu lựa chọn").click()
    page.wait_for_timeout(200)
    assert page.evaluate("window.order") == order  # each ran once


def test_consent_modes_default_comes_first_before_an_ungated_tag_manager(server, context):
    """README's snippet puts consent.js first in <head>, without defer when a tag manager
    follows ungated: the default (everything denied) is then dataLayer's first entry, before
    the tag manager's js and config."""
    page = context.new_page()
    page.goto(server.base + TAG_MANAGER_PAGE)
    banner(page).wait_for()
    layer = data_layer(page)
    assert layer[0] == ["consent", "default", DENIED]
    assert [entry[0] for entry in layer[1:]] == ["js", "config"]


def test_a_409_sends_the_same_decision_again_with_the_next_seq(server, context):
    """Another tab (or a lost cookie) used this seq for another decision: the collector
    answers 409, and the widget sends its own decision again with the next seq, so that the
    log holds what this browser chose."""
    page = context.new_page()
    page.goto(server.base + VI_PAGE)
    choose(page, "Chấp nhận tất cả")
    consent_id = stored(context)["id"]
    # Seq 2 of this browser is taken, behind its back, by another decision (no Origin: curl).
    taken = {"consent_id": consent_id, "seq": 2, "document": "privacy",
             "version": FIRST_VERSION, "language": "vi", "action": "accept_all",
             "choices": dict.fromkeys(CATEGORIES, True)}  # fmt: skip
    assert httpx.post(server.base + "/api/consent", json=taken).status_code == 201
    page.evaluate("policyConsent.open()")
    with page.expect_response(lambda r: r.url.endswith("/api/consent") and r.status == 409):
        dialog(page).get_by_role("button", name="Từ chối tất cả").click()
    rows = server.rows(consent_id, at_least=3)
    assert [(r["seq"], r["action"]) for r in rows] == [
        (1, "accept_all"),
        (2, "accept_all"),
        (3, "reject_all"),
    ]
    wait_until(page, "document.cookie.includes('.3.')")
    assert stored(context)["seq"] == "3"
    wait_until(page, "!localStorage.getItem('ximgo_consent_q')")  # delivered, not queued


def test_other_refusals_are_reported_once_and_dropped(server, context):
    page = context.new_page()
    warnings: list[str] = []
    page.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
    page.add_init_script(
        "window.errors = []; document.addEventListener('consent:error',"
        " (e) => errors.push(e.detail.status));"
    )
    page.route("**/api/consent", lambda route: route.fulfill(status=403, json={"error": "no"}))
    page.goto(server.base + VI_PAGE)
    page.get_by_role("button", name="Từ chối tất cả").click()
    wait_until(page, "errors.length == 1")
    page.evaluate("policyConsent.open()")
    dialog(page).get_by_role("button", name="Chấp nhận tất cả").click()
    wait_until(page, "errors.length == 2")
    assert page.evaluate("errors") == [403, 403]
    assert len(warnings) == 1 and "403" in warnings[0]  # the console hears of it once
    assert page.evaluate("localStorage.getItem('ximgo_consent_q')") is None  # not retried


def test_a_decision_is_kept_while_the_page_lives_when_storage_is_blocked(server, context):
    """With localStorage blocked and the collector answering 503, the banner still goes away,
    and the decision, kept in memory, is sent again 30 s later, once the collector is back."""
    page = context.new_page()
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('blocked', 'SecurityError'); }});"
    )
    page.clock.install()
    down = {"on": True}

    def collector(route):
        if down["on"]:
            route.fulfill(status=503, json={"error": "down"}, headers={"retry-after": "5"})
        else:
            route.continue_()

    page.route("**/api/consent", collector)
    page.goto(server.base + VI_PAGE)
    with page.expect_response(lambda r: r.url.endswith("/api/consent") and r.status == 503):
        page.get_by_role("button", name="Từ chối tất cả").click()
    assert banner(page).count() == 0  # dismissed all the same
    consent_id = stored(context)["id"]
    down["on"] = False
    with page.expect_response(lambda r: r.url.endswith("/api/consent") and r.status == 201):
        page.clock.run_for(31_000)
    [row] = server.rows(consent_id)
    assert row["action"] == "reject_all"


def test_after_a_decision_focus_goes_somewhere_sensible(server, context):
    """Not <body>: the main landmark when the control that had focus is gone with the
    banner; the footer's control when it opened the dialog."""
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    banner(page).get_by_role("button", name="Từ chối tất cả").focus()
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "MAIN"
    page.get_by_role("button", name="Cài đặt cookie").focus()
    page.keyboard.press("Enter")
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Chấp nhận tất cả").click()
    wait_until(page, "document.activeElement.textContent == 'Cài đặt cookie'")
    page.goto(server.base + VI_PAGE)  # asked again elsewhere: the banner's own "Tùy chỉnh"
    page.context.clear_cookies()
    page.reload()
    banner(page).get_by_role("button", name="Tùy chỉnh").click()
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog(page).get_by_role("button", name="Lưu lựa chọn").click()
    wait_until(page, "document.activeElement.tagName == 'MAIN'")


def test_a_new_category_asks_again_with_nothing_ticked(server, context):
    """A choice made before site.toml had `advertising` (its cookie lists only necessary and
    analytics) no longer counts: the visitor is asked again, and analytics, granted then,
    does not come back ticked."""
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    stamp = base36(now)
    old = f"{uuid.uuid4()}.1.{FIRST_VERSION}.necessary+analytics.{stamp}.{stamp}"
    context.add_cookies([{"name": "ximgo_consent", "value": old, "url": server.base}])
    page = context.new_page()
    page.goto(server.base + GATED_PAGE)
    banner(page).wait_for()
    page.wait_for_timeout(200)
    assert ran(page) == [] and page.evaluate("policyConsent.get()") is None
    assert ticked_when_asked_again(page) == {"necessary"}
