"""Incremental builds (docs/fast-builds.md): re-render only the pages whose inputs changed.

A page's HTML is a function of its template context, the theme and its language
(`render.page_context`). Building a context is cheap once Markdown and diffs come from the
cache (policysite.render.cache), so every rebuild builds them all, fingerprints each, and
renders the template only for pages whose fingerprint changed. What a page depends on is
therefore never declared by hand, and cannot be forgotten: an edit to the body of one version
changes the contexts of that version's pages, the current page if it shows it, the history and
the two neighbouring diffs, and nothing else. Site-wide files (policy.json, the widget) are
cheap and made again on every rebuild; the sitemap and feeds are kept while what they read
(`fingerprints.listing_key`) is unchanged.

`Builder` keeps the last site, files and fingerprints in memory for `serve`;
`policysite.build.pipeline.build` seeds one from the manifest of the previous build for the CLI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from policysite import digests
from policysite.build import check, output, parallel
from policysite.build.fingerprints import code_salt, fingerprint, listing_key
from policysite.errors import PolicyError, Problem
from policysite.model import Site, Source
from policysite.render import cache, markup
from policysite.render import html as render
from policysite.render.cache import CacheStats, TextCache
from policysite.render.feeds import GettextFor, Listed
from policysite.render.pages import Page, site_index, site_pages, texts
from policysite.render.template_errors import raise_template_problem
from policysite.render.theme import Theme, compile_templates, load_locales, load_theme
from policysite.render.urls import output_file

PAGES_PER_CHUNK = 10  # pages a worker takes at a time
FORK_FROM = 80  # pages to render: from there, forking workers costs less than it saves


# --- rendering pages, in one process or many ---------------------------------------------------


@dataclass(frozen=True)
class RenderJob:
    """What a worker needs: the site, the theme, the cache folder, the previous fingerprints."""

    site: Site
    theme: Theme
    cache_root: Path | None
    previous: dict[str, str]  # page file -> fingerprint of what the output folder holds
    stage: str | None = None  # a fresh folder to write rendered pages into, or None
    # False: a page written into `stage` comes back as its sha256 rather than its HTML (a
    # one-shot build needs only the digest, and sending ~13 MB between processes costs).
    keep_html: bool = True


@dataclass
class Rendered:
    """Pages rendered by one worker: (file, fingerprint, HTML), where HTML is None when
    unchanged and the sha256 (str) of what was written when the job does not keep HTML."""

    pages: list[tuple[str, str, bytes | str | None]]
    stats: CacheStats
    used: set[str]  # cache keys asked for, so pruning keeps them
    fresh: bytes  # cache entries computed, as a segment of the pack for the parent to store
    forked: bool = False  # computed in other processes: this one's text cache lacks `fresh`


_TEXTS: dict[Path | None, TextCache] = {}


def _texts(root: Path | None) -> TextCache:
    """This process's text cache for `root`, with fresh counters: a Builder that rebuilds on
    every save keeps its rendered texts in memory between rebuilds."""
    texts = _TEXTS.get(root)
    if texts is None:
        texts = _TEXTS[root] = TextCache(root)
    texts.stats = CacheStats()
    texts.take_news()
    return texts


def render_chunk(job: RenderJob, pages: Sequence[Page]) -> Rendered:
    """Build each page's context; render the template only where the fingerprint changed."""
    texts = _texts(job.cache_root)
    out: list[tuple[str, str, bytes | str | None]] = []
    made: set[str] = set()
    with cache.using(texts):
        for page in pages:
            path = output_file(page.path)
            try:
                name, context = render.page_context(job.site, job.theme, page)
                key = fingerprint(job.theme, page.language, name, context)
                html = None
                if job.previous.get(path) != key:
                    html = render.render_context(job.theme, page.language, name, context)
            except Exception as error:  # a mistake in a template: its file and line
                raise_template_problem(error, job.theme.dir / "templates", path)
                raise
            if html is None:
                out.append((path, key, None))
            elif job.stage is None:
                out.append((path, key, html))
            else:
                output.write_new(job.stage, path, html, made)
                out.append((path, key, html if job.keep_html else digests.sha256(html)))
    return Rendered(out, texts.stats, *texts.take_news())


