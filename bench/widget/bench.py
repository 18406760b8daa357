"""Widget benchmark (docs/performance.md): our consent widget next to three peers, in one run.

    python bench/widget/bench.py [--runs 15]

1. installs vanilla-cookieconsent 3.1.0, cookieconsent 3.1.1 (Osano) and klaro 0.7.22 from npm
   into bench/_work/widget/ (gitignored; npm install --ignore-scripts);
2. builds our widget with `python build.py build` from a copy of content/;
3. measures, for each, the gzip -9 bytes of the JS + CSS a page must load, and, in Debian's
   Chromium, the script time and CLS of a first visit (banner shown) to the same minimal page;
4. prints the table with ratios to ours and writes bench/widget/README-section.md.

Script time is Chromium's own account of main-thread script execution, the `ScriptDuration`
metric of the DevTools Performance domain, read once the banner is visible and the page has
settled (500 ms). A page without any widget is measured the same way and its median is
subtracted, so what remains is the widget's: parsing, compiling, running its code and its
config, and building its banner. The banner is awaited through the DevTools DOM domain, which
runs no script in the page: a Playwright locator runs its own injected script there, and
ScriptDuration would count ~0.5-1 ms of it against every widget (not against the baseline,
which waits for no banner). CLS sums layout-shift entries (without recent input) from a
PerformanceObserver installed before any script. Each run is a new tab with no cookie (a first
visit) in a browser that has a page of the site open; the table shows medians. Everything
talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / "_work" / "widget"
RESULTS = Path(__file__).resolve().parent / "README-section.md"
CHROMIUM = "/usr/bin/chromium"
PACKAGES = ["vanilla-cookieconsent@3.1.0", "cookieconsent@3.1.1", "klaro@0.7.22"]
SETTLE_MS = 500

CLS_OBSERVER = """
window.cls = 0;
new PerformanceObserver((list) => list.getEntries().forEach((e) => {
  if (!e.hadRecentInput) cls += e.value;
})).observe({type: "layout-shift", buffered: true});
"""

WARM_JS = "document.cookie; try { localStorage.length } catch (e) {}\n"
PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>{name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{head}</head><body><main><h1>Chính sách bảo mật</h1>
{paragraphs}</main>{body}</body></html>
"""
PARAGRAPH = (
    "<p>XIMGO hiểu rằng ngày nay việc bảo mật thông tin trên không gian Internet vô cùng quan "
    "trọng đối với mọi người. Chúng tôi nỗ lực để bảo vệ thông tin của người dùng.</p>\n"
)

VANILLA_CONFIG = """CookieConsent.run({
  hideFromBots: false, // it hides itself from headless browsers otherwise
  categories: {necessary: {enabled: true, readOnly: true}, analytics: {}, advertising: {}},
  language: {default: "vi", translations: {vi: {
    consentModal: {title: "Cookie",
      description: "Chúng tôi dùng cookie cần thiết và cookie phân tích, quảng cáo.",
      acceptAllBtn: "Chấp nhận tất cả", acceptNecessaryBtn: "Từ chối tất cả",
      showPreferencesBtn: "Tùy chỉnh"},
    preferencesModal: {title: "Cài đặt cookie", acceptAllBtn: "Chấp nhận tất cả",
      acceptNecessaryBtn: "Từ chối tất cả", savePreferencesBtn: "Lưu lựa chọn",
      closeIconLabel: "Đóng",
      sections: [{title: "Cần thiết", linkedCategory: "necessary"},
                 {title: "Phân tích", linkedCategory: "analytics"},
                 {title: "Quảng cáo", linkedCategory: "advertising"}]}}}}
});
"""
OSANO_CONFIG = """window.cookieconsent.initialise({type: "opt-in", content: {
  message: "Chúng tôi dùng cookie cần thiết và, nếu bạn đồng ý, cookie phân tích và quảng cáo.",
  allow: "Chấp nhận tất cả", deny: "Từ chối tất cả", link: "Chính sách bảo mật", href: "/"}});
"""
KLARO_CONFIG = """window.klaroConfig = {lang: "en", storageMethod: "cookie", services: [
  {name: "google-analytics", title: "Google Analytics", purposes: ["analytics"]},
  {name: "facebook-pixel", title: "Facebook Pixel", purposes: ["advertising"]}],
  translations: {en: {privacyPolicyUrl: "/",
    purposes: {analytics: "Phân tích", advertising: "Quảng cáo"}}}};
"""


