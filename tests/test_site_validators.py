"""The built site through outside validators, as an external audit would run them.

- Atom feeds against RFC 4287's RELAX NG schema (tests/schemas/atom.rng, with its two
  Schematron rules as XPath);
- sitemap.xml against the sitemaps.org 0.9 XSD plus the xhtml:link alternates;
- every HTML page, stylesheet and SVG through the Nu Html Checker (vnu.jar, npm `vnu-jar`);
- a LinkChecker crawl (PyPI `linkchecker`, with its AnchorCheck plugin) of the site served
  on 127.0.0.1, and every absolute link into the site (canonical, hreflang, feeds, sitemap)
  mapped to a file of dist/.

Each validator is first shown a broken sample, so a validator that checks nothing cannot
pass. Nothing is downloaded at run time: scripts/test.sh installs the tools, and
tests/schemas/README.md says where each schema comes from.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from lxml import etree, html
from static_host import StaticHost

from policysite.build.pipeline import build

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "tests" / "schemas"
THEME = ROOT / "themes" / "default"
DATE = dt.date(2026, 11, 25)
BASE_URL = "https://ximgo.com"
NS = {"a": "http://www.w3.org/2005/Atom", "s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
VNU_JAR = Path(
    os.environ.get("POLICYSITE_VNU_JAR", ROOT / "var/node/node_modules/vnu-jar/build/dist/vnu.jar")
)
SITES = {
    "shipped": ROOT / "content",
    "multiversion": ROOT / "tests/fixtures/multiversion/content",
    "two-documents": ROOT / "tests/fixtures/two-documents/content",
}


@pytest.fixture(scope="module", params=list(SITES))
def dist(request, tmp_path_factory) -> Path:
    """Each site built as of 2026-11-25 from a copy (the build writes versions.lock)."""
    root = tmp_path_factory.mktemp(request.param)
    shutil.copytree(SITES[request.param], root / "content")
    build(root / "content", THEME, root / "dist", date=DATE, cache_dir=None, jobs=1)
    return root / "dist"


def html_pages(dist: Path) -> list[Path]:
    return sorted(dist.rglob("*.html"))


# --- Atom ------------------------------------------------------------------------------------


@functools.cache
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMAS / "atom.rng")))


def atom_problems(document: etree._ElementTree) -> list[str]:
    """RELAX NG errors, then the two rules RFC 4287's schema states in Schematron."""
    schema = atom_schema()
    problems = [] if schema.validate(document) else [str(e) for e in schema.error_log]
    feed = document.getroot()
    if not feed.findall("a:author", NS) and feed.xpath("a:entry[not(a:author)]", namespaces=NS):
        problems.append("an atom:feed must have an atom:author unless all its entries have one")
    for entry in feed.findall("a:entry", NS):
        if not entry.xpath("a:link[@rel='alternate' or not(@rel)] or a:content", namespaces=NS):
            problems.append(f"entry {entry.findtext('a:id', namespaces=NS)}: no alternate link")
    return problems


def test_the_atom_schema_rejects_a_broken_feed():
    broken = etree.ElementTree(
        etree.fromstring(
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b"<updated>2026-11-24</updated><entry><id>x</id><title>e</title>"
            b"<updated>2026-11-24T00:00:00+07:00</updated></entry></feed>"
        )
    )
    problems = atom_problems(broken)
    assert any("updated" in p or "id" in p for p in problems[:-2]), problems
    assert problems[-2:] == [
        "an atom:feed must have an atom:author unless all its entries have one",
        "entry x: no alternate link",
    ]


def test_every_feed_is_valid_atom(dist):
    feeds = sorted(dist.rglob("feed.xml"))
    assert [f.relative_to(dist).as_posix() for f in feeds] == ["en/feed.xml", "feed.xml"]
    for feed in feeds:
        assert atom_problems(etree.parse(str(feed))) == [], feed


# --- sitemap ---------------------------------------------------------------------------------


@functools.cache
def sitemap_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "sitemap-alternates.xsd")))


def test_the_sitemap_schema_rejects_a_misplaced_lastmod_and_a_bare_alternate():
    schema = sitemap_schema()
    broken = etree.fromstring(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:xhtml="http://www.w3.org/1999/xhtml"><url><loc>https://ximgo.com/</loc>'
        b'<xhtml:link rel="alternate" href="https://ximgo.com/en/"/>'
        b"<lastmod>2026-11-24</lastmod></url></urlset>"
    )
    assert not schema.validate(broken)
    messages = [e.message for e in schema.error_log]
    assert any("hreflang" in m for m in messages) or any("lastmod" in m for m in messages)


def test_the_sitemap_is_valid(dist):
    schema = sitemap_schema()
    assert schema.validate(etree.parse(str(dist / "sitemap.xml"))), str(schema.error_log)


# --- the Nu Html Checker ---------------------------------------------------------------------


