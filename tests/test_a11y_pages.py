"""Built pages in real Chromium: axe-core (WCAG 2.2 AA) finds nothing, and the strict CSP
`default-src 'self'` blocks nothing. Also writes the README screenshots in docs/screenshots/."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from static_host import StaticHost
from test_widget_support import base36

from policysite.build.pipeline import build
from policysite.render.deploy import SECURITY_HEADERS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "themes" / "default"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CSP = "default-src 'self'"

# Records CSP violations; Playwright injects init scripts outside the page's CSP.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


class _Handler(StaticHost):
    """Serves dist/ like a static host reading `_headers`, with the pages' strict CSP
    (docs/build-output.md)."""

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS:
            if name != "Content-Security-Policy":
                self.send_header(name, value)
        self.send_header("Content-Security-Policy", CSP)
        super().end_headers()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Build the multiversion fixture and the shipped content (also with its draft, which has
    the cookie table); serve each over HTTP."""
    root = tmp_path_factory.mktemp("a11y")
    sites = {
        "multiversion": (ROOT / "tests/fixtures/multiversion/content", False),
        "shipped": (ROOT / "content", False),
        "shipped-drafts": (ROOT / "content", True),
        "two-documents": (ROOT / "tests/fixtures/two-documents/content", False),
    }
    servers, urls = [], {}
    for name, (source, drafts) in sites.items():
        shutil.copytree(source, root / name / "content")
        dist = root / name / "dist"
        build(root / name / "content", THEME, dist, date=dt.date(2026, 11, 25), drafts=drafts)
        handler = functools.partial(_Handler, directory=str(dist))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls[name] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield urls
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# A standing choice ("necessary" only), so the banner stays away: the version is later than any
# reconsent date, `updated` is now (base 36 milliseconds), and every category is listed.
def _choice_cookie(base: str) -> dict:
    now = base36(int(time.time() * 1000))
    value = f"0-a11y.1.9999-12-31.necessary+!analytics+!advertising.{now}.{now}"
    return {"name": "ximgo_consent", "value": value, "url": base}


def _context(browser, width: int = 1280, color_scheme: str = "light", base: str = ""):
    """A browser context at `width` px; with `base`, the visitor has already chosen there."""
    context = browser.new_context(
        color_scheme=color_scheme,
        viewport={"width": width, "height": 844 if width < 600 else 900},
        reduced_motion="reduce",
    )
    if base:
        context.add_cookies([_choice_cookie(base)])
    context.add_init_script(WATCH_CSP)
    return context


def _goto(page, url: str, status: int = 200, banner: bool = True) -> None:
    response = page.goto(url, wait_until="load")
    assert response.status == status, url
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    if banner:
        page.locator(".pc-b").wait_for()
    else:
        assert page.locator(".pc-b").count() == 0


def _open(browser, url: str, color_scheme: str = "light"):
    context = _context(browser, 1280, color_scheme)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    _goto(page, url)
    return context, page, console, failed


# Every page type: home, current, permanent version, history, diff, 404; both languages.
PAGES = [
    ("multiversion", "/", 200),
    ("multiversion", "/chinh-sach-bao-mat/", 200),
    ("multiversion", "/chinh-sach-bao-mat/2026-06-01/", 200),
    ("multiversion", "/chinh-sach-bao-mat/history/", 200),
    ("multiversion", "/chinh-sach-bao-mat/2026-06-01/diff.html", 200),
    ("multiversion", "/en/privacy-policy/", 200),
    ("multiversion", "/en/privacy-policy/history/", 200),
    ("multiversion", "/en/privacy-policy/2026-06-01/diff.html", 200),
    ("multiversion", "/khong-co/", 404),
    # XIMGO's own policy, and its draft: the cookie table and a diff of real text
    ("shipped", "/chinh-sach-bao-mat/", 200),
    ("shipped", "/en/privacy-policy/", 200),
    ("shipped-drafts", "/chinh-sach-bao-mat/2027-01-01/", 200),
    ("shipped-drafts", "/chinh-sach-bao-mat/2027-01-01/diff.html", 200),
    ("shipped-drafts", "/en/privacy-policy/2027-01-01/diff.html", 200),
    # a home that lists several documents, not a redirect
    ("two-documents", "/", 200),
    ("two-documents", "/en/", 200),
]
WIDTHS = [390, 1280]