def prepare(languages: tuple[str, ...]) -> None:
    """What every worker would otherwise do for itself, done once before forking: Babel's
    locale data, the Markdown converter and the code salt. Needs neither the site nor the
    theme, so a build can do it while the theme compiles (policysite.build.warmup)."""
    load_locales(languages)
    markup.prepare()
    code_salt()


def render_pages(
    job: RenderJob,
    pages: Sequence[Page],
    jobs: int,
    while_waiting: Callable[[], None] | None = None,
) -> Rendered:
    """`render_chunk` over all pages, on up to `jobs` processes; this process runs
    `while_waiting` meanwhile."""
    compile_templates(job.theme, job.site.config.languages)
    prepare(job.site.config.languages)
    _texts(job.cache_root).load()  # once, before forking: workers share what it read
    # Forking costs tens of milliseconds: worth it for a full build, not for an edit.
    fresh = sum(output_file(p.path) not in job.previous for p in pages)
    full = not job.previous or fresh >= FORK_FROM
    # Small chunks balance the cores; each worker takes a run of consecutive ones, so its
    # pages share texts as in a serial build (parallel._Runs).
    parts = len(pages) // PAGES_PER_CHUNK if jobs > 1 and full else 1
    results = parallel.map_chunks(
        render_chunk, parallel.chunked(pages, parts), job, jobs, while_waiting
    )
    total = Rendered([], CacheStats(), set(), b"")
    for result in results:
        total.pages += result.pages
        total.stats.add(result.stats)
        total.used |= result.used
    total.fresh = b"".join(result.fresh for result in results)  # segments follow each other
    total.forked = parts > 1
    return total


def texts_of(site: Site, theme: Theme, root: Path | None, segments: bytes) -> check.RenderedOf:
    """A source's text as the build rendered it, for the link checks: from this process's
    text cache, which first takes the `segments` that render workers computed (only when a
    check asks, so a site without links never decodes them)."""
    texts = _TEXTS.get(root) or _texts(root)
    pending = [segments] if segments else []

    def rendered(source: Source) -> markup.Rendered:
        while pending:
            texts.add_segment(pending.pop())
        position = site_index(site).positions[source.document][source.version]
        version = site.documents[source.document].versions[position]
        return texts.markdown(render.text_request(site, theme, version, source.language))

    return rendered


def site_problems(site: Site, theme: Theme, root: Path | None, segments: bytes) -> list[Problem]:
    """Everything `check` reports about this site, errors first (docs/editing.md): the
    loader's warnings, then translations and links, with the Markdown this build rendered."""
    found = [*site.warnings, *check.site_problems(site, texts_of(site, theme, root, segments))]
    return sorted(found, key=lambda p: p.severity != "error")


# --- the builder ------------------------------------------------------------------------------


@dataclass
class BuildResult:
    """One (re)build: every output file, which of them changed, and what it cost."""

    files: dict[str, bytes]
    page_keys: dict[str, str]
    pages: int
    rendered: int  # pages whose template was rendered (the others were unchanged)
    changed: set[str] = field(default_factory=set)  # files whose bytes differ from before
    removed: set[str] = field(default_factory=set)  # files the previous build had, this not
    stats: CacheStats = field(default_factory=CacheStats)
    used: set[str] = field(default_factory=set)  # cache keys this build asked for
    fresh: bytes = b""  # cache entries computed (pack segments)
    written: set[str] = field(default_factory=set)  # files already written into the stage
    # sha256 of the written pages whose bytes are not in `files` (render(keep_html=False))
    digests: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[Problem] = field(default_factory=list)  # what `check` would warn about

    def sha256s(self) -> dict[str, str]:
        """Every output file's sha256, for the build manifest."""
        return {name: digests.sha256(data) for name, data in self.files.items()} | self.digests


