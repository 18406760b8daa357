"""Jinja2 pages (SPEC §3): each page's context and HTML (policysite.pages lists them).

Pure functions, so `serve` can re-render only what changed and in parallel:
`site_pages(site)` lists the pages, `render_page(site, theme, page)` returns one page's bytes.
Templates see plain data and do all the wording through gettext; dates are Babel's.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from babel.core import Locale
from babel.support import NullTranslations
from markupsafe import Markup

from policysite import urls
from policysite.cache import DiffRequest, TextRequest, texts_cache
from policysite.errors import PolicyError, Problem
from policysite.i18n import language_name, load_translations, long_date
from policysite.markup import Rendered
from policysite.model import Site, Version
from policysite.pages import Page, alternates, languages_of, shown, site_index, status

TEMPLATES = (
    "base.html",
    "policy.html",
    "history.html",
    "diff.html",
    "404.html",
    "not_found.html",
    "cookie_table.html",
    "notices.html",
    "toc.html",
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
    for path in sorted(static.rglob("*")) if static.is_dir() else []:
        if path.is_file():
            data = path.read_bytes()
            relative = path.relative_to(static).as_posix()
            stem, dot, suffix = relative.rpartition(".")
            digest = hashlib.sha256(data).hexdigest()[:8]
            hashed = f"{stem}.{digest}.{suffix}" if dot else f"{relative}.{digest}"
            assets.append((relative, ASSET_PREFIX + hashed))
            files.append((ASSET_PREFIX[1:] + hashed, data))
    return Theme(theme_dir, tuple(assets), tuple(files), whole.hexdigest())


# --- rendering -----------------------------------------------------------------------------


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
    env.filters["long_date"] = lambda date: long_date(date, language)
    env.filters["time_tag"] = lambda date: Markup('<time datetime="{}">{}</time>').format(
        date.isoformat(), long_date(date, language)
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


@functools.cache
def _display_language(code: str, language: str) -> str:
    return Locale.parse(code).get_display_name(language)


def compile_templates(theme: Theme, languages: tuple[str, ...]) -> None:
    """Compile every template for every language now (before worker processes fork), so
    that template errors surface once and workers inherit the compiled code."""
    for language in languages:
        env = environment(theme, language)
        for name in TEMPLATES:
            _template(env, theme, name)


def load_locales(languages: tuple[str, ...]) -> None:
    """Load Babel's data for `languages` now (before worker processes fork: each would load
    it again on its first date)."""
    for language in languages:
        long_date(dt.date(2000, 1, 1), language)
        language_name(language)
        for other in languages:
            _display_language(other, language)


def _template(env: jinja2.Environment, theme: Theme, name: str) -> jinja2.Template:
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


def _cookie_table(site: Site, theme: Theme, language: str) -> str:
    """The cookie table of site.toml's consent settings, as HTML in `language`."""
    categories = site.config.consent.categories
    key = (theme, language, site.config.default_language, id(categories))
    found = _COOKIE_TABLES.get(key)
    if found is not None and found[0] is categories:  # the same settings, not a reused id
        return found[1]
    env = environment(theme, language)
    table = _template(env, theme, "cookie_table.html").render(
        categories=categories, lang=language, default=site.config.default_language
    )
    if len(_COOKIE_TABLES) > 64:
        _COOKIE_TABLES.clear()
    _COOKIE_TABLES[key] = (categories, table)
    return table


_COOKIE_TABLES: dict[tuple, tuple[object, str]] = {}


def text_request(site: Site, theme: Theme, version: Version, language: str) -> TextRequest:
    """What rendering a version's text in `language` takes: its body, table and anchor label."""
    return TextRequest(
        version.sources[language].body,
        _cookie_table(site, theme, language),
        translations(theme, language).gettext("Link to this section"),
    )


def _rendered(site: Site, theme: Theme, version: Version, language: str) -> tuple[Rendered, str]:
    """A version's text in `language` as HTML, and the cookie table HTML it may embed."""
    request = text_request(site, theme, version, language)
    return texts_cache().markdown(request), request.cookie_table