@dataclass(frozen=True)
class Widget:
    slug: str  # page and config folder name
    name: str
    files: tuple[str, ...]  # JS and CSS a page must load, relative to WORK
    head: str
    body: str
    banner: str  # CSS selector of the banner once shown
    config: str = ""  # the site's own init script, written to <name>/config.js


def widgets() -> list[Widget]:
    vanilla = "node_modules/vanilla-cookieconsent/dist/"
    osano = "node_modules/cookieconsent/build/"
    return [
        Widget(
            "policysite",
            "policysite",
            ("dist/consent.js", "dist/consent.css"),
            '<link rel="stylesheet" href="/dist/consent.css">\n'
            '<script src="/dist/consent.js" defer></script>\n',
            "",
            ".pc-b",
        ),
        Widget(
            "vanilla",
            "vanilla-cookieconsent 3.1.0",
            (vanilla + "cookieconsent.umd.js", vanilla + "cookieconsent.css"),
            f'<link rel="stylesheet" href="/{vanilla}cookieconsent.css">\n',
            f'<script src="/{vanilla}cookieconsent.umd.js"></script>'
            '<script src="/vanilla/config.js"></script>',
            "#cc-main .cm",
            VANILLA_CONFIG,
        ),
        Widget(
            "osano",
            "cookieconsent 3.1.1 (Osano)",
            (osano + "cookieconsent.min.js", osano + "cookieconsent.min.css"),
            f'<link rel="stylesheet" href="/{osano}cookieconsent.min.css">\n',
            f'<script src="/{osano}cookieconsent.min.js"></script>'
            '<script src="/osano/config.js"></script>',
            ".cc-window",
            OSANO_CONFIG,
        ),
        Widget(
            "klaro",
            "klaro 0.7.22",
            ("node_modules/klaro/dist/klaro.js",),
            '<script src="/klaro/config.js"></script>\n'
            '<script src="/node_modules/klaro/dist/klaro.js" defer></script>\n',
            "",
            ".klaro .cookie-notice",
            KLARO_CONFIG,
        ),
    ]


def install() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    npm = ["npm", "install", "--prefix", str(WORK), "--no-audit", "--no-fund", "--ignore-scripts"]
    subprocess.run([*npm, *PACKAGES], check=True, stdout=subprocess.DEVNULL)


def build_ours() -> None:
    """Build the site from a copy of content/ (the build may write its versions.lock)."""
    content = WORK / "content"
    shutil.rmtree(content, ignore_errors=True)
    shutil.copytree(ROOT / "content", content)
    command = [sys.executable, "build.py", "build", "--content", str(content)]
    subprocess.run([*command, "--out", str(WORK / "dist")], cwd=ROOT, check=True)


def write_pages(all_widgets: list[Widget]) -> None:
    paragraphs = PARAGRAPH * 12
    pages = {"none": PAGE.format(name="none", head="", paragraphs=paragraphs, body="")}
    pages["warm"] = PAGE.format(
        name="warm", head="", paragraphs="", body='<script src="/warm.js"></script>'
    )
    (WORK / "warm.js").write_text(WARM_JS, encoding="utf-8")
    for widget in all_widgets:
        pages[widget.slug] = PAGE.format(
            name=widget.name, head=widget.head, paragraphs=paragraphs, body=widget.body
        )
        if widget.config:
            (WORK / widget.slug).mkdir(exist_ok=True)
            (WORK / widget.slug / "config.js").write_text(widget.config, encoding="utf-8")
    for name, html in pages.items():
        (WORK / "pages").mkdir(exist_ok=True)
        (WORK / "pages" / f"{name}.html").write_text(html, encoding="utf-8")


def gzip_size(widget: Widget) -> int:
    return sum(len(gzip.compress((WORK / f).read_bytes(), 9, mtime=0)) for f in widget.files)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve() -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(WORK))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def script_ms(cdp) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["ScriptDuration"] * 1000


