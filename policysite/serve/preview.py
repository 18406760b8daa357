"""`serve` (docs/serve.md): the site with drafts, live reload and the collector, on one port.

One tornado application (livereload is built on tornado) answers:

    /livereload      livereload's websocket handler (livereload.handlers.LiveReloadHandler)
    /livereload.js   the livereload.js that the livereload package ships (no CDN)
    /api/...         the collector core (policysite.collector.http.service) through a thin adapter
    anything else    the site built into --out, or the build's error page while it is broken

We keep livereload's handlers but not `livereload.Server.serve()`: it injects an inline
<script> (our pages run under a CSP without 'unsafe-inline'), serves a folder or a WSGI app but
not both, polls for changes every 800 ms, and drops any reload that comes within 3 s of the
previous one (`LiveReloadHandler.poll_tasks`), so a second quick save would never reach the
browser. Instead: watch (policysite.serve.watch) → rebuild → `LiveReloadHandler.reload_waiters()`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from livereload.handlers import LiveReloadHandler

from policysite.errors import PolicyError, Problem
from policysite.render.widget import WIDGET_DIR
from policysite.serve.watch import watch_sources

if TYPE_CHECKING:
    from policysite.build.incremental import Builder
    from policysite.collector.http.service import ConsentService


@dataclass(frozen=True)
class ServeOptions:
    """What `serve` was asked for (the CLI's arguments, typed)."""

    host: str
    port: int
    db: str
    content: Path
    theme: Path
    out: Path
    date: dt.date | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeOptions:
        return cls(
            host=args.host,
            port=args.port,
            db=str(args.db),
            content=Path(args.content),
            theme=Path(args.theme),
            out=Path(args.out),
            date=getattr(args, "date", None),
        )

    def watched(self) -> list[Path]:
        """The trees whose changes rebuild the site (site.toml lives in content/)."""
        return [self.content, self.theme, WIDGET_DIR]

    def origins(self, port: int) -> list[str]:
        """Origins a browser on this server sends: the collector must accept them."""
        hosts = [self.host]
        if self.host in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1"):
            hosts += ["127.0.0.1", "localhost"]
        return list(dict.fromkeys(f"http://{host}:{port}" for host in hosts))


class PreviewBuild:
    """How `serve` builds: one `incremental.Builder` for the whole session, so a save
    re-reads only the files that changed, renders only the pages that show them, and
    rewrites only the files whose bytes changed, in place in --out (docs/fast-builds.md). Drafts are
    shown; the text cache (.policysite-cache) warms the first build and is stored again
    when the session ends."""

    def __init__(self) -> None:
        self.builder: Builder | None = None

    def __call__(self, options: ServeOptions) -> list[Problem]:
        """Build or rebuild; return what `check` warns about (errors raise PolicyError)."""
        if self.builder is None:
            from policysite.build.incremental import Builder
            from policysite.build.pipeline import CACHE_DIR

            self.builder = Builder(
                options.content,
                options.theme,
                options.out,
                date=options.date,
                drafts=True,
                cache_dir=CACHE_DIR,
            )
        first = not self.builder.files
        result = self.builder.rebuild()
        if first:
            self.builder.save_cache()
        return result.warnings

    def close(self) -> None:
        if self.builder is not None:
            self.builder.save_cache()


def open_collector(options: ServeOptions, origins: list[str]) -> ConsentService:
    """Open the collector core on --db, reading the preview's policy.json."""
    from policysite.collector.http.service import open_service

    if "://" not in options.db:  # var/ does not exist on a fresh checkout
        folder = Path(options.db).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PolicyError(
                Problem(folder, f"cannot create this folder: {error.strerror}", "choose --db")
            ) from error
    return open_service(options.db, options.out, extra_origins=origins)


def problems_text(problems: Sequence[Problem]) -> str:
    """The text the CLI prints for `problems`, one after another."""
    return "\n".join(str(problem) for problem in problems)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the preview: last build's outcome ----------------------------------------------------


BuildSite = Callable[[ServeOptions], "list[Problem] | None"]  # the build's warnings
OpenCollector = Callable[[ServeOptions, list[str]], "ConsentService"]


class Preview:
    """The outcome of the last build, a gate that holds page requests while a rebuild runs,
    and the collector, opened once a build has written policy.json."""

    def __init__(
        self,
        options: ServeOptions,
        origins: list[str],
        build_site: BuildSite | None = None,
        open_service: OpenCollector = open_collector,
    ) -> None:
        self.options = options
        self.origins = origins
        self.failure: str | None = None
        self.problems: list[Problem] = []  # the last build's errors, or its warnings
        self.service: ConsentService | None = None
        self.service_problem = "the collector opens after the first successful build"
        self._build_site = build_site or PreviewBuild()
        self._open_service = open_service
        self._idle = asyncio.Event()
        self._idle.set()
        self._one_at_a_time = asyncio.Lock()

    def build(self) -> float:
        """Build once; remember the error text instead of raising. Return the seconds taken."""
        start = time.perf_counter()
        try:
            warnings = self._build_site(self.options)
        except PolicyError as error:
            self.failure, self.problems = problems_text(error.problems), error.problems
        except Exception:  # a bug in the build: show it, keep serving, recover on next save
            self.failure, self.problems = traceback.format_exc(), []
        else:
            self.failure, self.problems = None, list(warnings or [])
        return time.perf_counter() - start

    async def rebuild(self, changed: set[Path]) -> None:
        """Rebuild off the event loop, hold page requests meanwhile, then reload browsers.
        Raises PolicyError if the collector cannot open (e.g. a bad --db)."""
        async with self._one_at_a_time:
            self._idle.clear()
            try:
                seconds = await asyncio.get_running_loop().run_in_executor(None, self.build)
            finally:
                self._idle.set()
        self.report(seconds, changed)
        if self.failure is None and self.service is None:
            self.service = self._open_service(self.options, self.origins)
        LiveReloadHandler.reload_waiters("*")

    def report(self, seconds: float, changed: set[Path]) -> None:
        names = ", ".join(sorted(_shown(path) for path in changed)) or "start"
        if self.failure is None:
            log(f"rebuilt in {seconds * 1000:.0f} ms ({names})")
            if self.problems:
                log(problems_text(self.problems))
        else:
            log(f"build failed ({names}):\n{self.failure}")

    async def settled(self) -> None:
        """Return once no rebuild is running."""
        await self._idle.wait()

    async def follow(self, stop: asyncio.Event) -> None:
        """Rebuild on every burst of changes to the sources, until `stop` is set."""
        async for changed in watch_sources(
            self.options.watched(), ignore=[self.options.out], stop=stop
        ):
            try:
                await self.rebuild(changed)
            except PolicyError as error:  # keep serving pages; the API answers 503 with this
                self.service_problem = problems_text(error.problems)
                log(self.service_problem)

    async def close(self) -> None:
        if isinstance(self._build_site, PreviewBuild):
            self._build_site.close()
        if self.service is not None:
            await self.service.close()


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