def vnu(files: list[Path]) -> list[dict]:
    """The Nu Html Checker's errors for `files` (HTML, CSS, SVG)."""
    java = shutil.which("java")
    if java is None or not VNU_JAR.is_file():
        pytest.fail(
            f"the Nu Html Checker needs java and {VNU_JAR}: run scripts/test.sh, which installs "
            "them (or set POLICYSITE_VNU_JAR)"
        )
    command = [java, "-jar", str(VNU_JAR), "--errors-only", "--format", "json", "--stdout"]
    command += ["--also-check-css", "--also-check-svg", *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout)["messages"]


def test_every_page_passes_the_nu_html_checker(dist, tmp_path):
    canary = tmp_path / "canary.html"  # proves the checker runs and reports
    canary.write_text('<!doctype html><html lang="en"><title>t</title><p><div></p>')
    files = [*html_pages(dist), *dist.rglob("*.css"), *dist.rglob("*.svg"), canary]
    errors = vnu(files)
    assert {unquote(urlsplit(e["url"]).path) for e in errors} == {str(canary)}, errors


# --- links -----------------------------------------------------------------------------------


class _Handler(StaticHost):
    """dist/ as a static host serves it: index.html for folders, 404.html for the rest."""

    def end_headers(self) -> None:
        self.send_header("LinkChecker", "yes")  # lets LinkChecker exceed 10 requests a second
        super().end_headers()


@pytest.fixture
def served(request) -> Iterator[str]:
    """Serve the folder `request.param` gives, or dist/, on 127.0.0.1; yield its root URL."""
    folder = request.getfixturevalue("dist") if not hasattr(request, "param") else request.param
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# LinkChecker drops root privileges to `nobody`, who cannot read a Python installed under
# /root: its plugins (AnchorCheck among them) would then silently not load. The crawl only
# reads our own server on 127.0.0.1, so it keeps the privileges it was started with.
_LINKCHECKER = (
    "import sys\n"
    "import linkcheck.command.linkchecker as cli\n"
    "cli.drop_privileges = lambda: None\n"
    "sys.argv[0] = 'linkchecker'\n"
    "sys.exit(cli.linkchecker())\n"
)


def linkchecker(root: str, urls: list[str]) -> tuple[list[dict[str, str]], set[str]]:
    """Crawl from `urls` with LinkChecker (anchors too), never leaving `root`. Return the
    broken links and anchors (each as LinkChecker's CSV row) and every URL it checked."""
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as config:
        config.write("[checking]\nmaxrequestspersecond=1000\nthreads=4\n[AnchorCheck]\n")
    try:
        options = ["--config", config.name, "--no-status", "--output", "csv", "--verbose"]
        done = subprocess.run(
            [sys.executable, "-c", _LINKCHECKER, *options, "--ignore-url", f"^(?!{root})", *urls],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.unlink(config.name)
    lines = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
    header, *rows = (line.split(";") for line in lines)
    records = [dict(zip(header, row, strict=False)) for row in rows]
    assert header[:5] == ["urlname", "parentname", "base", "result", "warningstring"], done
    broken = [r for r in records if r["valid"] != "True" or r["warningstring"]]
    checked = {r["url"] for r in records if r["url"].startswith(root)}
    return broken, checked


@pytest.mark.parametrize("served", [ROOT / "tests/fixtures/links"], indirect=True)
def test_linkchecker_reports_a_broken_link_and_a_broken_anchor(served):
    broken, _ = linkchecker(served, [served + "a.html"])
    found = sorted((r["urlname"], r["result"], r["warningstring"][:22]) for r in broken)
    assert found == [
        ("b.html#nope", "200 OK", "Anchor `nope' (decoded"),
        ("missing.html", "404 File not found", ""),
    ]


def test_linkchecker_finds_no_broken_link_or_anchor(dist, served):
    pages = [served + p.relative_to(dist).as_posix() for p in html_pages(dist)]
    broken, checked = linkchecker(served, [served, *pages])
    assert broken == []
    assert set(pages) <= checked  # every page was fetched and parsed
    assert served + "feed.xml" in checked and served + "en/feed.xml" in checked


def absolute_links(dist: Path) -> Iterator[tuple[str, str]]:
    """(file, URL) for every absolute URL into the site: in the pages (canonical, hreflang,
    links), the feeds and the sitemap."""
    for page in html_pages(dist):
        tree = html.parse(str(page))
        for url in tree.xpath("//@href | //@src"):
            yield page.name, url
        for refresh in tree.xpath("//meta[@http-equiv='refresh']/@content"):
            yield page.name, refresh.partition("url=")[2]
    for feed in dist.rglob("feed.xml"):
        for url in etree.parse(str(feed)).xpath("//a:link/@href | //a:id/text()", namespaces=NS):
            yield feed.name, url
    sitemap = etree.parse(str(dist / "sitemap.xml"))
    for url in sitemap.xpath("//s:loc/text() | //@href", namespaces=NS):
        yield "sitemap.xml", url
    robots = (dist / "robots.txt").read_text()
    yield "robots.txt", robots.split("Sitemap: ")[1].strip()


def test_every_absolute_link_into_the_site_resolves(dist):
    missing = []
    for where, url in absolute_links(dist):
        if not url.startswith(BASE_URL + "/"):
            continue
        path = unquote(urlsplit(url).path)
        target = dist / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            missing.append((where, url))
    assert missing == []
