"""dist/ served as a static host serves it, for the browser and link tests: index.html for a
folder, the site's 404.html (with status 404) for anything missing, and no access log."""

from __future__ import annotations

from http.server import SimpleHTTPRequestHandler
from pathlib import Path


class StaticHost(SimpleHTTPRequestHandler):
    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def log_message(self, format: str, *args: object) -> None:
        pass