@pytest.mark.parametrize("banner", [True, False], ids=["banner", "no-banner"])
@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_pages_have_no_axe_violations_no_csp_violations_and_fit_the_width(
    browser, served, width, color_scheme, banner
):
    """axe-core's WCAG 2.2 AA rules on every page type, and nothing wider than the screen (the
    cookie table stacks on a phone; the 404 page is not squeezed into a contents column)."""
    problems = []
    for site, path, status in PAGES:
        base = served[site]
        context = _context(browser, width, color_scheme, "" if banner else base)
        page = context.new_page()
        failed: list[str] = []
        page.on("response", lambda r, failed=failed: r.status >= 400 and failed.append(r.url))
        try:
            _goto(page, base + path, status, banner)
            results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
            if results.violations_count:
                problems.append(f"{path}: {results.generate_report()}")
            if page.evaluate("window.__cspViolations"):
                problems.append(f"{path}: CSP {page.evaluate('window.__cspViolations')}")
            if [url for url in failed if not url.endswith("/khong-co/")]:
                problems.append(f"{path}: failed requests {failed}")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            if overflow > width:
                problems.append(f"{path}: {overflow} px wide at {width} px")
            main = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
            if main < min(width - 60, 600):
                problems.append(f"{path}: main is only {main} px wide at {width} px")
        finally:
            context.close()
    assert problems == []


