"""`serve`: the watcher, the server's plumbing, and `python build.py serve` end to end.

The first half runs the server in-process with a stand-in build (a few lines below that turn
content/page.md into index.html) so the plumbing is tested on its own: script injection, CSP,
the error page, recovery, the livereload websocket. The second half starts the real command
as a subprocess on a copy of tests/fixtures/multiversion, with the real build and collector.
No assertion is timed: every wait polls until a bounded deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup
from conftest import ROOT, free_port, wait_for_port
from tornado.websocket import websocket_connect

from policysite.build.pipeline import build
from policysite.errors import PolicyError, Problem
from policysite.serve.handlers import error_page, problems_page, warnings_notice
from policysite.serve.preview import PreviewBuild, ServeOptions
from policysite.serve.server import run
from policysite.serve.watch import watch_sources

FIXTURE = ROOT / "tests" / "fixtures" / "multiversion" / "content"
DEADLINE = 20.0


def poll(probe: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Call `probe` until it returns something truthy; fail naming `what` after `deadline` s."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: still not true after {deadline}s (last: {last!r})")


# --- the watcher --------------------------------------------------------------------------


def collect_changes(
    root: Path, edit: Callable[[], None], until: Path, ignore: tuple[Path, ...] = ()
) -> set[Path]:
    """Watch `root`, run `edit`, and return every change seen up to the one naming `until`."""

    async def main() -> set[Path]:
        seen: set[Path] = set()
        stop = asyncio.Event()

        async def watch() -> None:
            async for changed in watch_sources([root], ignore=ignore, stop=stop):
                seen.update(changed)
                if until in changed:
                    return

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.2)  # let inotify install its watches before the edit
        await asyncio.to_thread(edit)
        try:
            await asyncio.wait_for(task, DEADLINE)
        finally:
            stop.set()
        return seen

    return asyncio.run(main())


def test_watch_sources_reports_an_editor_save_and_skips_build_outputs(tmp_path):
    page = tmp_path / "privacy" / "2027-01-01.vi.md"
    page.parent.mkdir()
    page.write_text("---\ntitle: a\n---\n", encoding="utf-8")

    def save_like_an_editor() -> None:
        (tmp_path / "versions.lock").write_text("written by the build\n")
        (tmp_path / "privacy" / ".2027-01-01.vi.md.swp").write_text("swap")
        (tmp_path / ".policysite-cache").mkdir()
        (tmp_path / ".policysite-cache" / "pages.json").write_text("{}")
        temp = page.with_name("2027-01-01.vi.md.tmp")
        temp.write_text("---\ntitle: b\n---\n", encoding="utf-8")
        temp.replace(page)

    seen = collect_changes(tmp_path, save_like_an_editor, until=page.resolve())
    assert page.resolve() in seen
    assert {p.name for p in seen} == {"2027-01-01.vi.md"}


def test_watch_sources_ignores_the_output_folder_inside_a_tree(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    source = tmp_path / "site.toml"

    def build_then_edit() -> None:
        (out / "index.html").write_text("<p>built</p>")
        source.write_text('name = "X"\n')

    seen = collect_changes(tmp_path, build_then_edit, until=source.resolve(), ignore=(out,))
    assert seen == {source.resolve()}


# --- the error page -----------------------------------------------------------------------


def test_error_page_lists_each_problem_escaped_in_vi_and_en_without_inline_code():
    problems = [
        Problem(Path("content/privacy/x.md"), "bad <yaml> & more", "fix it", 2),
        Problem(Path("content/privacy/y.md"), "stale", "update it", 5, "warning"),
    ]
    text = "\n".join(map(str, problems))
    page = problems_page(problems, text, "/assets/style.0123abcd.css").decode()
    soup = BeautifulSoup(page, "lxml")
    assert soup.html["lang"] == "vi"
    assert soup.h1.get_text(" ", strip=True) == "Bản dựng bị lỗi · The build failed"
    items = [li.get_text(" ", strip=True) for li in soup.select("ol.problems > li")]
    assert items == [
        "content/privacy/x.md:2 · lỗi (error) bad <yaml> & more → fix it",
        "content/privacy/y.md:5 · cảnh báo (warning) stale → update it",
    ]
    assert soup.select_one("#build-error").get_text() == text
    assert [link["href"] for link in soup.find_all("link", rel="stylesheet")] == [
        "/assets/style.0123abcd.css"
    ]
    assert soup.find("script") is None and soup.find("style") is None
    assert soup.find(style=True) is None
    assert "</head>" in page  # where the livereload script goes
    assert error_page("Traceback <x>").decode().count("Traceback &lt;x&gt;") == 1


# --- the session's build: one incremental Builder -------------------------------------------


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_preview_build_rebuilds_in_place_and_equals_a_clean_build(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the text cache goes to ./.policysite-cache
    content = tmp_path / "content"
    shutil.copytree(FIXTURE, content)
    date = dt.date(2026, 11, 25)
    options = ServeOptions(
        "127.0.0.1", 0, "c.sqlite3", content, ROOT / "themes" / "default", tmp_path / "out", date
    )

    def clean() -> dict[str, bytes]:
        out = tmp_path / "clean"
        shutil.rmtree(out, ignore_errors=True)
        build(content, options.theme, out, date=date, drafts=True, jobs=1, cache_dir=None)
        return tree(out)

    preview = PreviewBuild()
    preview(options)
    assert tree(options.out) == clean()
    untouched = options.out / "chinh-sach-bao-mat" / "2026-01-01" / "index.html"
    inode = untouched.stat().st_ino
    draft = content / "privacy" / "2027-01-01.vi.md"
    original = draft.read_text("utf-8")
    draft.write_text(original.replace("\n## ", "\nMột câu mới.\n\n## ", 1), "utf-8")
    preview(options)
    assert tree(options.out) == clean()
    assert untouched.stat().st_ino == inode  # not written again

    draft.write_text(original.replace('summary: "', "summary: [", 1), "utf-8")
    with pytest.raises(PolicyError):
        preview(options)
    draft.write_text(original.replace("\n## ", "\nCâu khác.\n\n## ", 1), "utf-8")
    preview(options)
    assert tree(options.out) == clean()
    preview.close()
    assert (tmp_path / ".policysite-cache" / "texts.pack").is_file()


# --- the server, in-process with a stand-in build -----------------------------------------


def standin_build(options: ServeOptions) -> None:
    """Stand-in for site.build: content/page.md → out/index.html; "BROKEN" is a user mistake."""
    source = options.content / "page.md"
    text = source.read_text(encoding="utf-8")
    if "BROKEN" in text:
        raise PolicyError(Problem(source, "the page is broken", "remove BROKEN", line=1))
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "index.html").write_text(
        f"<!doctype html><html><head><title>t</title></head><body>{text}</body></html>",
        encoding="utf-8",
    )
    (options.out / "404.html").write_text(
        "<!doctype html><html><head></head><body>không tìm thấy</body></html>", encoding="utf-8"
    )


class StandinService:
    """Never asked anything here: the stand-in site has no collector."""

    async def close(self) -> None:
        return None


@contextlib.contextmanager
def inprocess_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Run `run()` in a thread; yield (base URL, the page's source file)."""
    content = tmp_path / "content"
    content.mkdir()
    page = content / "page.md"
    page.write_text("Xin chào", encoding="utf-8")
    options = ServeOptions(
        "127.0.0.1", 0, str(tmp_path / "c.sqlite3"), content, tmp_path / "theme", tmp_path / "out"
    )
    started = threading.Event()
    state: dict[str, Any] = {}

    def thread() -> None:
        async def main() -> None:
            state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()

            def ready(port: int) -> None:
                state["port"] = port
                started.set()

            await run(
                options,
                state["stop"],
                build_site=standin_build,
                open_service=lambda *_: StandinService(),
                ready=ready,
            )

        try:
            asyncio.run(main())
        finally:
            started.set()

    worker = threading.Thread(target=thread, daemon=True)
    worker.start()
    assert started.wait(DEADLINE) and "port" in state, "the in-process server did not start"
    try:
        yield f"http://127.0.0.1:{state['port']}", page
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        worker.join(DEADLINE)


