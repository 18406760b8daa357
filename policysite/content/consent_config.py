"""The [consent] table of site.toml → ConsentSettings: categories, their cookies and the
collector settings, validated as strictly as the rest of site.toml (docs/content-model.md,
*site.toml*)."""

from __future__ import annotations

import re
from typing import Any

from policysite.content.tomlcheck import Checker, expected
from policysite.log_names import PUBLIC_KEY, log_origin
from policysite.model import Category, ConsentSettings, Cookie

CONSENT_KEYS = (
    "document",
    "categories",
    "remember_days",
    "collector_url",
    "allowed_origins",
    "cookie_name",
    "log_public_key",
    "reload_on_revoke",
    "cookie_domain",
)
CATEGORY_KEYS = ("id", "required", "name", "purpose", "cookies")
COOKIE_KEYS = ("name", "provider", "purpose", "lifetime")

CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ORIGIN_RE = re.compile(r"^https?://[^/\s?#]+$")
# RFC 6265 cookie-name token: no separators, no spaces.
COOKIE_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# A registrable domain or a subdomain of one: lowercase labels, at least two of them.
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def consent_settings(
    data: dict[str, Any],
    languages: tuple[str, ...],
    slugs: dict[str, dict[str, str]],
    base_url: str | None,
    check: Checker,
) -> ConsentSettings | None:
    table = data.get("consent")
    if not isinstance(table, dict):
        check.error(
            "site.toml has no [consent] table",
            "add [consent] with document, categories, collector_url and allowed_origins",
        )
        return None
    check.unknown_keys(table, CONSENT_KEYS, "[consent]")
    document = check.string(table, "document", "[consent]", "consent")
    if document is not None and slugs and document not in slugs:
        check.error(
            f"consent document {document!r} is not a configured document. "
            f"{expected(sorted(slugs), document)}",
            line=check.source.line_of("document", "consent"),
        )
    categories = _categories(table.get("categories"), languages, check)
    remember_days = table.get("remember_days", 180)
    if isinstance(remember_days, bool) or not isinstance(remember_days, int) or remember_days < 1:
        check.error(
            f"remember_days must be a positive whole number of days, got {remember_days!r}",
            line=check.source.line_of("remember_days", "consent"),
        )
    collector_url = table.get("collector_url", "/api/consent")
    if not isinstance(collector_url, str) or not re.match(r"^(/|https?://)[^\s]*$", collector_url):
        check.error(
            f"collector_url must be a site path such as '/api/consent' or an http(s) URL, "
            f"got {collector_url!r}",
            line=check.source.line_of("collector_url", "consent"),
        )
    origins = table.get("allowed_origins", [base_url] if base_url else [])
    if not isinstance(origins, list) or not all(
        isinstance(o, str) and ORIGIN_RE.match(o) for o in origins
    ):
        check.error(
            "allowed_origins must be a list of origins such as 'https://ximgo.com' "
            f"(scheme and host, no path), got {origins!r}",
            line=check.source.line_of("allowed_origins", "consent"),
        )
    cookie_name = table.get("cookie_name", "ximgo_consent")
    if not isinstance(cookie_name, str) or not COOKIE_NAME_RE.match(cookie_name):
        check.error(
            f"cookie_name must be a cookie name without spaces or separators, got {cookie_name!r}",
            line=check.source.line_of("cookie_name", "consent"),
        )
    log_key = _log_public_key(table, base_url, check)
    reload_on_revoke = table.get("reload_on_revoke", False)
    if not isinstance(reload_on_revoke, bool):
        check.error(
            f"reload_on_revoke must be true or false, got {reload_on_revoke!r}",
            line=check.source.line_of("reload_on_revoke", "consent"),
        )
    cookie_domain = table.get("cookie_domain")
    if cookie_domain is not None and (
        not isinstance(cookie_domain, str) or not DOMAIN_RE.match(cookie_domain)
    ):
        check.error(
            "cookie_domain must be a domain name such as 'ximgo.com' (no scheme, port or "
            f"leading dot), got {cookie_domain!r}",
            line=check.source.line_of("cookie_domain", "consent"),
        )
    if check.problems.errors or document is None or categories is None:
        return None
    return ConsentSettings(
        document=document,
        categories=categories,
        remember_days=remember_days,
        collector_url=collector_url,
        allowed_origins=tuple(origins),
        cookie_name=cookie_name,
        log_public_key=log_key,
        reload_on_revoke=reload_on_revoke,
        cookie_domain=cookie_domain,
    )


