"""`serve`'s HTTP side: tornado handlers for the built pages, the collector and livereload.

The pages go out as they are on disk, under the CSP they are built for, with livereload's
script injected (an external script, so the CSP allows it); /api/... goes through a thin
adapter to the collector core (policysite.collector.http.service), the same core uvicorn serves.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from livereload.handlers import LiveReloadHandler, LiveReloadJSHandler
from livereload.server import LiveScriptInjector
from livereload.watcher import Watcher
from tornado import web

from policysite.errors import Problem
from policysite.serve.preview import Preview, problems_text

SEVERITY = {"error": ("lỗi", "error"), "warning": ("cảnh báo", "warning")}
THEME_STYLE = "/_serve/style.css"  # the theme's stylesheet, while no build has hashed it yet


def stylesheet(site: Path) -> str:
    """The theme's hashed style.css of the last build in `site`, else THEME_STYLE."""
    built = sorted((site / "assets").glob("style.*.css"), key=lambda p: p.stat().st_mtime_ns)
    return f"/assets/{built[-1].name}" if built else THEME_STYLE


def _problem_item(problem: Problem) -> str:
    vi, en = SEVERITY.get(problem.severity, (problem.severity, problem.severity))
    where = html.escape(problem.location() or "—")
    hint = f'\n<p class="problem-hint">→ {html.escape(problem.hint)}</p>' if problem.hint else ""
    kind = "notice" if problem.severity == "error" else "notice notice-translation"
    return (
        f'<li class="{kind}"><p><code>{where}</code> · <strong>{vi}</strong> '
        f'<span lang="en">({en})</span></p>\n<p>{html.escape(problem.message)}</p>{hint}</li>'
    )


def problems_page(
    problems: Sequence[Problem], text: str, style: str, *, failed: bool = True
) -> bytes:
    """The page every path shows while the build is broken (`failed`), or the list of the
    last build's warnings: each problem with its file and line, in Vietnamese with English,
    under the theme's stylesheet. `text` is what the CLI prints (or a traceback, for a bug
    of ours). No inline script or style (CSP); the livereload script is injected like on
    any page, so it reloads by itself once the files are fixed (docs/serve.md)."""
    if failed:
        title, title_en = "Bản dựng bị lỗi", "The build failed"
        intro = "Sửa các tệp dưới đây rồi lưu: trang này tự tải lại."
        intro_en = "Fix the files below and save: this page reloads by itself."
    else:
        title, title_en = "Cảnh báo của bản dựng", "Build warnings"
        intro = "Bản xem trước vẫn chạy; nên sửa các điểm này trước khi xuất bản."
        intro_en = "The preview works; fix these before publishing."
    items = "\n".join(_problem_item(problem) for problem in problems)
    listed = f'<ol class="problems">\n{items}\n</ol>\n' if items else ""
    return (
        "<!doctype html>\n"
        '<html lang="vi"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title} · {title_en} · policysite serve</title>\n"
        f'<link rel="stylesheet" href="{html.escape(style)}">\n'
        "</head>\n"
        '<body><div class="wrap"><main id="main">\n'
        f'<h1>{title} <span lang="en">· {title_en}</span></h1>\n'
        f'<p>{intro}<br><span lang="en">{intro_en}</span></p>\n'
        f"{listed}"
        '<details><summary>Văn bản như dòng lệnh in ra <span lang="en">(as the command line '
        "prints it)</span></summary>\n"
        f'<pre id="build-error">{html.escape(text)}</pre></details>\n'
        "</main></div></body></html>\n"
    ).encode()


def error_page(message: str) -> bytes:
    """The error page for a message without problems (a bug's traceback)."""
    return problems_page([], message, THEME_STYLE)


def warnings_notice(count: int) -> bytes:
    """What every preview page shows at the top while the last build had warnings."""
    # A labelled section is a landmark, so axe's "region" rule holds; it goes after the skip
    # link and the banner, which stay the first two Tab stops (docs/serve.md).
    return (
        '<section class="notice" aria-label="Cảnh báo của bản dựng"><p>'
        f'<a href="/_serve/problems">{count} cảnh báo của bản dựng '
        f'<span lang="en">({count} build warning(s))</span></a></p></section>'
    ).encode()


