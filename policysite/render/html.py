"""Jinja2 pages (docs/build-output.md): each page's context and HTML (policysite.render.pages
lists them).

Pure functions, so `serve` can re-render only what changed and in parallel:
`site_pages(site)` lists the pages, `render_page(site, theme, page)` returns one page's bytes.
Templates see plain data and do all the wording through gettext; dates are Babel's.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from policysite.model import Site, Version
from policysite.render import urls
from policysite.render.cache import DiffRequest, TextRequest, texts_cache
from policysite.render.home import home_context
from policysite.render.i18n import LONG_DATE, long_date
from policysite.render.markup import Rendered
from policysite.render.pages import Page, alternates, languages_of, shown, site_index, status
from policysite.render.theme import Theme, environment, template, translations


def _cookie_table(site: Site, theme: Theme, language: str) -> str:
    """The cookie table of site.toml's consent settings, as HTML in `language`."""
    categories = site.config.consent.categories
    key = (theme, language, site.config.default_language, id(categories))
    found = _COOKIE_TABLES.get(key)
    if found is not None and found[0] is categories:  # the same settings, not a reused id
        return found[1]
    env = environment(theme, language)
    table = template(env, theme, "cookie_table.html").render(
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
                (2, "data-controller", translations(theme, lang).gettext("Contact")),
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
    pattern = translations(theme, lang).gettext(LONG_DATE)
    dates = [long_date(e["version"].date, lang, pattern) for e in entries]
    # A heading, not running text: "Ngày 24 tháng 11 năm 2026".
    toc = [(2, e["id"], d[:1].upper() + d[1:]) for e, d in zip(entries, dates, strict=True)]
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
        html = template(env, theme, "not_found.html").render(
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
    "home": ("home.html", home_context),
}


def page_context(site: Site, theme: Theme, page: Page) -> tuple[str, dict[str, Any]]:
    """Given one page, return its template's name and everything the template sees.

    The page's HTML is a function of these two, the theme and the page's language only,
    which is what lets `policysite.build.incremental` skip pages whose context did not change.
    """
    name, make_context = _CONTEXTS[page.kind]
    context = _common(site, page)
    context.update(make_context(site, theme, page))
    context["noindex"] = page.kind == "404" or context.get("status") == "draft"
    return name, context


def render_context(theme: Theme, language: str, name: str, context: dict[str, Any]) -> bytes:
    """Fill template `name` with `context` in `language`; return UTF-8 bytes."""
    html = template(environment(theme, language), theme, name).render(context)
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