def _log_public_key(table: dict[str, Any], base_url: str | None, check: Checker) -> str | None:
    """The consent log's public key, as the collector printed it on first start: published
    in policy.json so that receipts can be checked against it (docs/consent-log.md)."""
    key = table.get("log_public_key")
    if key is None:
        return None
    line = check.source.line_of("log_public_key", "consent")
    match = PUBLIC_KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        check.error(
            f"log_public_key must be the line the collector printed on first start, "
            f"<name>+<8 hex digits>+<key>, got {key!r}",
            line=line,
        )
        return None
    try:
        expected_name = log_origin(base_url) if base_url else None
    except ValueError:
        expected_name = None
    if expected_name is not None and match["name"] != expected_name:
        check.error(
            f"log_public_key is the key of the log {match['name']!r}, but this site's log is "
            f"{expected_name!r} (from base_url): use the key the collector printed for it",
            line=line,
        )
        return None
    return key


def _categories(
    value: Any, languages: tuple[str, ...], check: Checker
) -> tuple[Category, ...] | None:
    section = "consent.categories"
    line = check.source.header_line(section)
    if not isinstance(value, list) or not value:
        check.error(
            "[consent] has no categories",
            'add [[consent.categories]] tables, the first with id = "necessary" and '
            "required = true",
        )
        return None
    categories: list[Category] = []
    seen: set[str] = set()
    for index, table in enumerate(value, 1):
        where = f"[[consent.categories]] #{index}"
        if not isinstance(table, dict):
            check.error(f"{where} must be a table", line=line)
            continue
        check.unknown_keys(table, CATEGORY_KEYS, where)
        category_id = table.get("id")
        id_line = check.source.line_of("id", section)
        if isinstance(category_id, str):
            id_line = check.source.line_of_value("id", category_id) or id_line
        if not isinstance(category_id, str) or not CATEGORY_RE.match(category_id):
            check.error(
                f"{where} needs an id of lowercase letters, digits and '_', got {category_id!r}",
                'add id = "analytics"',
                id_line,
            )
            continue
        if category_id in seen:
            check.error(f"category {category_id!r} is listed twice", line=id_line)
            continue
        seen.add(category_id)
        required = table.get("required", False)
        if not isinstance(required, bool):
            check.error(f"required of category {category_id!r} must be true or false", line=id_line)
            required = False
        if category_id == "necessary" and not required:
            check.error(
                "category 'necessary' must have required = true: it is always on",
                "add required = true to the necessary category",
                id_line,
            )
        # The widget shows each category by its name and purpose: nothing is built in.
        texts = {
            key: _per_language(table, key, f"category {category_id!r}", languages, id_line, check)
            for key in ("name", "purpose")
        }
        cookies = _cookies(table.get("cookies", []), category_id, languages, check)
        categories.append(
            Category(category_id, required, cookies, texts["name"] or {}, texts["purpose"] or {})
        )
    if "necessary" not in seen:
        check.error(
            "[consent] has no 'necessary' category",
            'add [[consent.categories]] with id = "necessary" and required = true',
            line,
        )
    return tuple(categories)


def _cookies(
    value: Any, category: str, languages: tuple[str, ...], check: Checker
) -> tuple[Cookie, ...]:
    if not isinstance(value, list):
        check.error(f"cookies of category {category!r} must be [[consent.categories.cookies]]")
        return ()
    cookies: list[Cookie] = []
    for index, table in enumerate(value, 1):
        where = f"cookie #{index} of category {category!r}"
        if not isinstance(table, dict):
            check.error(f"{where} must be a table")
            continue
        check.unknown_keys(table, COOKIE_KEYS, where)
        name = table.get("name")
        line = check.source.line_of_value("name", name) if isinstance(name, str) else None
        name = check.string(table, "name", where)
        provider = check.string(table, "provider", where)
        texts = {
            key: _per_language(table, key, where, languages, line, check)
            for key in ("purpose", "lifetime")
        }
        if name and provider and texts["purpose"] and texts["lifetime"]:
            cookies.append(Cookie(name, provider, texts["purpose"], texts["lifetime"]))
    return tuple(cookies)


def _per_language(
    table: dict[str, Any],
    key: str,
    where: str,
    languages: tuple[str, ...],
    line: int | None,
    check: Checker,
) -> dict[str, str] | None:
    value = table.get(key)
    line = check.source.line_of(key, after=line) if line else None
    example = ", ".join(f'{lang} = "…"' for lang in languages)
    if not isinstance(value, dict):
        check.error(
            f"{key!r} of {where} must give a text per language",
            f"write {key} = {{ {example} }}",
            line,
        )
        return None
    return check.language_table(value, f"{key!r} of {where}", languages, line, key)