class PageHandler(web.StaticFileHandler):
    """Files of the built site, fresh on every request, under the CSP the pages are made for."""

    def initialize(self, path: str, preview: Preview) -> None:  # type: ignore[override]
        super().initialize(path=path, default_filename="index.html")
        self.preview = preview

    def set_default_headers(self) -> None:
        # The pages' own CSP (docs/build-output.md), plus the livereload websocket; shown early
        # to editors.
        self.set_header(
            "Content-Security-Policy",
            f"default-src 'self'; connect-src 'self' ws://{self.request.host}",
        )
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        await self.preview.settled()
        path, site = self.request.path, Path(self.root)
        if path == THEME_STYLE:
            style = self.preview.options.theme / "static" / "style.css"
            self.set_header("Content-Type", "text/css; charset=utf-8")
            self.finish(style.read_bytes() if style.is_file() else b"")
        elif path == "/_serve/problems" or self.preview.failure is not None:
            if path.startswith("/assets/") and (site / path.lstrip("/")).is_file():
                return  # the stylesheet of the error page, and what it loads
            failed = self.preview.failure is not None
            self.set_status(500 if failed else 200)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            page = problems_page(
                self.preview.problems,
                self.preview.failure or problems_text(self.preview.problems),
                stylesheet(site),
                failed=failed,
            )
            self.finish(b"" if self.request.method == "HEAD" else page)

    def compute_etag(self) -> str | None:
        return None  # pages change under the same name on every rebuild

    def should_return_304(self) -> bool:
        return False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        not_found = Path(self.root) / "404.html"
        if status_code == 404 and not_found.is_file():
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(not_found.read_bytes())
        else:
            super().write_error(status_code, **kwargs)


class InjectPreview(LiveScriptInjector):
    """livereload's script before </head>; and, while the last build had warnings, a notice
    linking to them before the page's header (on pages, not on the problems page itself)."""

    preview: Preview

    def transform_first_chunk(
        self, status_code: int, headers: Any, chunk: bytes, finishing: bool
    ) -> tuple[int, Any, bytes]:
        status_code, headers, chunk = super().transform_first_chunk(
            status_code, headers, chunk, finishing
        )
        warnings = len(self.preview.problems) if self.preview.failure is None else 0
        body = chunk.find(b"<body")
        end = chunk.find(b">", body) + 1 if body >= 0 else 0
        header = chunk.find(b"<header", end) if end else -1
        end = header if header >= 0 else end
        html_page = "html" in headers.get("Content-Type", "") and b'id="build-error"' not in chunk
        if warnings and end and html_page:
            notice = warnings_notice(warnings)
            chunk = chunk[:end] + notice + chunk[end:]
            if "Content-Length" in headers:
                headers["Content-Length"] = str(int(headers["Content-Length"]) + len(notice))
        return status_code, headers, chunk


@web.stream_request_body
class ApiHandler(web.RequestHandler):
    """Adapter from tornado to the collector core: translates HTTP and nothing else."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def initialize(self, preview: Preview) -> None:
        from policysite.collector.http.messages import MAX_BODY

        self.preview = preview
        self.limit = MAX_BODY + 1  # the core answers 413 past MAX_BODY; keep no more than that
        self.body = bytearray()

    def data_received(self, chunk: bytes) -> None:
        room = self.limit - len(self.body)
        if room > 0:
            self.body += chunk[:room]

    async def _handle(self, *_: str) -> None:
        from policysite.collector.http.messages import HttpRequest

        service = self.preview.service
        if service is None:
            self.set_status(503)
            self.finish({"error": self.preview.service_problem})
            return
        response = await service.handle(
            HttpRequest(
                method=self.request.method or "GET",
                path=self.request.path,
                headers={name.lower(): value for name, value in self.request.headers.get_all()},
                body=bytes(self.body),
                client_ip=self.request.remote_ip or "",
                query=self.request.query,
            )
        )
        self.set_status(response.status)
        self.clear_header("Content-Type")  # the core says what it sends
        for name, value in response.headers:
            self.add_header(name, value)
        self.finish(response.body)

    get = head = post = put = patch = delete = options = _handle


def make_app(preview: Preview, port: int) -> web.Application:
    """Route livereload, the collector and the site; inject the livereload script into pages."""
    script = f'<script src="/livereload.js?port={port}"></script>'.encode()
    inject = type("InjectLiveReload", (InjectPreview,), {"script": script, "preview": preview})
    LiveReloadHandler.live_css = False  # asset names carry hashes: reload the whole page
    LiveReloadHandler.watcher = Watcher()  # reload_waiters() logs its (empty) .filepath
    site = str(preview.options.out.resolve())
    return web.Application(
        [
            (r"/livereload", LiveReloadHandler),
            (r"/livereload\.js", LiveReloadJSHandler),
            (r"/api(?:/.*)?", ApiHandler, {"preview": preview}),
            (r"/(.*)", PageHandler, {"path": site, "preview": preview}),
        ],
        transforms=[inject],
        websocket_ping_interval=10,
    )
