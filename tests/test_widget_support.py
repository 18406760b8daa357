"""Shared by the widget's browser tests: a small site, `python build.py serve`, page helpers.

This module holds no tests. The site is XIMGO's real site.toml (categories, cookies, collector)
with two short versions of the privacy policy: 2026-11-24, and 2026-12-15 with
`reconsent: true`. Served with `--date 2026-11-25` the first is in force; with
`--date 2026-12-16` the second is, and visitors who chose earlier are asked again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, free_port, wait_for_port

BEFORE_RECONSENT = "2026-11-25"
AFTER_RECONSENT = "2026-12-16"
FIRST_VERSION = "2026-11-24"
RECONSENT_VERSION = "2026-12-15"
VI_PAGE = "/chinh-sach-bao-mat/"
EN_PAGE = "/en/privacy-policy/"
GATED_PAGE = "/_widget/gated.html"  # written into the served folder by `write_test_pages`
NONCE_PAGE = "/_widget/nonce.html"
ORDER_PAGE = "/_widget/order.html"
TAG_MANAGER_PAGE = "/_widget/tag-manager.html"
NONCE = "t3stn0nce"
CATEGORIES = ("necessary", "analytics", "advertising")

SOURCES = {
    "privacy/2026-11-24.vi.md": "---\ntitle: Chính sách bảo mật\n---\n\n"
    "## Thu thập thông tin\n\nXIMGO chỉ thu thập thông tin cần thiết.\n",
    "privacy/2026-11-24.en.md": "---\ntitle: Privacy policy\n---\n\n"
    "## Collecting information\n\nXIMGO collects only what it needs.\n",
    "privacy/2026-12-15.vi.md": "---\ntitle: Chính sách bảo mật\nsummary: Thêm mục cookie.\n"
    "reconsent: true\n---\n\n## Thu thập thông tin\n\nXIMGO chỉ thu thập thông tin cần thiết.\n\n"
    "## Cookie\n\n{{ cookie_table }}\n",
}

# A page with gated scripts, as XIMGO's other pages embed the widget. fbq.js stands in for the
# Facebook pixel's base code (it defines fbq and records calls); the gated scripts record that
# they ran. Nothing is inline: the server's CSP is default-src 'self'.
GATED_HTML = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Gated scripts</title>
{meta}<link rel="stylesheet" href="/consent.css">
<script src="/_widget/fbq.js"{nonce}></script>
<script src="/consent.js" defer{nonce}></script>
</head><body><main><h1>Gated scripts</h1><p>Content above the fold.</p>
<script type="text/plain" data-consent="analytics" src="/_widget/ran.js?analytics"{nonce}></script>
<script type="text/plain" data-consent="advertising" src="/_widget/ran.js?advertising"{nonce}>
</script>
<script type="text/plain" data-consent="analytics advertising" src="/_widget/ran.js?both"{nonce}>
</script></main>
<footer><button type="button" data-consent-open>Cài đặt cookie</button></footer>
</body></html>
"""
# A library and a plugin that needs it, both gated, as tag managers' snippets come: the
# plugin must run after the library even when the library arrives late (the test delays it).
ORDER_HTML = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Order</title>
<link rel="stylesheet" href="/consent.css"><script src="/consent.js" defer></script>
</head><body><main><h1>Order</h1>
<script type="text/plain" data-consent="analytics" src="/_widget/library.js"></script>
<script type="text/plain" data-consent="analytics" src="/_widget/plugin.js"></script>
<script type="text/plain" data-consent="analytics" src="/_widget/async.js" async></script>
</main></body></html>
"""
# A tag manager loaded without consent gating (Consent Mode's "advanced" set-up), after the
# widget as README's snippet says: the widget's default must be the first dataLayer entry.
TAG_MANAGER_HTML = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Tag manager</title>
<link rel="stylesheet" href="/consent.css"><script src="/consent.js"></script>
<script src="/_widget/tag-manager.js"></script>
</head><body><main><h1>Tag manager</h1></main></body></html>
"""
TAG_MANAGER_JS = """window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag('js', new Date()); gtag('config', 'G-TEST');
"""
LIBRARY_JS = "(window.order = window.order || []).push('library'); window.library = {};\n"
PLUGIN_JS = "(window.order = window.order || []).push(window.library ? 'plugin' : 'too early');\n"
ASYNC_JS = "(window.order = window.order || []).push('async');\n"
FBQ_JS = "window.fbqCalls=[];window.fbq=function(){fbqCalls.push([].slice.call(arguments))};\n"
# Each gated script records that it ran and sets the cookies its category's real tags set
# (Google Analytics, Google Ads, the Facebook pixel), one of them on a path of its own.
RAN_JS = """(function (k) {
  (window.ran = window.ran || []).push(k);
  var set = {analytics: ["_ga", "_ga_ABC123"], advertising: ["_gcl_au", "_fbp"]}[k] || [];
  set.forEach(function (n) { document.cookie = n + "=1;path=/;max-age=99999"; });
  if (k == "analytics") document.cookie = "_ga_XYZ789=1;path=/_widget;max-age=99999";
})(document.currentScript.src.split("?")[1]);
"""