class Builder:
    """Holds the last build of a site in memory and rebuilds only what a change touches.

    `serve` keeps one for its preview folder: `rebuild(changed)` writes only the files whose
    bytes changed (in place); any change to the theme, widget, site.toml or content reloads
    what it must, and the fingerprints decide which pages to render again.
    """

    def __init__(
        self,
        content_dir: Path,
        theme_dir: Path,
        out_dir: Path,
        *,
        date: dt.date | None = None,
        drafts: bool = False,
        jobs: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.content_dir = Path(content_dir)
        self.theme_dir = Path(theme_dir)
        self.out_dir = Path(out_dir)
        self.date = date
        self.drafts = drafts
        self.jobs = jobs or parallel.default_jobs()
        self.cache_dir = cache_dir
        self.site: Site | None = None
        self.theme: Theme | None = None
        self.files: dict[str, bytes] = {}
        self.page_keys: dict[str, str] = {}
        self.unsaved_used: set[str] = set()  # text cache news not yet in the pack on disk
        self.unsaved_fresh: list[bytes] = []  # pack segments
        self.listings: tuple[str, dict[str, bytes]] | None = None  # (listing_key, files)

    def seed(self, files: dict[str, bytes], page_keys: dict[str, str]) -> None:
        """Start from a previous build's files and fingerprints (the CLI reads them back
        from the output folder and its manifest)."""
        self.files, self.page_keys = dict(files), dict(page_keys)

    def render(
        self,
        load: Callable[[], tuple[Site, Theme]],
        stage: Path | None = None,
        *,
        keep_html: bool = True,
    ) -> BuildResult:
        """Load the site, render what changed; return every file. Writes nothing, except
        rendered pages into `stage` (a fresh folder) when given (`BuildResult.written`).

        `keep_html=False`, for a one-shot build: the pages written into `stage` are returned
        as `BuildResult.digests`, not as bytes, and this builder forgets its state (its next
        rebuild renders everything)."""
        from policysite.render.feeds import listing_files, site_wide_files

        site, theme = load()
        pages = site_pages(site)
        previous = {path: key for path, key in self.page_keys.items() if path in self.files}
        untouched = _untouched(self.site, self.theme, site, theme, pages) & previous.keys()
        todo = [page for page in pages if output_file(page.path) not in untouched]
        job = RenderJob(
            site, theme, self.cache_dir, previous, stage and str(stage), keep_html or not stage
        )
        site_wide: dict[str, bytes] = {}

        def listings(site: Site, listed: Listed, gettext_for: GettextFor) -> dict[str, bytes]:
            # The sitemap and feeds read no text's body: an edit of a text alone, the usual
            # save in `serve`, reuses them (~50 ms on 300 pages; docs/fast-builds.md).
            key = listing_key(theme, site, listed)
            if self.listings is None or self.listings[0] != key:
                self.listings = (key, listing_files(site, listed, gettext_for))
            return self.listings[1]

        result = render_pages(
            job,
            todo,
            self.jobs,
            lambda: site_wide.update(site_wide_files(site, theme, pages, listings)),
        )
        result.pages += [(path, previous[path], None) for path in untouched]
        problems = site_problems(
            site, theme, self.cache_dir, result.fresh if result.forked else b""
        )
        if any(problem.severity == "error" for problem in problems):
            raise PolicyError(problems)  # before anything is written or remembered
        files: dict[str, bytes] = {}
        digests: dict[str, str] = {}
        keys: dict[str, str] = {}
        for path, key, html in sorted(result.pages):
            if isinstance(html, str):
                digests[path] = html
            else:
                files[path] = self.files[path] if html is None else html
            keys[path] = key
        files.update(site_wide)
        rendered = sum(html is not None for _, _, html in result.pages)
        written = {p for p, _, html in result.pages if html is not None} if stage else set()
        changed = {path for path, data in files.items() if self.files.get(path) != data}
        changed |= digests.keys()
        removed = set(self.files) - set(files) - digests.keys()
        # Only a build that got this far becomes the base of the next one: after an error
        # the next build still compares with the last good one.
        self.site, self.theme, self.files, self.page_keys = site, theme, files, keys
        if digests:  # without the bytes of every page, the next rebuild starts over
            self.site, self.theme, self.files, self.page_keys = None, None, {}, {}
        self.unsaved_used |= result.used
        self.unsaved_fresh.append(result.fresh)
        return BuildResult(
            files,
            keys,
            len(pages),
            rendered,
            changed,
            removed,
            result.stats,
            result.used,
            result.fresh,
            written,
            digests,
            warnings=problems,
        )

    def load(self) -> tuple[Site, Theme]:
        from policysite.content.sources import load_site

        site = load_site(self.content_dir, date=self.date, drafts=self.drafts)
        return site, load_theme(self.theme_dir)

    def rebuild(self, changed: set[Path] | None = None) -> BuildResult:
        """Rebuild and write, in place, only the files whose bytes changed; the first call
        builds everything. `changed` (what the watcher saw) is not trusted to say what to
        render: the fingerprints decide, so a missed or coalesced event cannot leave a page
        stale. Raises PolicyError like `build`; the previous state is then kept."""
        start = time.perf_counter()
        if not self.files:  # everything: a fresh tree, written by the workers, swapped in
            stage = output.new_stage(self.out_dir)
            try:
                result = self.render(self.load, stage=stage)
                output.finish(stage, self.out_dir, result.files, result.written)
            except BaseException:
                output.discard(stage)
                self.files = {}
                raise
        else:
            result = self.render(self.load)
            try:
                output.write_changed(self.out_dir, result.files, result.changed, result.removed)
            except BaseException:
                self.files = {}  # the folder may be half written: write it all next time
                raise
        result.seconds = time.perf_counter() - start
        return result

    def save_cache(self) -> None:
        """Store the Markdown and diffs computed so far in the cache folder's pack, so the
        next session starts warm (not on every rebuild: the pack is megabytes)."""
        if self.cache_dir is not None and (any(self.unsaved_fresh) or self.unsaved_used):
            cache.save(self.cache_dir, self.unsaved_used, self.unsaved_fresh)
        self.unsaved_used, self.unsaved_fresh = set(), []


def _untouched(
    old: Site | None,
    old_theme: Theme | None,
    new: Site,
    theme: Theme,
    pages: list[Page],
) -> set[str]:
    """Page files that cannot have changed, without building their contexts: when only the
    bodies of some sources changed, only pages that hold those versions can (their version
    and current pages, the diffs that compare them, the history). Anything else changed
    (front matter, a file added or removed, site.toml, the date, the theme): the empty set,
    and every page's context is fingerprinted."""
    if old is None or old_theme != theme or (old.config, old.today) != (new.config, new.today):
        return set()
    if old.documents.keys() != new.documents.keys():
        return set()
    touched: set[tuple[str, dt.date]] = set()
    for name, document in new.documents.items():
        before = old.documents[name].versions
        if [(v.date, sorted(v.sources)) for v in before] != [
            (v.date, sorted(v.sources)) for v in document.versions
        ]:
            return set()
        for was, now in zip(before, document.versions, strict=True):
            for lang, source in now.sources.items():
                prior = was.sources[lang]
                if prior == source:
                    continue
                same = dataclasses.replace(prior, body=source.body, sha256=source.sha256)
                if same != source:
                    return set()  # front matter changed
                touched.add((name, now.date))
    untouched = set()
    for page in pages:
        if page.kind == "history" and any(doc == page.document for doc, _ in touched):
            continue
        if page.kind == "diff":
            dates = [v.date for v in texts(new, page.document, page.language)]
            index = dates.index(page.version)
            if {(page.document, dates[index - 1]), (page.document, page.version)} & touched:
                continue
        elif page.kind in ("version", "current") and (page.document, page.version) in touched:
            continue
        if page.kind != "404":
            untouched.add(output_file(page.path))
    return untouched