def test_pages_get_the_livereload_script_and_the_csp(tmp_path):
    with inprocess_server(tmp_path) as (base, _):
        response = httpx.get(base + "/")
        port = base.rsplit(":", 1)[1]
        assert response.status_code == 200
        assert response.text == (
            "<!doctype html><html><head><title>t</title>"
            f'<script src="/livereload.js?port={port}"></script>'
            "</head><body>Xin chào</body></html>"
        )
        assert response.headers["content-security-policy"] == (
            f"default-src 'self'; connect-src 'self' ws://127.0.0.1:{port}"
        )
        assert response.headers["content-length"] == str(len(response.content))


def test_unknown_path_serves_the_sites_404_page(tmp_path):
    with inprocess_server(tmp_path) as (base, _):
        response = httpx.get(base + "/khong-co/")
        assert response.status_code == 404
        assert "không tìm thấy" in response.text
        assert "/livereload.js?port=" in response.text


def test_edit_rebuilds_broken_file_shows_error_page_and_fix_recovers(tmp_path):
    with inprocess_server(tmp_path) as (base, page):
        page.write_text("Xin chào lần hai", encoding="utf-8")
        poll(lambda: "lần hai" in httpx.get(base + "/").text, "the edit is served")

        page.write_text("BROKEN", encoding="utf-8")
        broken = poll(
            lambda: (r := httpx.get(base + "/trang/khac/")).status_code == 500 and r,
            "every page path shows the error page",
        )
        assert f"{html.escape(str(page))}:1: error: the page is broken" in broken.text
        assert "/livereload.js?port=" in broken.text

        page.write_text("Đã sửa", encoding="utf-8")
        poll(lambda: "Đã sửa" in httpx.get(base + "/").text, "the fixed page is served")