# Tab through a page: the skip link first, the banner next, and no focused element under the
# banner (WCAG 2.2 SC 2.4.11 Focus Not Obscured).
FOCUS_WALK = """() => {
  const el = document.activeElement, banner = document.querySelector('.pc-b');
  if (!el || el === document.body) return null;
  const r = el.getBoundingClientRect(), b = banner ? banner.getBoundingClientRect() : null;
  const inBanner = banner ? banner.contains(el) : false;
  const covered = b && !inBanner && r.bottom > b.top && r.top < b.bottom &&
    r.right > b.left && r.left < b.right && r.height > 0;
  return {tag: el.tagName, text: (el.textContent || '').trim().slice(0, 40), inBanner,
          covered, rect: [r.top, r.bottom], banner: b && [b.top, b.bottom]};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_tabbing_starts_with_the_skip_link_then_the_banner_and_never_hides_focus(
    browser, served, width
):
    problems = []
    for site, path, status in PAGES:
        context = _context(browser, width)
        page = context.new_page()
        try:
            _goto(page, served[site] + path, status)
            stops = []
            for _ in range(60):
                page.keyboard.press("Tab")
                stop = page.evaluate(FOCUS_WALK)
                if stop is None or (stops and stop == stops[0]):
                    break
                stops.append(stop)
                if stop["covered"]:
                    problems.append(f"{path} at {width}px: {stop} is under the banner")
            assert stops[0]["text"] in ("Chuyển đến nội dung chính", "Skip to content"), path
            assert stops[1]["inBanner"], (path, stops[1])
            assert len(stops) > 6, path
        finally:
            context.close()
    assert problems == []


def test_skip_link_moves_focus_to_main_content(browser, served):
    context, page, _, _ = _open(browser, served["multiversion"] + "/chinh-sach-bao-mat/")
    try:
        skip = page.get_by_role("link", name="Chuyển đến nội dung chính")
        page.keyboard.press("Tab")
        assert skip.evaluate("el => el === document.activeElement")
        assert skip.is_visible()  # it appears when focused
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
    finally:
        context.close()


def test_each_heading_is_named_by_its_text_once_and_copies_without_its_anchor(browser, served):
    context, page, _, _ = _open(browser, served["shipped"] + "/chinh-sach-bao-mat/")
    try:
        titles = page.eval_on_selector_all(
            ".policy-text h2, .policy-text h3", "els => els.map(e => e.textContent)"
        )
        assert len(titles) >= 3
        for title in titles:
            heading = page.get_by_role("heading", name=title, exact=True)
            assert heading.count() == 1, title
            link = heading.get_by_role("link")
            assert link.get_attribute("href").startswith("#")
            assert page.get_by_role("link", name=f"Liên kết tới mục này: {title}").count() == 1
        copied = page.evaluate(
            """() => {
              const h = document.querySelector('.policy-text h2'), range = document.createRange();
              range.selectNodeContents(h);
              getSelection().removeAllRanges();
              getSelection().addRange(range);
              return getSelection().toString();
            }"""
        )
        assert copied == titles[0]
    finally:
        context.close()


def test_print_leaves_out_the_banner_and_marks_changes_without_colour(browser, served):
    context, page, _, _ = _open(
        browser, served["shipped-drafts"] + "/chinh-sach-bao-mat/2027-01-01/diff.html"
    )
    try:
        page.evaluate("policyConsent.open()")
        page.emulate_media(media="print")
        style = """(selector) => {
          const s = getComputedStyle(document.querySelector(selector));
          return [s.display, s.textDecorationLine, s.backgroundColor, s.color];
        }"""
        assert page.evaluate(style, ".pc-b")[0] == "none"
        assert page.evaluate(style, "dialog.pc-d")[0] == "none"
        white, black = "rgba(0, 0, 0, 0)", "rgb(0, 0, 0)"
        for where in (".diff-text", ".diff-legend"):
            assert page.evaluate(style, f"{where} ins")[1:] == ["underline", white, black]
            assert page.evaluate(style, f"{where} del")[1:] == ["line-through", white, black]
        assert page.get_by_role("heading", name="Cách đọc trang này").is_visible()
        legend = page.locator(".diff-legend").inner_text()
        assert "Chữ gạch chân đã được thêm." in legend
        assert "Chữ gạch ngang đã bị xoá." in legend
        # A deletion and the insertion after it are apart on paper, not run together.
        gaps = page.evaluate(
            """() => [...document.querySelectorAll('.diff-text del + ins')].map(ins => {
              const del = ins.previousElementSibling;
              return ins.getBoundingClientRect().left - del.getBoundingClientRect().right;
            }).filter(gap => gap > -100)"""
        )
        assert gaps and min(gaps) > 2
        assert page.locator("#data-controller").count() == 0  # a diff has no contact block
        page.pdf(path=str(Path(tempfile.mkdtemp()) / "diff.pdf"))
    finally:
        context.close()


def test_pages_read_well_without_javascript(browser, served):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(served["multiversion"] + "/en/privacy-policy/")
        assert page.get_by_role("heading", level=1).inner_text() == "Privacy policy"
        settings = page.get_by_role("contentinfo").get_by_role("link", name="Cookie settings")
        settings.click()
        assert page.url.endswith("/en/privacy-policy/#cookie-settings")
        assert page.get_by_role("table").count() == 1
    finally:
        context.close()


def test_missing_page_gets_the_404_page(browser, served):
    context = browser.new_context()
    page = context.new_page()
    try:
        response = page.goto(served["multiversion"] + "/khong-co/")
        assert response.status == 404
        assert page.get_by_role("heading", name="Không tìm thấy trang").count() == 1
        assert page.get_by_role("heading", name="Page not found").count() == 1
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("language", "path"), [("vi", "/chinh-sach-bao-mat/"), ("en", "/en/privacy-policy/")]
)
def test_screenshot_of_the_policy_page(browser, served, language, path, width, tmp_path):
    """docs/screenshots/policy-<lang>.png (1280 px, with the banner) and
    policy-<lang>-390.png (a phone): the shipped policy as built, for README.

    Written into docs/ only with POLICYSITE_UPDATE_SCREENSHOTS=1, so a test run never
    changes the repository.
    """
    context = _context(browser, width)
    page = context.new_page()
    try:
        _goto(page, served["shipped"] + path)
        shot = tmp_path / (
            f"policy-{language}.png" if width > 600 else f"policy-{language}-390.png"
        )
        page.screenshot(path=str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        assert page.get_by_role("heading", level=1).count() == 1
    finally:
        context.close()
    if os.environ.get("POLICYSITE_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots" / shot.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)
