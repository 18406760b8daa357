"""The site's home (`/`, and `/en/` for each other language): what its template sees.

The "XIMGO" link of every page and the 404 page lead here (docs/build-output.md). With one
document the home sends visitors to it with a static `<meta http-equiv="refresh">` and a
visible link (no script: pages work under `default-src 'self'`), names the document as its
canonical address and stays out of the sitemap. With several documents it lists them.
"""

from __future__ import annotations

from typing import Any

from policysite.model import Site
from policysite.render import urls
from policysite.render.pages import Page, home_redirects, languages_of, shown, site_index
from policysite.render.theme import Theme


def document_links(site: Site, language: str) -> list[dict[str, Any]]:
    """Every document as the home lists it in `language`: its page in that language, or in
    the default language when it has no text in `language` yet (`lang` says which)."""
    config, links = site.config, []
    for doc in sorted(site.documents):
        lang = language if language in languages_of(site, doc) else config.default_language
        in_force = site_index(site).in_force[doc]
        links.append(
            {
                "document": doc,
                "href": urls.document_path(config, doc, lang),
                "title": shown(site, doc, lang).sources[lang].title,
                "lang": lang,
                "in_force": in_force.date if in_force is not None else None,
                # a document whose first version has not taken effect yet says when it will
                "takes_effect": shown(site, doc, lang).date if in_force is None else None,
            }
        )
    return links


def home_context(site: Site, theme: Theme, page: Page) -> dict[str, Any]:
    """The home's context (registered for kind "home" in policysite.render.html)."""
    documents = document_links(site, page.language)
    redirect = documents[0] if home_redirects(site) and documents else None
    context: dict[str, Any] = {
        "title": "",  # the template's own heading ("Policies"), or the redirect's target
        "documents": documents,
        "redirect": redirect,
        "toc": [],
    }
    if redirect is not None:
        context["title"] = redirect["title"]
        context["canonical"] = urls.absolute(site.config, redirect["href"])
    return context
