"""deploy/nginx.conf in a real nginx (Debian's `nginx`), serving a built dist/ on 127.0.0.1.

The server block is exactly `nginx_conf` (what every build writes as dist/deploy/nginx.conf),
with only its root and listen address changed; a minimal main configuration around it stands
in for /etc/nginx/nginx.conf (mime.types included, as Debian's does).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import free_port, wait_for_port

from policysite.build.pipeline import build
from policysite.content.config import load_config
from policysite.render.deploy import SECURITY_HEADERS, nginx_conf

ROOT = Path(__file__).resolve().parent.parent
ATOM = "application/atom+xml; charset=utf-8"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("nginx is not installed: run scripts/test.sh (it installs Debian's nginx)")
    return found


def main_conf(root: Path, server: Path) -> str:
    """An http block around the server block, with every path nginx writes under `root`."""
    lines = [
        # As root, workers would run as nobody, who cannot read pytest's folders.
        "user root;" if os.geteuid() == 0 else "",
        "worker_processes 1;",
        "daemon off;",
        f"pid {root}/nginx.pid;",
        f"error_log {root}/error.log;",
        "events { worker_connections 64; }",
        "http {",
        "    include /etc/nginx/mime.types;",
        "    default_type application/octet-stream;",
        "    access_log off;",
        *(f"    {name}_temp_path {root}/{name};" for name in TEMP_DIRS),
        f"    include {server};",
        "}",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def running_nginx(root: Path, server: Path, port: int) -> Iterator[None]:
    """nginx with `server` in the minimal main configuration, checked by `nginx -t` first,
    listening on `port` until the block ends."""
    for name in TEMP_DIRS:
        (root / name).mkdir()
    (root / "nginx.conf").write_text(main_conf(root, server))
    command = [nginx_binary(), "-p", str(root), "-e", str(root / "error.log")]
    command += ["-c", str(root / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """nginx serving the multiversion site as of 2026-11-25: (host:port, dist)."""
    root = tmp_path_factory.mktemp("nginx")
    shutil.copytree(ROOT / "tests/fixtures/multiversion/content", root / "content")
    dist = root / "dist"
    build(root / "content", ROOT / "themes/default", dist, date=dt.date(2026, 11, 25))
    port = free_port()
    server = root / "server.conf"
    config = load_config(root / "content")
    server.write_text(nginx_conf(config, root=str(dist), listen=f"127.0.0.1:{port}"))
    with running_nginx(root, server, port):
        yield f"127.0.0.1:{port}", dist


def get(address: str, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection(address, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def assert_security_headers(headers: http.client.HTTPMessage) -> None:
    for name, value in SECURITY_HEADERS:
        assert headers[name] == value, name


def test_the_home_and_each_language_root_are_served(nginx):
    address, dist = nginx
    for path, file in (("/", "index.html"), ("/en/", "en/index.html")):
        status, headers, body = get(address, path)
        assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
        assert body == (dist / file).read_bytes()
        assert_security_headers(headers)


@pytest.mark.parametrize("path", ["/feed.xml", "/en/feed.xml"])
def test_feeds_go_out_as_atom(nginx, path):
    address, dist = nginx
    status, headers, body = get(address, path)
    assert (status, headers["Content-Type"]) == (200, ATOM)
    assert body == (dist / path.lstrip("/")).read_bytes()
    assert_security_headers(headers)


@pytest.mark.parametrize("path", ["/_headers", "/_redirects", "/deploy/nginx.conf", "/deploy/"])
def test_files_for_hosts_and_the_example_itself_are_not_served(nginx, path):
    address, dist = nginx
    assert (dist / path.lstrip("/")).exists()  # they are in dist/, just not public
    status, headers, body = get(address, path)
    assert status == 404
    assert body == (dist / "404.html").read_bytes()
    assert_security_headers(headers)


def test_a_missing_page_gets_the_404_page(nginx):
    address, dist = nginx
    status, headers, body = get(address, "/chinh-sach-bao-mat/1999-01-01/")
    assert (status, headers["Content-Type"]) == (404, "text/html; charset=utf-8")
    assert body == (dist / "404.html").read_bytes()
    assert get(address, "/404.html")[0] == 404  # internal: not a page of its own


def test_cache_headers_and_types_of_the_site_wide_files(nginx):
    address, dist = nginx
    style = next((dist / "assets").glob("style.*.css")).name
    expected = {
        f"/assets/{style}": ("text/css", "public, max-age=31536000, immutable"),
        "/sitemap.xml": ("text/xml; charset=utf-8", "public, max-age=3600"),
        "/policy.json": ("application/json", "no-cache"),
        "/robots.txt": ("text/plain; charset=utf-8", None),
    }
    for path, (kind, cache) in expected.items():
        status, headers, body = get(address, path)
        assert (status, headers["Content-Type"], headers["Cache-Control"]) == (200, kind, cache)
        assert body == (dist / path.lstrip("/")).read_bytes()
        assert_security_headers(headers)


def test_the_collector_proxy_example_runs_in_front_of_a_real_collector(tmp_path):
    """deploy/nginx-collector.conf as written: nginx accepts it, a consent posted through it
    is stored under the visitor's network, and the health check answers through it."""
    from collector_fixtures.support import ORIGIN, body, start_collector, stop_collector

    collector, collector_port, _ = start_collector(tmp_path)
    example = (ROOT / "deploy/nginx-collector.conf").read_text(encoding="utf-8")
    http_part, _, location = example.partition("# inside server { … }:")
    http_part = http_part.replace("127.0.0.1:8001", f"127.0.0.1:{collector_port}")
    port = free_port()
    server = tmp_path / "collector.conf"
    server.write_text(f"{http_part}\nserver {{\n    listen 127.0.0.1:{port};\n    {location}\n}}\n")
    try:
        with running_nginx(tmp_path, server, port):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(
                "POST", "/api/consent", body=json.dumps(body()),
                headers={"content-type": "text/plain;charset=UTF-8", "origin": ORIGIN,
                         "x-forwarded-for": "198.51.100.7"},  # a visitor's own header: ignored
            )  # fmt: skip
            assert connection.getresponse().status == 201
            connection.close()
            status, _, answer = get(f"127.0.0.1:{port}", "/api/health")
            assert (status, json.loads(answer)["status"]) == (200, "ok")
    finally:
        stop_collector(collector)
    with sqlite3.connect(tmp_path / "c.sqlite3") as conn:
        assert conn.execute("SELECT ip FROM consents").fetchall() == [("127.0.0.0/24",)]