def wait_for_box(cdp, selector: str, timeout: float = 10.0) -> None:
    """Wait until an element matching `selector` is laid out, without running script in the
    page (DOM.getBoxModel fails for an element that is absent or not rendered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if node:
            try:
                cdp.send("DOM.getBoxModel", {"nodeId": node})
                return
            except Exception:  # not rendered yet: the protocol answers with an error
                pass
        time.sleep(0.01)
    raise TimeoutError(f"{selector} did not appear within {timeout:.0f} s")


def measure(context, base: str, page_name: str, banner: str | None) -> tuple[float, float]:
    """One first visit (no cookie) in a new tab of a warm browser: (script time in ms, CLS).

    The context keeps a page of the same site open, as a visitor's browser has its cookie jar
    open already: in a brand-new context the first synchronous cookie read alone takes 1-15 ms.
    """
    context.clear_cookies()
    page = context.new_page()
    try:
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(f"{base}/pages/{page_name}.html", wait_until="load")
        if banner:
            wait_for_box(cdp, banner)
        page.wait_for_timeout(SETTLE_MS)
        return script_ms(cdp), page.evaluate("cls")
    finally:
        page.close()


def run(runs: int) -> list[dict[str, object]]:
    from playwright.sync_api import sync_playwright

    all_widgets = widgets()
    write_pages(all_widgets)
    server, base = serve()
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-background-networking"],
            )
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(CLS_OBSERVER)
            context.new_page().goto(f"{base}/pages/warm.html")
            measure(context, base, "none", None)  # warm up
            samples: dict[str, list[tuple[float, float]]] = {"none": []}
            samples |= {w.slug: [] for w in all_widgets}
            for _ in range(runs):  # interleaved, so drift in the machine hits everyone alike
                samples["none"].append(measure(context, base, "none", None))
                for widget in all_widgets:
                    samples[widget.slug].append(measure(context, base, widget.slug, widget.banner))
            context.close()
            browser.close()
    finally:
        server.shutdown()
    baseline = statistics.median(s for s, _ in samples["none"])
    for widget in all_widgets:
        taken = samples[widget.slug]
        rows.append(
            {
                "name": widget.name,
                "gzip": gzip_size(widget),
                "script_ms": statistics.median(s for s, _ in taken) - baseline,
                "cls": max(c for _, c in taken),
            }
        )
    return rows


def table(rows: list[dict[str, object]], runs: int) -> str:
    ours = rows[0]
    lines = [
        "| widget | JS + CSS gzip -9 | × ours | script time on load | × ours | CLS (worst run) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['gzip']:,} B | {row['gzip'] / ours['gzip']:.1f} "
            f"| {row['script_ms']:.2f} ms | {row['script_ms'] / ours['script_ms']:.1f} "
            f"| {row['cls']:.3f} |"
        )
    lines.append("")
    lines.append(f"Medians of {runs} first visits each, in Debian's Chromium (headless).")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="first visits per widget")
    args = parser.parse_args()
    install()
    build_ours()
    rows = run(max(1, min(args.runs, 100)))
    result = table(rows, args.runs)
    print(result)
    RESULTS.write_text(section(result, args.runs), encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


def section(result: str, runs: int) -> str:
    return (
        "## Consent widget\n\n"
        f"Command: `python bench/widget/bench.py --runs {runs}` (installs the peers from npm "
        "into bench/_work/widget/, builds ours, measures; about a minute and a half).\n\n"
        f"{result}\n\n"
        "* **JS + CSS gzip -9**: the bytes a page must load for the widget, each file compressed "
        "on its own. Ours has the site's config and the vi and en strings built in; the peers' "
        "figures are their library files only, before any config. Klaro ships its CSS and "
        "every translation inside klaro.js.\n"
        "* **Script time on load**: Chromium's `ScriptDuration` (DevTools Performance domain) for "
        "a first visit (a new tab, no cookie, in a browser that has another page of the site "
        "open), once the banner is shown and the page has settled, minus the same metric "
        "for the page without a widget. It covers parsing, compiling and running the widget and "
        "its config and building the banner. Ours reads its cookie with the Cookie Store API "
        "(off the main thread) where the browser has it; `document.cookie` blocks for 1-2 ms "
        "on a first read here.\n"
        "* **CLS**: layout-shift entries summed by a PerformanceObserver installed before any "
        "script; the worst of all runs.\n"
        "* Targets (docs/performance.md): ≤ 4 KB gzip (4,000 bytes, counted like the peers' KB), "
        "≤ 2 ms script time, CLS 0.\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
