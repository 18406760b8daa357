"""Edit → served latency, for our `serve`, `mkdocs serve` and `hugo server`, in one run.

The target is docs/performance.md's: a median of at most 250 ms.

Each server runs on a copy of the 300-page corpus (bench/build/make_corpus.py) on 127.0.0.1.
For each of --edits edits we append a unique token to the newest Vietnamese page's Markdown,
then poll that page over HTTP every --poll-ms until the token is in it: the time from the
write to that response is one sample. We report the median (and best, worst) per server, and
each median as a ratio to ours. A browser would add the same reload time to every server.
Every wait has a limit, and every server is stopped at the end.

    python bench/serve/latency.py [--edits 20] [--peers bench/_work/venv]
    python bench/serve/latency.py --draft-rewrite

--draft-rewrite edits, instead, a draft of about 20,000 words that rewrites the version
before it whole (bench/_work/corpus-draft: 2 versions × vi/en, make_corpus.py --rewrite), a
policy overhaul as an editor writes it. For ours it also times the draft's diff page (its
word diff against the version before), polled once the draft's own page shows the token.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench/_work"
sys.path.insert(0, str(ROOT / "bench/build"))
from run import ensure_corpus, peer_tool  # noqa: E402 (bench scripts are not a package)

START_LIMIT = 300.0  # the first build of 300 pages
EDIT_LIMIT = 30.0
SETTLE = 0.5  # between edits, so that one edit's rebuild never overlaps the next
TARGET = 0.25


@dataclass
class Server:
    name: str
    command: list[str]
    cwd: Path
    source: Path  # the Markdown file we edit
    path: str  # the URL path of its page
    port: int
    samples: list[float] = field(default_factory=list)
    diff_path: str = ""  # ours: the edited version's diff page, timed after its page
    diff_samples: list[float] = field(default_factory=list)
    error: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def servers(corpus: Path, scratch: Path, peers: Path) -> list[Server]:
    """Our server and the installed peers, each on its own fresh copy of the corpus."""
    meta = json.loads((corpus / "corpus.json").read_text())
    last = meta["last_version"]
    shutil.rmtree(scratch, ignore_errors=True)
    for layout in ("ours", "mkdocs", "hugo"):
        shutil.copytree(corpus / layout, scratch / layout)
    # The build benchmark's publishing runs lock every version in force on the real day, the
    # edited one too; an editor's preview edits a version that is not published yet.
    (scratch / "ours/content/versions.lock").unlink(missing_ok=True)
    port = free_port()
    found = [
        Server(
            "ours (serve)",
            [
                *(sys.executable, "build.py", "serve", "--port", str(port)),
                *("--date", meta["build_date"], "--content", str(scratch / "ours/content")),
                *("--out", str(scratch / "ours-out"), "--db", str(scratch / "consents.sqlite3")),
            ],
            ROOT,
            scratch / f"ours/content/privacy/{last}.vi.md",
            f"/chinh-sach-bao-mat/{last}/",
            port,
            diff_path=f"/chinh-sach-bao-mat/{last}/diff.html",
        )
    ]
    mkdocs, hugo = peer_tool(peers, "mkdocs"), peer_tool(peers, "hugo")
    if mkdocs:
        port = free_port()
        found.append(
            Server(
                "mkdocs serve",
                [mkdocs, "serve", "-q", "-a", f"127.0.0.1:{port}", "-f", "mkdocs.yml"],
                scratch / "mkdocs",
                scratch / f"mkdocs/docs/privacy/{last}.vi.md",
                f"/privacy/{last}.vi/",
                port,
            )
        )
    if hugo:
        port = free_port()
        found.append(
            Server(
                "hugo server",
                [hugo, "server", "--bind", "127.0.0.1", "--port", str(port), "--source", "."],
                scratch / "hugo",
                scratch / f"hugo/content/privacy/{last}.vi.md",
                f"/privacy/{last}/",
                port,
            )
        )
    return found


def wait_until(client: httpx.Client, url: str, text: str, limit: float, poll: float) -> float:
    """Poll `url` until its body holds `text`; return when that response arrived."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        try:
            response = client.get(url)
            if response.status_code == 200 and text in response.text:
                return time.perf_counter()
        except httpx.TransportError:
            pass
        time.sleep(poll)
    raise TimeoutError(f"{url} did not show {text!r} within {limit:.0f} s")


def measure(server: Server, edits: int, poll: float, log: Path) -> None:
    base = f"http://127.0.0.1:{server.port}"
    with log.open("w") as output:
        process = subprocess.Popen(
            server.command, cwd=server.cwd, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            with httpx.Client(timeout=EDIT_LIMIT) as client:
                wait_until(client, base + server.path, "<", START_LIMIT, 0.1)
                for number in range(edits):
                    time.sleep(SETTLE)
                    token = f"moi{number}x{uuid.uuid4().hex[:12]}"
                    start = time.perf_counter()
                    with server.source.open("a", encoding="utf-8") as source:
                        source.write(f"\n\nĐoạn {token}\n")
                    server.samples.append(
                        wait_until(client, base + server.path, token, EDIT_LIMIT, poll) - start
                    )
                    if server.diff_path:
                        url = base + server.diff_path
                        done = wait_until(client, url, token, EDIT_LIMIT, poll)
                        server.diff_samples.append(done - start)
        except (TimeoutError, OSError) as error:
            server.error = str(error)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def report(all_: list[Server]) -> str:
    ours = statistics.median(all_[0].samples) if all_[0].samples else None
    lines = [
        "| server | median (ms) | best (ms) | worst (ms) | × ours | target ≤ 250 ms |",
        "|---|---|---|---|---|---|",
    ]
    for s in all_:
        if not s.samples:
            lines.append(f"| {s.name} | failed: {s.error} | | | | |")
            continue
        median = statistics.median(s.samples)
        ratio = f"{median / ours:.2f}" if ours else "?"
        verdict = ("met" if median <= TARGET else "NOT met") if s is all_[0] else ""
        lines.append(
            f"| {s.name} | {median * 1000:.0f} | {min(s.samples) * 1000:.0f} | "
            f"{max(s.samples) * 1000:.0f} | {ratio} | {verdict} |"
        )
        if s.diff_samples:
            median = statistics.median(s.diff_samples)
            lines.append(
                f"| {s.name}, its diff page | {median * 1000:.0f} | "
                f"{min(s.diff_samples) * 1000:.0f} | {max(s.diff_samples) * 1000:.0f} | | |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Edit → served latency (docs/performance.md).")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--poll-ms", type=float, default=10.0)
    parser.add_argument("--corpus", type=Path, default=WORK / "corpus")
    parser.add_argument("--peers", type=Path, default=WORK / "venv", help="venv with the peers")
    parser.add_argument(
        "--draft-rewrite",
        action="store_true",
        help="edit a 20,000-word draft that rewrites the version before it",
    )
    args = parser.parse_args()
    if args.draft_rewrite:
        args.corpus = WORK / "corpus-draft"
        ensure_corpus(args.corpus, True, "--versions", "2", "--words", "20000")
    else:
        ensure_corpus(args.corpus)
    scratch = WORK / "serve"
    all_ = servers(args.corpus, scratch, args.peers)
    for server in all_:
        print(f"{server.name}: {args.edits} edits", file=sys.stderr, flush=True)
        log = scratch / f"{server.name.split()[0]}.log"
        measure(server, args.edits, args.poll_ms / 1000, log)
    print(report(all_))
    results = {
        s.name: {"samples": s.samples, "diff_samples": s.diff_samples, "error": s.error}
        for s in all_
    }
    (WORK / "serve-results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