def test_livereload_websocket_tells_the_browser_to_reload_after_an_edit(tmp_path):
    with inprocess_server(tmp_path) as (base, page):
        assert httpx.get(base + "/livereload.js").text.startswith("(function")

        async def browser() -> dict[str, Any]:
            socket = await websocket_connect(base.replace("http", "ws") + "/livereload")
            socket.write_message(json.dumps({"command": "hello", "protocols": []}))
            hello = json.loads(await socket.read_message())
            assert hello["command"] == "hello"
            socket.write_message(json.dumps({"command": "info", "url": base + "/"}))
            await asyncio.sleep(0.2)  # the server registers the browser on "info"
            page.write_text("Xin chào lần ba", encoding="utf-8")
            message = json.loads(await asyncio.wait_for(socket.read_message(), DEADLINE))
            socket.close()
            return message

        assert asyncio.run(browser())["command"] == "reload"


# --- `python build.py serve`, for real ----------------------------------------------------

DRAFT = "privacy/2027-01-01.vi.md"
DRAFT_URL = "/chinh-sach-bao-mat/2027-01-01/"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`python build.py serve` on a copy of the multiversion site, as of 2026-11-25."""
    root = tmp_path_factory.mktemp("serve")
    content = root / "content"
    shutil.copytree(FIXTURE, content)
    port = free_port()
    command = [sys.executable, "build.py", "serve", "--port", str(port), "--date", "2026-11-25"]
    command += ["--content", str(content), "--out", str(root / "out")]
    command += ["--db", str(root / "consents.sqlite3")]
    log = (root / "serve.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        yield {
            "base": f"http://127.0.0.1:{port}",
            "port": port,
            "root": root,
            "content": content,
            "process": process,
        }
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_serve_serves_the_built_pages_with_the_script_injected(served):
    response = httpx.get(served["base"] + DRAFT_URL)
    assert response.status_code == 200
    built = (served["root"] / "out" / DRAFT_URL.strip("/") / "index.html").read_bytes()
    script = f'<script src="/livereload.js?port={served["port"]}"></script>'.encode()
    # The site has warnings (a stale and a missing translation): a notice links to them.
    problems = httpx.get(served["base"] + "/_serve/problems")
    assert problems.status_code == 200
    warnings = BeautifulSoup(problems.text, "lxml").select("ol.problems > li")
    assert len(warnings) == 2
    assert any("stale" in item.get_text() for item in warnings)
    # After the skip link and the banner's slot, which stay the first Tab stops.
    header = built.index(b'<header class="site-header"')
    expected = built[:header] + warnings_notice(2) + built[header:]
    assert built.index(b'class="skip-link"') < header
    assert response.content == expected.replace(b"</head>", script + b"</head>", 1)
    assert "XIMGO tôn trọng quyền riêng tư" in response.text


def test_serve_serves_the_sites_home_which_leads_to_the_document(served):
    response = httpx.get(served["base"] + "/")
    assert response.status_code == 200  # the build's own home page, index.html
    assert 'href="/chinh-sach-bao-mat/"' in response.text or "/chinh-sach-bao-mat/" in response.text


def test_serve_answers_the_collector_and_stores_the_consent(served):
    base = served["base"]
    assert httpx.get(base + "/api/health").status_code == 200
    policy = json.loads((served["root"] / "out" / "policy.json").read_text(encoding="utf-8"))
    categories = [c["id"] for c in policy["consent"]["categories"]]
    consent_id = str(uuid.uuid4())
    consent = {
        "consent_id": consent_id,
        "seq": 1,
        "document": "privacy",
        "version": policy["documents"]["privacy"]["in_force"],
        "language": "vi",
        "choices": dict.fromkeys(categories, True),
        "action": "accept_all",
    }
    response = httpx.post(
        base + "/api/consent", json=consent, headers={"Origin": base, "User-Agent": "test"}
    )
    assert response.status_code == 201, response.text
    assert "receipt" in response.json()
    with sqlite3.connect(served["root"] / "consents.sqlite3") as db:
        tables = [t for (t,) in db.execute("select name from sqlite_master where type='table'")]
        rows = [
            row
            for table in tables
            for row in db.execute(f'select * from "{table}"')
            if consent_id in map(str, row)
        ]
    assert len(rows) == 1


def test_serve_picks_up_a_markdown_edit(served):
    source = served["content"] / DRAFT
    original = source.read_text(encoding="utf-8")
    token = f"Đoạn mới {uuid.uuid4().hex}"
    try:
        source.write_text(original + f"\n{token}\n", encoding="utf-8")
        poll(lambda: token in httpx.get(served["base"] + DRAFT_URL).text, "the edit is served")
    finally:
        source.write_text(original, encoding="utf-8")
        poll(lambda: token not in httpx.get(served["base"] + DRAFT_URL).text, "restored")


def test_serve_shows_the_cli_error_and_recovers_when_the_file_is_fixed(served, tmp_path):
    base, source = served["base"], served["content"] / DRAFT
    original = source.read_text(encoding="utf-8")
    broken = original.replace('summary: "Thêm mục liên hệ."', "summary: [chưa đóng", 1)
    assert broken != original
    try:
        source.write_text(broken, encoding="utf-8")
        page = poll(
            lambda: (r := httpx.get(base + "/en/privacy-policy/")).status_code == 500 and r,
            "pages show the error page",
        )
        cli = subprocess.run(
            [
                *(sys.executable, "build.py", "build", "--drafts", "--date", "2026-11-25"),
                *("--content", str(served["content"]), "--out", str(tmp_path / "dist")),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1
        printed = cli.stderr.strip().splitlines()
        assert printed[-2:] == [
            "1 error(s), 0 warning(s)",
            f"build failed: {tmp_path / 'dist'} was left as it was",
        ]
        shown = re.search(r'<pre id="build-error">(.*?)</pre>', page.text, re.S)
        assert shown and html.unescape(shown.group(1)) == "\n".join(printed[:-2])
        soup = BeautifulSoup(page.text, "lxml")
        (item,) = soup.select("ol.problems > li")
        assert item.code.get_text() == f"{source}:4"  # where YAML noticed the open list
        style = soup.find("link", rel="stylesheet")["href"]
        assert re.fullmatch(r"/assets/style\.[0-9a-f]{8}\.css", style)
        assert httpx.get(base + style).headers["content-type"].startswith("text/css")
        assert served["process"].poll() is None  # still serving
    finally:
        source.write_text(original, encoding="utf-8")
    poll(lambda: httpx.get(base + DRAFT_URL).status_code == 200, "the fixed site is served")


def test_serve_ships_livereload_js_and_answers_its_websocket(served):
    script = httpx.get(served["base"] + "/livereload.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "LiveReload" in script.text

    async def handshake() -> dict[str, Any]:
        socket = await websocket_connect(f"ws://127.0.0.1:{served['port']}/livereload")
        socket.write_message(json.dumps({"command": "hello", "protocols": []}))
        reply = json.loads(await asyncio.wait_for(socket.read_message(), DEADLINE))
        socket.close()
        return reply

    assert asyncio.run(handshake())["command"] == "hello"


@pytest.mark.browser
def test_browser_reloads_by_itself_after_an_edit_with_no_csp_violation(served, browser):
    source = served["content"] / DRAFT
    original = source.read_text(encoding="utf-8")
    token = f"Tải lại {uuid.uuid4().hex}"
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.add_init_script(
        "document.addEventListener('LiveReloadConnect', () => { window.liveReloadUp = true })"
    )
    try:
        page.goto(served["base"] + DRAFT_URL)
        page.wait_for_function("window.liveReloadUp === true", timeout=DEADLINE * 1000)
        source.write_text(original + f"\n{token}\n", encoding="utf-8")
        page.get_by_text(token).wait_for(timeout=DEADLINE * 1000)  # no reload by the test
        assert errors == []
    finally:
        page.close()
        source.write_text(original, encoding="utf-8")


# --- mistakes that stop `serve` at start ----------------------------------------------------


def serve_once(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    content = tmp_path / "content"
    shutil.copytree(FIXTURE, content)
    command = [sys.executable, "build.py", "serve", "--content", str(content), *options]
    command += ["--out", str(tmp_path / "out"), "--date", "2026-11-25"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_serve_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve_once(tmp_path, "--port", str(port), "--db", str(tmp_path / "c.sqlite3"))
    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        "  → stop the other server or choose another --port\n"
    )


def test_serve_refuses_a_db_it_cannot_create(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    db = tmp_path / "file" / "consents.sqlite3"
    done = serve_once(tmp_path, "--port", str(free_port()), "--db", str(db))
    assert done.returncode == 1
    assert done.stderr.endswith(
        f"{tmp_path / 'file'}: error: cannot create this folder: File exists\n  → choose --db\n"
    )


def test_serve_refuses_a_preview_folder_inside_the_sources(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE, content)
    before = sorted(p.relative_to(content) for p in content.rglob("*"))
    command = [sys.executable, "build.py", "serve", "--content", str(content)]
    command += ["--out", str(content / "preview"), "--port", str(free_port())]
    command += ["--db", str(tmp_path / "c.sqlite3"), "--date", "2026-11-25"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"{content / 'preview'}: error: " in done.stderr
    assert f"sits inside {content}, which the build reads" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.relative_to(content) for p in content.rglob("*")) == before


def test_serve_shows_template_and_link_errors_with_file_and_line_then_recovers(tmp_path):
    content, theme = tmp_path / "content", tmp_path / "theme"
    shutil.copytree(FIXTURE, content)
    shutil.copytree(ROOT / "themes" / "default", theme)
    port = free_port()
    command = [sys.executable, "build.py", "serve", "--port", str(port), "--date", "2026-11-25"]
    command += ["--content", str(content), "--theme", str(theme), "--out", str(tmp_path / "out")]
    command += ["--db", str(tmp_path / "consents.sqlite3")]
    base, url = f"http://127.0.0.1:{port}", DRAFT_URL
    template = theme / "templates" / "policy.html"
    original = template.read_text("utf-8")
    draft = content / DRAFT
    text = draft.read_text("utf-8")

    def problems() -> list[str]:
        response = httpx.get(base + url)
        if response.status_code != 500:
            return []
        soup = BeautifulSoup(response.text, "lxml")
        return [li.get_text(" ", strip=True) for li in soup.select("ol.problems > li")]

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with subprocess.Popen(command, cwd=ROOT, **quiet) as serve:
        try:
            wait_for_port(port, timeout=60)
            template.write_text(original.replace("{{ title }}", "{{ version.nope.deeper }}", 1))
            line = next(
                n for n, t in enumerate(template.read_text().splitlines(), 1) if "nope" in t
            )
            shown = poll(problems, "the template error is shown")
            assert shown[0].startswith(f"{template}:{line} · lỗi (error) undefined value: ")
            assert "Traceback" not in httpx.get(base + url).text
            template.write_text(original)
            poll(lambda: httpx.get(base + url).status_code == 200, "the fixed theme is served")
            draft.write_text(text + "\n[sai](/khong-co/) [neo](#khong-co)\n", "utf-8")
            lines = len(draft.read_text("utf-8").splitlines())
            shown = poll(lambda: len(problems()) >= 2 and problems(), "the link errors")
            assert shown[:2] == [
                f"{draft}:{lines} · lỗi (error) broken link '/khong-co/': no such page on the "
                "site → link to a page the site has",
                f"{draft}:{lines} · lỗi (error) broken anchor in '#khong-co': the page has no "
                "heading #khong-co → link to a heading's id: its title in lowercase ASCII with "
                "dashes",
            ]
            draft.write_text(text, "utf-8")
            poll(lambda: httpx.get(base + url).status_code == 200, "the fixed text is served")
        finally:
            serve.terminate()
            serve.wait(10)