def _nest(flat: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """(level, id, title) in reading order → a tree of {"id", "title", "children"}."""
    root: list[dict[str, Any]] = []
    stack: list[tuple[int, list]] = [(0, root)]
    for level, anchor, title in flat:
        while stack[-1][0] >= level:
            stack.pop()
        node = {"id": anchor, "title": title, "children": []}
        stack[-1][1].append(node)
        stack.append((level, node["children"]))
    return root


def _common(site: Site, page: Page) -> dict[str, Any]:
    """What base.html needs on every page: links, switcher, footer."""
    config, lang = site.config, page.language
    alt = alternates(site, page)
    consent_doc = config.consent.document
    doc_langs = languages_of(site, consent_doc) if consent_doc in site.documents else []
    settings_lang = lang if lang in doc_langs else config.default_language
    switcher = []
    for other in config.languages:
        if other == lang:
            continue
        if other in alt:
            href = alt[other]
        elif page.document and other in languages_of(site, page.document):
            href = urls.document_path(config, page.document, other)
        else:
            href = urls.language_root(config, other)
        switcher.append({"lang": other, "href": href})
    return {
        "page": page,
        "lang": lang,
        "site": config,
        "canonical": urls.absolute(config, page.path),
        "alternates": [(code, urls.absolute(config, path)) for code, path in alt.items()],
        "x_default": urls.absolute(config, alt[config.default_language])
        if config.default_language in alt
        else "",
        "switcher": switcher,
        "feed": urls.feed_path(config, lang),
        "cookie_settings": urls.document_path(config, consent_doc, settings_lang)
        + "#cookie-settings"
        if doc_langs
        else "#cookie-settings",
        "history": urls.history_path(config, page.document, lang) if page.document else "",
        "noindex": False,
        "page_today": site.today,
    }


def _link(site: Site, document: str, version: Version, language: str, kind: str) -> dict:
    """Link to a version's page (or diff) in `language`, else in the default language."""
    lang = language if language in version.sources else site.config.default_language
    make = urls.version_path if kind == "version" else urls.diff_path
    return {"href": make(site.config, document, lang, version.date), "lang": lang}


def _policy_context(site: Site, theme: Theme, page: Page) -> dict[str, Any]:
    config, lang, doc = site.config, page.language, page.document
    versions = site.documents[doc].versions
    index = site_index(site)
    position = index.positions[doc][page.version]
    version = versions[position]
    source = version.sources[lang]
    rendered, table = _rendered(site, theme, version, lang)
    in_force = index.in_force[doc]
    primary = version.primary
    later = next((v for v in versions[position + 1 :] if not v.draft), None)
    context = {
        "title": source.title,
        "version": version,
        "source": source,
        "status": status(site, version),
        "body": Markup(rendered.html),
        "cookie_table": Markup(table) if table not in rendered.html else "",
        "toc": _nest(
            [
                *rendered.toc,
                (2, "cookie-settings", translations(theme, lang).gettext("Cookie settings")),
            ]
        ),
        "translated": lang != config.default_language,
        "stale": source.source_sha256 is not None and source.source_sha256 != primary.body_sha256,
        "original": _link(site, doc, version, config.default_language, "version"),
        "lagging": None,
        "upcoming": [],
        "replaced_by": None,
        "current": urls.document_path(config, doc, lang),
        "diff": _link(site, doc, version, lang, "diff") if version is not versions[0] else None,
    }
    if page.kind == "current":
        context["upcoming"] = [
            {"date": v.date, **_link(site, doc, v, lang, "version")}
            for v in site.upcoming(doc)
            if v is not version
        ]
        if in_force is not None and in_force.date > version.date:
            context["lagging"] = {
                "date": in_force.date,
                **_link(site, doc, in_force, config.default_language, "version"),
            }
    elif context["status"] == "superseded" and later is not None:
        context["replaced_by"] = {
            "date": later.date,
            **_link(site, doc, later, lang, "version"),
        }
    return context


def _history_context(site: Site, theme: Theme, page: Page) -> dict[str, Any]:
    lang, doc = page.language, page.document
    versions = site.documents[doc].versions
    entries = []
    for index, version in enumerate(reversed(versions)):
        source = version.sources.get(lang, version.primary)
        entries.append(
            {
                "id": f"v{version.date.isoformat()}",
                "version": version,
                "status": status(site, version),
                "summary": source.summary or version.summary,
                "summary_lang": source.language if source.summary else version.primary.language,
                "reconsent": version.reconsent,
                "read": _link(site, doc, version, lang, "version"),
                "diff": _link(site, doc, version, lang, "diff")
                if index < len(versions) - 1
                else None,
            }
        )
    title = shown(site, doc, lang).sources[lang].title
    toc = [(2, e["id"], long_date(e["version"].date, lang)) for e in entries]
    return {"title": title, "entries": entries, "toc": _nest(toc)}


def _diff_context(site: Site, theme: Theme, page: Page) -> dict[str, Any]:
    lang, doc = page.language, page.document
    available = site_index(site).texts[doc, lang]
    index = site_index(site).dates[doc, lang][page.version]
    old, new = available[index - 1], available[index]
    result = texts_cache().diff(diff_request(site, theme, old, new, lang))
    return {
        "title": new.sources[lang].title,
        "old": old,
        "new": new,
        "old_href": urls.version_path(site.config, doc, lang, old.date),
        "new_href": urls.version_path(site.config, doc, lang, new.date),
        "diff": result,
        "body": Markup(result.html),
        "toc": _nest(result.toc),
        "version": new,
        "status": status(site, new),
    }


def _not_found_context(site: Site, theme: Theme, page: Page) -> dict[str, Any]:
    messages = []
    for lang in site.config.languages:
        env = environment(theme, lang)
        links = [
            {
                "href": urls.document_path(site.config, doc, lang),
                "title": shown(site, doc, lang).sources[lang].title,
            }
            for doc in sorted(site.documents)
            if lang in languages_of(site, doc)
        ]
        html = _template(env, theme, "not_found.html").render(
            lang=lang, links=links, site=site.config, heading="h2" if messages else "h1"
        )
        messages.append({"lang": lang, "html": Markup(html)})
    title = " / ".join(
        translations(theme, lang).gettext("Page not found") for lang in site.config.languages
    )
    return {"title": title, "messages": messages, "toc": [], "switcher": []}


_CONTEXTS = {
    "current": ("policy.html", _policy_context),
    "version": ("policy.html", _policy_context),
    "history": ("history.html", _history_context),
    "diff": ("diff.html", _diff_context),
    "404": ("404.html", _not_found_context),
}


def page_context(site: Site, theme: Theme, page: Page) -> tuple[str, dict[str, Any]]:
    """Given one page, return its template's name and everything the template sees.

    The page's HTML is a function of these two, the theme and the page's language only,
    which is what lets `policysite.incremental` skip pages whose context did not change.
    """
    name, make_context = _CONTEXTS[page.kind]
    context = _common(site, page)
    context.update(make_context(site, theme, page))
    context["noindex"] = page.kind == "404" or context.get("status") == "draft"
    return name, context


def render_context(theme: Theme, language: str, name: str, context: dict[str, Any]) -> bytes:
    """Fill template `name` with `context` in `language`; return UTF-8 bytes."""
    html = _template(environment(theme, language), theme, name).render(context)
    return html.encode("utf-8")


def render_page(site: Site, theme: Theme, page: Page) -> bytes:
    """Given one page of the site, return its HTML as UTF-8 bytes."""
    name, context = page_context(site, theme, page)
    return render_context(theme, page.language, name, context)


def diff_request(site: Site, theme: Theme, old: Version, new: Version, lang: str) -> DiffRequest:
    """What the diff page of `new` against `old` in `lang` compares, and its labels."""
    gettext = translations(theme, lang).gettext
    return DiffRequest(
        texts_cache().markdown(text_request(site, theme, old, lang)).html,
        texts_cache().markdown(text_request(site, theme, new, lang)).html,
        gettext("Added:"),
        gettext("Removed:"),
    )
