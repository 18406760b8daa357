"""The widget with a site that uses its options: a fourth category (`functional`) declared only
in site.toml, `cookie_domain`, and iframe embeds, in real Chromium against `build.py serve`.

Two host names, ximgo.test and www.ximgo.test, point at 127.0.0.1 through Chromium's own host
resolver rules (no DNS, no /etc/hosts). They are plain-http origins that are not localhost, so
not secure contexts: there is no crypto.randomUUID and no Cookie Store API, as on a site served
without TLS or an older Safari.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS
from test_widget_support import (
    BEFORE_RECONSENT,
    Server,
    consent_cookie,
    violations,
    wait_until,
    with_functional,
    write_site,
)

DOMAIN = "ximgo.test"
EMBED_PAGE = "/_widget/embed.html"
EMBED_HTML = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Embeds</title>
<link rel="stylesheet" href="/consent.css"><script src="/consent.js" defer></script>
</head><body><main><h1>Embeds</h1>
<iframe title="Video" data-consent="advertising" data-provider="YouTube"
  data-src="/_widget/frame.html" width="320" height="180"></iframe>
<iframe title="Map" data-consent="functional" data-src="/_widget/frame.html?map"></iframe>
<script type="text/plain" data-consent="functional" src="/_widget/functional.js"></script>
</main><footer><button type="button" data-consent-open>Cài đặt cookie</button></footer>
</body></html>
"""
FRAME_HTML = "<!doctype html><title>Frame</title><p id=loaded>loaded</p>\n"
FUNCTIONAL_JS = "window.functionalRan = (window.functionalRan || 0) + 1;\n"
UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def site_with_options(root: Path, port: int) -> None:
    """The test site plus a functional category, cookie_domain, and both host names allowed."""
    toml = write_site(root) / "site.toml"
    text = toml.read_text(encoding="utf-8")
    origins = f'"http://{DOMAIN}:{port}", "http://www.{DOMAIN}:{port}", "http://127.0.0.1:{port}"'
    text = re.sub(r"allowed_origins = \[[^\]]*\]", f"allowed_origins = [{origins}]", text)
    name = 'cookie_name = "ximgo_consent"'
    text = text.replace(name, f'{name}\ncookie_domain = "{DOMAIN}"')
    toml.write_text(text, encoding="utf-8")
    with_functional(root / "content")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("options"), BEFORE_RECONSENT)
    site_with_options(running.root, running.port)
    running.start()
    folder = running.out / "_widget"
    (folder / "embed.html").write_text(EMBED_HTML, encoding="utf-8")
    (folder / "frame.html").write_text(FRAME_HTML, encoding="utf-8")
    (folder / "functional.js").write_text(FUNCTIONAL_JS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser():
    """Chromium that resolves ximgo.test and www.ximgo.test to 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    rules = f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1,MAP www.{DOMAIN} 127.0.0.1"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, rules]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser):
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()


def dialog(page):
    return page.get_by_role("dialog", name="Cài đặt cookie")


def test_a_fourth_category_is_named_explained_and_switched(server, context):
    """`functional` exists only in site.toml: the dialog shows its name and purpose beside a
    switch, its cookie list names provider, purpose and lifetime, and granting it runs what
    it gates. Every cookie list's summary is different."""
    page = context.new_page()
    page.goto(server.base + EMBED_PAGE)
    page.get_by_role("button", name="Tùy chỉnh").click()
    switch = dialog(page).get_by_role("switch", name="Chức năng")
    assert not switch.is_checked()
    named = page.get_by_role("switch", name="Chức năng")  # `has` looks inside each .pc-c
    category = dialog(page).locator(".pc-c").filter(has=named)
    assert "Ghi nhớ thiết lập bạn chọn." in category.inner_text()
    category.get_by_text("Danh sách cookie: Chức năng").click()
    assert category.locator("li").inner_text() == (
        "lang_pref (XIMGO, 1 năm): Ghi nhớ ngôn ngữ bạn chọn."
    )
    summaries = dialog(page).locator("summary").all_inner_texts()
    assert len(summaries) == 4 and len(set(summaries)) == 4
    assert dialog(page).get_by_role("switch", name="Cần thiết").is_disabled()
    switch.check()
    dialog(page).get_by_role("button", name="Lưu lựa chọn").click()
    wait_until(page, "window.functionalRan == 1")
    choices = server.rows(page.evaluate("policyConsent.get().id"))[0]["choices"]
    assert choices == {
        "necessary": True,
        "analytics": False,
        "advertising": False,
        "functional": True,
    }


def test_an_embed_waits_for_its_category_and_its_button_grants_it(server, context):
    page = context.new_page()
    page.goto(server.base + EMBED_PAGE)
    video = page.locator("iframe[title=Video]")
    placeholder = page.locator(".pc-e").first
    placeholder.wait_for()
    assert video.get_attribute("src") == "about:blank" and video.is_hidden()
    assert placeholder.inner_text().startswith(
        "Nội dung này từ YouTube chỉ được tải khi bạn cho phép cookie Quảng cáo."
    )
    # The map's placeholder names its host when the tag gives no provider.
    assert "từ 127.0.0.1" in page.locator(".pc-e").nth(1).inner_text()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    placeholder.get_by_role("button", name="Cho phép cookie Quảng cáo").click()
    page.frame_locator("iframe[title=Video]").locator("#loaded").wait_for()
    assert video.is_visible() and page.locator(".pc-e").count() == 1  # the map still waits
    assert not any("frame.html?map" in url for url in requests)
    consent_id = page.evaluate("policyConsent.get().id")
    [row] = server.rows(consent_id)
    assert (row["action"], row["choices"]["advertising"], row["choices"]["analytics"]) == (
        "custom",
        True,
        False,
    )
    # A withdrawal unloads it again and brings the placeholder back.
    page.locator("[data-consent-open]").click()
    dialog(page).get_by_role("switch", name="Quảng cáo").uncheck()
    dialog(page).get_by_role("button", name="Lưu lựa chọn").click()
    page.locator("iframe[title=Video] + *").wait_for()
    assert video.get_attribute("src") == "about:blank" and video.is_hidden()
    assert page.locator(".pc-e").count() == 2


def test_cookie_domain_shares_one_choice_between_the_apex_and_www(server, context):
    """On plain-http origins that are not localhost (no crypto.randomUUID, no Cookie Store):
    a choice on www.ximgo.test is the choice on ximgo.test, with one consent id."""
    page = context.new_page()
    page.goto(f"http://www.{DOMAIN}:{server.port}{EMBED_PAGE}")
    plain = "[isSecureContext, typeof crypto.randomUUID, 'cookieStore' in window]"
    assert page.evaluate(plain) == [False, "undefined", False]
    page.get_by_role("button", name="Từ chối tất cả").click()
    cookie = consent_cookie(context)
    assert cookie is not None and cookie["domain"] == f".{DOMAIN}"
    consent_id = page.evaluate("policyConsent.get().id")
    assert UUID_V4.match(consent_id)
    assert server.rows(consent_id)[0]["action"] == "reject_all"
    apex = context.new_page()
    apex.goto(f"http://{DOMAIN}:{server.port}{EMBED_PAGE}")
    wait_until(apex, "document.readyState == 'complete'")
    time.sleep(0.2)  # the banner is added at DOMContentLoaded, if at all
    assert apex.get_by_role("region", name="Cookie").count() == 0
    assert apex.evaluate("policyConsent.get().id") == consent_id
    # On a host outside the domain (a preview on 127.0.0.1) the cookie stays host-only.
    local = context.new_page()
    local.goto(server.base + EMBED_PAGE)
    local.get_by_role("button", name="Chấp nhận tất cả").click()
    hosts = {c["domain"] for c in context.cookies() if c["name"] == "ximgo_consent"}
    assert hosts == {f".{DOMAIN}", "127.0.0.1"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_embeds_and_four_categories_have_no_axe_violations(browser, server, scheme, width):
    context = browser.new_context(viewport={"width": width, "height": 844}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(server.base + EMBED_PAGE)
        page.locator(".pc-e").first.wait_for()
        assert violations(page) == []
        page.get_by_role("button", name="Tùy chỉnh").click()
        for summary in page.locator("dialog summary").all():
            summary.click()
        assert violations(page) == []
    finally:
        context.close()
