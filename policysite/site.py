"""The build (SPEC §3, §6): load and validate → render → write, each step timed.

`render_site` is a pure function from the loaded site and theme to {output file: bytes};
only `write_output` touches dist/. It writes a temporary sibling folder and swaps it in at
the end, so a failed build leaves the previous dist/ as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from policysite import feeds, render
from policysite.content import load_site
from policysite.errors import PolicyError, Problem
from policysite.lock import write_lock
from policysite.model import Site
from policysite.urls import output_file
from policysite.widget import build_widget


@dataclass
class BuildReport:
    """What a build did; `str()` is the line the CLI prints."""

    out_dir: Path
    pages: int
    languages: int
    files: int
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    verbose: bool = False
    lock_updated: bool = False

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.steps)

    def __str__(self) -> str:
        line = (
            f"built {self.pages} pages for {self.languages} languages into {self.out_dir}"
            f" in {self.seconds:.2f} s"
        )
        if self.lock_updated:
            line += " (versions.lock updated)"
        if not self.verbose:
            return line
        details = [f"  {name:<7}{seconds:.3f} s" for name, seconds in self.steps]
        return "\n".join([line, *details])


@contextmanager
def _timed(steps: list[tuple[str, float]], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    steps.append((name, time.perf_counter() - start))


def render_site(site: Site, theme: render.Theme) -> tuple[dict[str, bytes], int]:
    """Given a loaded site and theme, return every output file (path under dist/ → bytes)
    and the number of HTML pages among them."""
    pages = render.site_pages(site)
    files: dict[str, bytes] = {}
    for page in pages:
        files[output_file(page.path)] = render.render_page(site, theme, page)
    listed = [(p.kind, p.path, render.alternates(site, p)) for p in pages if _listed(site, p)]
    files.update(
        feeds.site_files(site, listed, lambda lang: render.translations(theme, lang).gettext)
    )
    files.update(dict(theme.files))
    files.update(build_widget(site, theme.dir))
    return files, len(pages)


def _listed(site: Site, page: render.Page) -> bool:
    """Whether the sitemap lists a page: not the 404 page, not a draft's pages."""
    if page.kind == "404":
        return False
    versions = site.documents[page.document].versions
    return not any(v.draft for v in versions if v.date == page.version)


def write_output(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write `files` into a fresh sibling of `out_dir`, then swap it in place of `out_dir`."""
    out_dir = out_dir.resolve()
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=parent))
    except OSError as e:
        raise PolicyError(
            Problem(
                out_dir,
                f"cannot create the output folder: {e.strerror}",
                "pass --out a folder you can write to",
            )
        ) from e
    try:
        for name in sorted(files):
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name])
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; web servers need to read it
        _swap(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, out_dir: Path) -> None:
    """Put `staging` where `out_dir` is. Two renames: the old tree moves aside first, so at
    every moment one complete tree is at `out_dir` or beside it, never a half-written one."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PolicyError(
            Problem(out_dir, "the output path exists and is not a folder", "pass another --out")
        )
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, old / "tree")
    try:
        os.rename(staging, out_dir)
    except OSError:
        if old is not None:
            os.rename(old / "tree", out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(
    content_dir: Path,
    theme_dir: Path,
    out_dir: Path,
    date: dt.date | None = None,
    drafts: bool = False,
    verbose: bool = False,
) -> BuildReport:
    """Build the static site from `content_dir` with `theme_dir` into `out_dir`."""
    steps: list[tuple[str, float]] = []
    with _timed(steps, "load"):
        site = load_site(Path(content_dir), date=date, drafts=drafts)
        theme = render.load_theme(Path(theme_dir))
    with _timed(steps, "render"):
        files, pages = render_site(site, theme)
    with _timed(steps, "write"):
        write_output(Path(out_dir), files)
        # Only a publishing build records versions as published; a preview must not.
        lock_updated = False if drafts else write_lock(Path(content_dir), site)
    languages = {lang for doc in site.documents for lang in render.languages_of(site, doc)}
    return BuildReport(
        out_dir=Path(out_dir),
        pages=pages,
        languages=len(languages),
        files=len(files),
        steps=steps,
        verbose=verbose,
        lock_updated=lock_updated,
    )