# Collects CSP violations and layout shifts from the first moment of every page.
OBSERVERS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => cspViolations.push(e.violatedDirective + " " + e.blockedURI));
window.cls = 0;
new PerformanceObserver((list) => list.getEntries().forEach((e) => {
  if (!e.hadRecentInput) cls += e.value;
})).observe({type: "layout-shift", buffered: true});
"""


def write_site(root: Path) -> Path:
    """Write the test site's content folder under `root` and return it."""
    content = root / "content"
    (content / "privacy").mkdir(parents=True)
    shutil.copy(ROOT / "content" / "site.toml", content / "site.toml")
    for name, text in SOURCES.items():
        (content / name).write_text(text, encoding="utf-8")
    return content


FUNCTIONAL = """
[[consent.categories]]
id = "functional"
name = { vi = "Chức năng", en = "Functional" }
purpose = { vi = "Ghi nhớ thiết lập bạn chọn.", en = "Remember settings you choose." }

[[consent.categories.cookies]]
name = "lang_pref"
provider = "XIMGO"
purpose = { vi = "Ghi nhớ ngôn ngữ bạn chọn.", en = "Remembers your language." }
lifetime = { vi = "1 năm", en = "1 year" }
"""


def with_functional(content: Path) -> Path:
    """Add a fourth category, `functional`, after the others in the test site's site.toml."""
    toml = content / "site.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("\n[controller]", FUNCTIONAL + "\n[controller]"), "utf-8")
    return content


def write_test_pages(out: Path) -> None:
    """Add the gated-script pages to the served folder (serve only rebuilds on source edits)."""
    folder = out / "_widget"
    folder.mkdir(exist_ok=True)
    (folder / "fbq.js").write_text(FBQ_JS)
    (folder / "order.html").write_text(ORDER_HTML, encoding="utf-8")
    (folder / "tag-manager.html").write_text(TAG_MANAGER_HTML, encoding="utf-8")
    (folder / "tag-manager.js").write_text(TAG_MANAGER_JS)
    for name, text in (("library", LIBRARY_JS), ("plugin", PLUGIN_JS), ("async", ASYNC_JS)):
        (folder / f"{name}.js").write_text(text)
    (folder / "ran.js").write_text(RAN_JS)
    plain = GATED_HTML.format(lang="vi", meta="", nonce="")
    (folder / "gated.html").write_text(plain, encoding="utf-8")
    # A stricter policy on top of the server's: only scripts carrying the nonce may run.
    meta = f'<meta http-equiv="Content-Security-Policy" content="script-src \'nonce-{NONCE}\'">\n'
    strict = GATED_HTML.format(lang="vi", meta=meta, nonce=f' nonce="{NONCE}"')
    (folder / "nonce.html").write_text(strict, encoding="utf-8")


@dataclass
class Server:
    """`python build.py serve` on the test site: pages and the real collector on one port."""

    root: Path
    date: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.root / "consents.sqlite3"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def start(self) -> Server:
        content = self.root / "content"
        if not content.exists():
            write_site(self.root)
        command = [sys.executable, "build.py", "serve", "--port", str(self.port)]
        command += ["--date", self.date, "--content", str(content), "--out", str(self.out)]
        command += ["--db", str(self.db)]
        with (self.root / "serve.log").open("a") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=60)
        # The socket accepts during the first build; a page answers once it is done.
        assert httpx.get(self.base + VI_PAGE, timeout=60).status_code == 200
        write_test_pages(self.out)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def rows(self, consent_id: str, at_least: int = 1) -> list[dict[str, Any]]:
        """The collector's records for one browser, from the SQLite file, oldest first.

        Waits (up to 5 s) for `at_least` rows: the test reads right after the browser saw 201.
        """
        end = time.monotonic() + 5
        found = self._rows(consent_id)
        while len(found) < at_least and time.monotonic() < end:
            time.sleep(0.05)
            found = self._rows(consent_id)
        return found

    def _rows(self, consent_id: str) -> list[dict[str, Any]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as db:
            db.row_factory = sqlite3.Row
            found = db.execute(
                "select * from consents where consent_id = ? order by seq", (consent_id,)
            )
            return [dict(row) | {"choices": json.loads(row["choices"])} for row in found]


def module_server(tmp_path_factory) -> Iterator[Server]:
    """One server for a test module, with the first version in force: `yield from` it in a
    module-scoped fixture."""
    running = Server(tmp_path_factory.mktemp("widget"), BEFORE_RECONSENT).start()
    try:
        yield running
    finally:
        running.stop()


def observe(page) -> list[tuple[str, str]]:
    """Install the CSP and layout-shift observers; return the list that records requests."""
    requests: list[tuple[str, str]] = []
    page.add_init_script(OBSERVERS)
    page.on("request", lambda r: requests.append((r.method, r.url)))
    return requests


def wait_until(page, expression: str, deadline: float = 10.0) -> None:
    """Poll `expression` in the page until it is truthy. (page.wait_for_function polls with
    eval, which the pages' CSP forbids.)"""
    end = time.monotonic() + deadline
    while not page.evaluate(expression):
        if time.monotonic() > end:
            raise AssertionError(f"still false after {deadline}s: {expression}")
        page.wait_for_timeout(25)


def base36(number: int) -> str:
    """`number` in base 36, as the consent cookie writes its times (Number.toString(36))."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def violations(page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (id and targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in results.response["violations"]
    ]


def consent_cookie(context) -> dict[str, Any] | None:
    cookies = [c for c in context.cookies() if c["name"] == "ximgo_consent"]
    return cookies[0] if cookies else None


def data_layer(page) -> list[list[Any]]:
    """window.dataLayer as lists (gtag pushes Arguments objects)."""
    return page.evaluate("dataLayer.map((a) => Array.from(a))")
