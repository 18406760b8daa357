"""The build (docs/build-output.md): load and validate → render → write, each step timed.

Rendering is pure (policysite.render.html: site and page in, bytes out). `build` writes a
temporary sibling folder and swaps it in at the end (policysite.build.output), so a failed build
leaves the previous dist/ as it was.

`build` first asks the manifest (policysite.build.manifest) whether the same inputs already made
what dist/ holds, and then does nothing. Otherwise it renders only the pages whose context
changed (policysite.build.incremental), with Markdown and diffs from the cache
(policysite.render.cache), on every core (policysite.build.parallel). The output is the same
bytes as a clean serial build.
Jinja2, Markdown and Babel are imported only once there is work to do.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from policysite import digests
from policysite.build import manifest

if TYPE_CHECKING:
    from policysite.build.incremental import Builder, BuildResult
    from policysite.model import Site
    from policysite.render.cache import CacheStats

CACHE_DIR = Path(manifest.CACHE_NAME)  # in the working folder, like .gitignore says


class BuildReport(NamedTuple):
    """What a build did; `str()` is the line the CLI prints.

    A NamedTuple rather than a dataclass: importing dataclasses costs a no-change rebuild
    ~7 ms, a tenth of its budget (docs/performance.md)."""

    out_dir: Path
    pages: int
    languages: int
    files: int
    steps: list[tuple[str, float]]  # (step, seconds)
    verbose: bool = False
    lock_updated: bool = False
    up_to_date: bool = False  # nothing changed since the last build: nothing was done
    rendered: int | None = None  # pages whose template was rendered; None: all of them
    written: int | None = None  # files written; None: all of them
    cache: CacheStats | None = None  # Markdown and diffs taken from the cache or computed
    warnings: tuple[str, ...] = ()  # what `check` warns about, as printed (docs/editing.md)

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.steps)

    def __str__(self) -> str:
        if self.up_to_date:
            line = (
                f"{self.out_dir} is up to date: {self.pages} pages for {self.languages} "
                f"languages, checked in {self.seconds:.2f} s"
            )
        else:
            line = (
                f"built {self.pages} pages for {self.languages} languages into {self.out_dir}"
                f" in {self.seconds:.2f} s"
            )
        if self.lock_updated:
            line += " (versions.lock updated)"
        if not self.verbose:
            return line
        details = [
            f"  {name:<7}{seconds:.3f} s{self._detail(name)}" for name, seconds in self.steps
        ]
        return "\n".join([line, *details])

    def _detail(self, step: str) -> str:
        if step == "render" and self.cache is not None:
            rendered = self.pages if self.rendered is None else self.rendered
            return f"  ({rendered} of {self.pages} pages rendered; {self.cache})"
        if step == "write" and self.written is not None:
            return f"  ({self.written} of {self.files} files written)"
        return ""


def build(
    content_dir: Path,
    theme_dir: Path,
    out_dir: Path,
    date: dt.date | None = None,
    drafts: bool = False,
    verbose: bool = False,
    *,
    jobs: int | None = None,
    cache_dir: Path | None = CACHE_DIR,
) -> BuildReport:
    """Build the static site from `content_dir` with `theme_dir` into `out_dir`, which is
    replaced whole: it must be new, empty or a previous build's (output.check_out_dir).

    `jobs`: processes to render with (default: every core). `cache_dir`: where rendered
    Markdown, diffs and build manifests are kept (None: no cache, every build from scratch).
    """
    from policysite.build import output

    content_dir, theme_dir, out_dir = Path(content_dir), Path(theme_dir), Path(out_dir)
    output.check_out_dir(out_dir, (content_dir, theme_dir))  # before anything is written
    steps: list[tuple[str, float]] = []
    start = time.perf_counter()
    inputs_ns = time.time_ns()
    previous = manifest.last_build(cache_dir, out_dir) if cache_dir else None
    inputs = manifest.read_inputs(
        content_dir,
        theme_dir,
        drafts=drafts,
        skip=(out_dir, *([cache_dir] if cache_dir else [])),
        previous=previous,
    )
    if previous is not None and manifest.up_to_date(
        cache_dir, out_dir, previous, inputs, inputs_ns, date
    ):
        steps.append(("check", time.perf_counter() - start))
        return BuildReport(
            out_dir,
            previous["pages"],
            previous["languages"],
            len(previous["outputs"]),
            steps,
            verbose,
            up_to_date=True,
            rendered=0,
            written=0,
            warnings=tuple(previous["warnings"]),
        )
    from policysite.build import parallel, warmup

    # The theme compiles on another core while this one imports and loads the sources.
    cores = jobs or parallel.default_jobs()
    helper = warmup.start(content_dir, theme_dir) if cores > 1 else None
    try:
        from policysite.build import incremental  # the heavy part: only with work
        from policysite.content.config import today_in
        from policysite.content.lock import write_lock
        from policysite.content.sources import load_site
        from policysite.render.pages import languages_of
        from policysite.render.theme import load_theme

        builder = incremental.Builder(
            content_dir,
            theme_dir,
            out_dir,
            date=date,
            drafts=drafts,
            jobs=jobs,
            cache_dir=cache_dir,
        )
        if previous is not None:
            _seed(builder, previous, out_dir)
        with _timed(steps, "load", since=start):
            site = load_site(content_dir, date=date, drafts=drafts)
            real_today = today_in(site.config)
            theme = load_theme(theme_dir)
            incremental.prepare(site.config.languages)  # while the helper may still compile
    except BaseException:
        warmup.stop(helper)
        raise
    warmup.finish(helper)
    with _timed(steps, "render"):
        stage = output.new_stage(out_dir)  # the workers write their pages straight into it
        try:
            result = builder.render(lambda: (site, theme), stage=stage, keep_html=False)
        except BaseException:
            output.discard(stage)
            raise
    with _timed(steps, "write"):
        output.finish(stage, out_dir, result.files, written=result.written)
        # Only a publishing build records versions as published, and only those in force on
        # the real day: neither a preview with drafts nor one of another --date may.
        lock_updated = False if drafts else write_lock(content_dir, site, today=real_today)
    languages = {lang for doc in site.documents for lang in languages_of(site, doc)}
    warnings = tuple(str(problem) for problem in result.warnings)
    if cache_dir:
        _remember(
            cache_dir, out_dir, inputs, inputs_ns, site, real_today, result, len(languages),
            warnings,
        )  # fmt: skip
    return BuildReport(
        out_dir=out_dir,
        pages=result.pages,
        languages=len(languages),
        files=len(result.files) + len(result.digests),
        steps=steps,
        verbose=verbose,
        lock_updated=lock_updated,
        rendered=result.rendered,
        cache=result.stats,
        warnings=warnings,
    )


@contextmanager
def _timed(steps: list[tuple[str, float]], name: str, since: float | None = None) -> Iterator[None]:
    start = time.perf_counter() if since is None else since
    yield
    steps.append((name, time.perf_counter() - start))


def _seed(builder: Builder, previous: manifest.Record, out_dir: Path) -> None:
    """Give `builder` the pages of the last build in `out_dir` that are still as written."""
    files = {}
    for name in previous["page_keys"]:
        try:
            data = (out_dir / name).read_bytes()
        except OSError:
            continue
        if digests.sha256(data) == previous["outputs"][name][0]:
            files[name] = data
    builder.seed(files, previous["page_keys"])


def _remember(
    cache_dir: Path,
    out_dir: Path,
    inputs: dict[str, manifest.Line],
    inputs_ns: int,
    site: Site,
    real_today: dt.date,
    result: BuildResult,
    languages: int,
    warnings: tuple[str, ...],
) -> None:
    """Record this build under its inputs as they are now (with the lock it may just have
    written) and the warnings it printed, and store what the text cache computed."""
    from policysite.content.lock import lock_path
    from policysite.render import cache

    lock = lock_path(site.config.content_dir)
    name = "content/" + lock.relative_to(site.config.content_dir).as_posix()
    if lock.exists():
        stat = lock.stat()
        line = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        inputs = {**inputs, name: (digests.file_sha256(lock), *line)}
    manifest.save(
        cache_dir,
        out_dir,
        inputs=inputs,
        inputs_ns=inputs_ns,
        today=site.today.isoformat(),
        real_today=real_today.isoformat(),
        timezone=site.config.timezone,
        pages=result.pages,
        languages=languages,
        outputs=result.sha256s(),
        page_keys=result.page_keys,
        warnings=list(warnings),
    )
    cache.save(cache_dir, result.used, [result.fresh])
