"""Built pages in real Chromium: axe-core (WCAG 2.2 AA) finds nothing, and the strict CSP
`default-src 'self'` blocks nothing. Also writes the README screenshots in docs/screenshots/."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from policysite.feeds import SECURITY_HEADERS
from policysite.site import build

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


class _Handler(SimpleHTTPRequestHandler):
    """Serves dist/ like a static host reading `_headers`, with the strict CSP of SPEC §3."""

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS:
            if name != "Content-Security-Policy":
                self.send_header(name, value)
        self.send_header("Content-Security-Policy", CSP)
        super().end_headers()

    def send_error(self, code, message=None, explain=None):
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Build the multiversion fixture and the shipped content (also with its draft, which has
    the cookie table); serve each over HTTP."""
    root = tmp_path_factory.mktemp("a11y")
    sites = {
        "multiversion": (ROOT / "tests/fixtures/multiversion/content", False),
        "shipped": (ROOT / "content", False),
        "shipped-drafts": (ROOT / "content", True),
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


def _open(browser, url: str, color_scheme: str = "light"):
    context = browser.new_context(
        color_scheme=color_scheme, viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    response = page.goto(url, wait_until="load")
    assert response.status == 200, url
    page.wait_for_load_state("networkidle")
    return context, page, console, failed


PAGES = [
    ("multiversion", "/chinh-sach-bao-mat/"),
    ("multiversion", "/chinh-sach-bao-mat/history/"),
    ("multiversion", "/chinh-sach-bao-mat/2026-06-01/diff.html"),
    ("multiversion", "/en/privacy-policy/"),
    ("multiversion", "/en/privacy-policy/history/"),
    ("multiversion", "/en/privacy-policy/2026-06-01/diff.html"),
    # XIMGO's own policy, and its draft: the cookie table and a diff of real text
    ("shipped", "/chinh-sach-bao-mat/"),
    ("shipped-drafts", "/chinh-sach-bao-mat/2027-01-01/"),
    ("shipped-drafts", "/chinh-sach-bao-mat/2027-01-01/diff.html"),
    ("shipped-drafts", "/en/privacy-policy/2027-01-01/"),
    ("shipped-drafts", "/en/privacy-policy/2027-01-01/diff.html"),
]


@pytest.mark.parametrize(("site", "path"), PAGES)
@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_page_has_no_axe_violations_and_no_csp_violations(
    browser, served, site, path, color_scheme
):
    context, page, console, failed = _open(browser, served[site] + path, color_scheme)
    try:
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
        assert results.violations_count == 0, results.generate_report()
        assert page.evaluate("window.__cspViolations") == []
        assert [m for m in console if "Content Security Policy" in m] == []
        assert failed == []
    finally:
        context.close()


def test_skip_link_moves_focus_to_main_content(browser, served):
    context, page, _, _ = _open(browser, served["multiversion"] + "/chinh-sach-bao-mat/")
    try:
        skip = page.get_by_role("link", name="Chuyển đến nội dung chính")
        # The consent banner, when shown, comes first in the tab order; the skip link next.
        for _ in range(8):
            page.keyboard.press("Tab")
            if skip.evaluate("el => el === document.activeElement"):
                break
        assert skip.evaluate("el => el === document.activeElement")
        assert skip.is_visible()  # it appears when focused
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
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


@pytest.mark.parametrize(
    ("language", "path"), [("vi", "/chinh-sach-bao-mat/"), ("en", "/en/privacy-policy/")]
)
def test_screenshot_of_the_policy_page(browser, served, language, path, tmp_path):
    """docs/screenshots/policy-<lang>.png: the shipped policy as built, for README.

    Written into docs/ only with POLICYSITE_UPDATE_SCREENSHOTS=1, so a test run never
    changes the repository.
    """
    context, page, _, _ = _open(browser, served["shipped"] + path)
    try:
        shot = tmp_path / f"policy-{language}.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        assert page.get_by_role("heading", level=1).count() == 1
    finally:
        context.close()
    if os.environ.get("POLICYSITE_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots" / shot.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)
