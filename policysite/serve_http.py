"""`serve`'s HTTP side: tornado handlers for the built pages, the collector and livereload.

The pages go out as they are on disk, under the CSP they are built for, with livereload's
script injected (an external script, so the CSP allows it); /api/... goes through a thin
adapter to the collector core (policysite.collector.service), the same core uvicorn serves.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from livereload.handlers import LiveReloadHandler, LiveReloadJSHandler
from livereload.server import LiveScriptInjector
from livereload.watcher import Watcher
from tornado import web

if TYPE_CHECKING:
    from policysite.serve import Preview


def error_page(message: str) -> bytes:
    """The page every path shows while the build is broken. It carries no inline script or
    style (CSP); the livereload script is injected like on any page, so it recovers by itself."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<title>Build failed · policysite serve</title></head>\n"
        "<body><main><h1>The build failed</h1>\n"
        "<p>Fix the file below and save: this page reloads by itself.</p>\n"
        f'<pre id="build-error">{html.escape(message)}</pre></main></body></html>\n'
    ).encode()


def first_page(site: Path) -> str | None:
    """The path of the first document's page in the default language, for a site that has no
    home page of its own (XIMGO's policy pages live beside the main site), so that
    http://127.0.0.1:8000/ opens something. None if the site has a home page or no policy.json."""
    if (site / "index.html").exists() or not (site / "policy.json").exists():
        return None
    policy = json.loads((site / "policy.json").read_text(encoding="utf-8"))
    language = policy["site"]["default_language"]
    for document in policy["documents"].values():
        return urlsplit(document["urls"][language]).path
    return None


class PageHandler(web.StaticFileHandler):
    """Files of the built site, fresh on every request, under the CSP the pages are made for."""

    def initialize(self, path: str, preview: Preview) -> None:  # type: ignore[override]
        super().initialize(path=path, default_filename="index.html")
        self.preview = preview

    def set_default_headers(self) -> None:
        # The pages' own CSP (SPEC §3), plus the livereload websocket; shown early to editors.
        self.set_header(
            "Content-Security-Policy",
            f"default-src 'self'; connect-src 'self' ws://{self.request.host}",
        )
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        await self.preview.settled()
        if self.preview.failure is not None:
            self.set_status(500)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(b"" if self.request.method == "HEAD" else error_page(self.preview.failure))
        elif self.request.path == "/" and (home := first_page(Path(self.root))):
            self.redirect(home)

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


@web.stream_request_body
class ApiHandler(web.RequestHandler):
    """Adapter from tornado to the collector core: translates HTTP and nothing else."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def initialize(self, preview: Preview) -> None:
        from policysite.collector.service import MAX_BODY

        self.preview = preview
        self.limit = MAX_BODY + 1  # the core answers 413 past MAX_BODY; keep no more than that
        self.body = bytearray()

    def data_received(self, chunk: bytes) -> None:
        room = self.limit - len(self.body)
        if room > 0:
            self.body += chunk[:room]

    async def _handle(self, *_: str) -> None:
        from policysite.collector.service import HttpRequest

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
    inject = type("InjectLiveReload", (LiveScriptInjector,), {"script": script})
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
