"""The theme (`themes/default/`, docs/build-output.md, *The theme*): its templates, its static
files named by content hash, its gettext catalogs, and one Jinja2 environment per language.

Templates compile once per process and theme version, shared by the languages, before any
worker process forks (`compile_templates`, `load_locales`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from babel.core import Locale
from babel.support import NullTranslations
from markupsafe import Markup

from policysite.catalogs import load_translations
from policysite.errors import PolicyError, Problem
from policysite.render.i18n import LONG_DATE, language_name, long_date

TEMPLATES = (
    "base.html",
    "policy.html",
    "history.html",
    "diff.html",
    "404.html",
    "not_found.html",
    "cookie_table.html",
    "notices.html",
    "home.html",
    "redirect.html",
    "toc.html",
    "contact.html",
)
ASSET_PREFIX = "/assets/"


@dataclass(frozen=True)
class Theme:
    """A checked theme folder and its static files, named by content hash."""

    dir: Path
    assets: tuple[tuple[str, str], ...]  # ("style.css", "/assets/style.3f2a1b9c.css")
    files: tuple[tuple[str, bytes], ...]  # (output file under dist/, bytes)
    # sha256 of every file of the theme: a changed template or catalog is a different theme,
    # so the cached Jinja environments (compiled once, never re-checked) cannot go stale.
    digest: str = ""

    def asset(self, name: str) -> str:
        for logical, path in self.assets:
            if logical == name:
                return path
        raise PolicyError(
            Problem(self.dir / "static" / name, "a template asks for a missing static file")
        )


def load_theme(theme_dir: Path) -> Theme:
    """Given a theme folder, check it has every template and hash its static files."""
    if not theme_dir.is_dir():
        raise PolicyError(
            Problem(theme_dir, "the theme folder does not exist", "pass --theme themes/default")
        )
    missing = [name for name in TEMPLATES if not (theme_dir / "templates" / name).is_file()]
    if missing:
        raise PolicyError(
            [
                Problem(
                    theme_dir / "templates" / name,
                    "the theme lacks this template",
                    "restore it from themes/default/templates/",
                )
                for name in missing
            ]
        )
    assets, files = [], []
    whole = hashlib.sha256()
    for path in sorted(theme_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            whole.update(f"{path.relative_to(theme_dir).as_posix()}\0".encode())
            whole.update(hashlib.sha256(path.read_bytes()).digest())
    static = theme_dir / "static"
    paths = [p for p in sorted(static.rglob("*")) if p.is_file()] if static.is_dir() else []
    # Stylesheets last: their url(…) references name the other files' hashed paths.
    for path in sorted(paths, key=lambda p: p.suffix == ".css"):
        data = path.read_bytes()
        relative = path.relative_to(static).as_posix()
        if path.suffix == ".css":
            data = _hashed_urls(data, relative, dict(assets))
        stem, dot, suffix = relative.rpartition(".")
        digest = hashlib.sha256(data).hexdigest()[:8]
        hashed = f"{stem}.{digest}.{suffix}" if dot else f"{relative}.{digest}"
        assets.append((relative, ASSET_PREFIX + hashed))
        files.append((ASSET_PREFIX[1:] + hashed, data))
    return Theme(theme_dir, tuple(assets), tuple(files), whole.hexdigest())


_CSS_URL = re.compile(rb"""url\(\s*(["']?)([^"')\s]+)\1\s*\)""")


def _hashed_urls(css: bytes, relative: str, hashed: dict[str, str]) -> bytes:
    """A stylesheet with each url(…) of another static file (relative to the stylesheet, as
    `fonts/x.woff2`) replaced by that file's hashed path, so the stylesheet's own hash
    changes with theirs. Other URLs (data:, absolute, unknown) are left as they are."""
    folder = posixpath.dirname(relative)

    def replace(match: re.Match[bytes]) -> bytes:
        target = match.group(2).decode()
        if target.startswith(("/", "data:", "#")) or "://" in target:
            return match.group(0)
        found = hashed.get(posixpath.normpath(posixpath.join(folder, target)))
        return b"url(" + found.encode() + b")" if found else match.group(0)

    return _CSS_URL.sub(replace, css)


@functools.lru_cache(maxsize=16)
def environment(theme: Theme, language: str) -> jinja2.Environment:
    """The Jinja2 environment for `language`, with its gettext catalog installed.

    Cached per theme version (`Theme.digest`), so templates compile once per process and
    are never stat()ed again (auto_reload off).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(theme.dir / "templates"),
        bytecode_cache=_COMPILED,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
    env.install_gettext_translations(translations(theme, language), newstyle=True)
    # A page calls gettext a dozen times, nearly always for a fixed string: Jinja's newstyle
    # gettext, with its result kept per string, and `_` without the alias in between.
    fast = _fast_gettext(translations(theme, language).gettext)
    env.globals.update(gettext=fast, _=fast)
    pattern = translations(theme, language).gettext(LONG_DATE)  # the theme's date format
    env.filters["long_date"] = lambda date: long_date(date, language, pattern)
    env.filters["time_tag"] = lambda date: Markup('<time datetime="{}">{}</time>').format(
        date.isoformat(), long_date(date, language, pattern)
    )
    env.globals.update(
        asset=theme.asset,
        language_name=language_name,
        display_language=lambda code: _display_language(code, language),
    )
    return env


def _fast_gettext(translate: Callable[[str], str]) -> Callable[..., str]:
    """Jinja's newstyle `gettext` (jinja2.ext._make_new_gettext) for one catalog, with the
    result for a string without variables computed once."""
    done: dict[str, str] = {}

    @jinja2.pass_context
    def gettext(__context: jinja2.runtime.Context, __string: str, **variables: Any) -> str:
        autoescape = __context.eval_ctx.autoescape
        if not variables and autoescape:
            found = done.get(__string)
            if found is None:
                found = done[__string] = Markup(translate(__string)) % variables
            return found
        rv = translate(__string)
        if autoescape:
            rv = Markup(rv)
        return rv % variables

    return gettext


class _SharedCode(jinja2.BytecodeCache):
    """Compiled templates shared by the languages' environments: their settings are the same,
    so is the code (gettext is looked up when a page renders). Keyed by Jinja on the file name
    and a checksum of the source, so an edited template compiles again."""

    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], Any] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        bucket.code = self.codes.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if len(self.codes) > 256:
            self.codes.clear()
        self.codes[bucket.key, bucket.checksum] = bucket.code


_COMPILED = _SharedCode()


def compiled() -> dict[tuple[str, str], Any]:
    """The templates' code this process has compiled (policysite.build.warmup hands it over)."""
    return dict(_COMPILED.codes)


def install_compiled(codes: dict[tuple[str, str], Any]) -> None:
    """Take template code another process compiled: Jinja2 uses it only for a template whose
    file name and source checksum are the same."""
    _COMPILED.codes.update(codes)


@functools.cache
def _display_language(code: str, language: str) -> str:
    return Locale.parse(code).get_display_name(language)


def compile_templates(theme: Theme, languages: tuple[str, ...]) -> None:
    """Compile every template for every language now (before worker processes fork), so
    that template errors surface once and workers inherit the compiled code."""
    for language in languages:
        env = environment(theme, language)
        for name in TEMPLATES:
            template(env, theme, name)


def load_locales(languages: tuple[str, ...]) -> None:
    """Load Babel's data for `languages` now (before worker processes fork: each would load
    it again on its first date)."""
    for language in languages:
        long_date(dt.date(2000, 1, 1), language)
        language_name(language)
        for other in languages:
            _display_language(other, language)


def template(env: jinja2.Environment, theme: Theme, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as e:
        where = Path(e.filename) if e.filename else theme.dir / "templates" / name
        raise PolicyError(
            Problem(where, e.message or "syntax error", "fix the template", e.lineno)
        ) from e
    except jinja2.TemplateNotFound as e:
        raise PolicyError(
            Problem(
                theme.dir / "templates" / e.name,
                "template not found",
                "restore it from themes/default/templates/",
            )
        ) from e


@functools.lru_cache(maxsize=16)
def translations(theme: Theme, language: str) -> NullTranslations:
    """The theme's `messages` catalog for `language`, for strings composed in Python.

    Parsed once per theme version: reading a catalog costs more than rendering a page.
    """
    return load_translations(theme.dir, language)
