"""content/site.toml → SiteConfig, validated strictly (SPEC §2).

Every mistake is collected and reported at once, each naming the key, what was expected and
the line in site.toml where we can find it. Unknown keys are errors, not silently ignored: a
typo in a consent setting must never quietly fall back to a default.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

from babel.core import Locale, UnknownLocaleError

from policysite.errors import PolicyError, Problem, ProblemCollector
from policysite.model import Category, ConsentSettings, Cookie, SiteConfig

CONFIG_NAME = "site.toml"
DOCS = "see docs/content-model.md"

TOP_KEYS = ("name", "base_url", "timezone", "languages", "documents", "consent")
CONSENT_KEYS = (
    "document",
    "categories",
    "remember_days",
    "collector_url",
    "allowed_origins",
    "cookie_name",
)
CATEGORY_KEYS = ("id", "required", "cookies")
COOKIE_KEYS = ("name", "provider", "purpose", "lifetime")

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DOCUMENT_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ORIGIN_RE = re.compile(r"^https?://[^/\s?#]+$")
# RFC 6265 cookie-name token: no separators, no spaces.
COOKIE_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def expected(choices: tuple[str, ...] | list[str], received: object) -> str:
    """MkDocs-style 'Expected one of: … but received: …'."""
    return f"Expected one of: {', '.join(choices)} but received: {received!r}"


def _did_you_mean(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f"did you mean {close[0]!r}?" if close else ""


class _Source:
    """site.toml's text, to point messages at a line (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(
        self, key: str, section: str | None = None, *, after: int | None = None
    ) -> int | None:
        """The line of `key = …` in the table that starts after line `after` (or after the
        `[section]` header, or at the top); else that table's first line."""
        start = after if after is not None else self.header_line(section) if section else 0
        if start is None:
            return None
        pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
        for number, line in enumerate(self.lines[start:], start + 1):
            if line.lstrip().startswith("["):
                break
            if pattern.match(line):
                return number
        return start or None

    def header_line(self, section: str) -> int | None:
        pattern = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}\s*\]\]?")
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return number
        return None


class _Checker:
    """Validates one parsed site.toml, collecting problems."""

    def __init__(self, source: _Source, problems: ProblemCollector) -> None:
        self.source = source
        self.problems = problems

    def error(self, message: str, hint: str = "", line: int | None = None) -> None:
        self.problems.error(self.source.path, message, hint or DOCS, line)

    def unknown_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        section = where.strip("[]") if where.startswith("[") else None
        for key in table:
            if key not in allowed:
                self.error(
                    f"unknown key {key!r} in {where}. {expected(allowed, key)}",
                    _did_you_mean(key, allowed) or f"remove {key!r}",
                    self.source.line_of(key, section),
                )

    def string(
        self, table: dict[str, Any], key: str, where: str, section: str | None = None
    ) -> str | None:
        """A required non-empty string, or None after reporting why not."""
        value = table.get(key)
        if value is None:
            self.error(
                f"{where} is missing {key!r}",
                f'add {key} = "…"',
                self.source.header_line(section) if section else None,
            )
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(
                f"{key!r} in {where} must be a non-empty string, got {value!r}",
                line=self.source.line_of(key, section),
            )
            return None
        return value.strip()


def load_config(content_dir: Path) -> SiteConfig:
    """Given the content folder, return its validated site.toml, or raise PolicyError."""
    path = content_dir / CONFIG_NAME
    if not content_dir.is_dir():
        raise PolicyError(
            Problem(content_dir, "content folder not found", "pass --content PATH to your content")
        )
    if not path.is_file():
        raise PolicyError(
            Problem(
                path,
                "site.toml not found",
                f"create {path} with the site's name, base_url, timezone, languages, "
                f"[documents] and [consent] ({DOCS})",
            )
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PolicyError(
            Problem(
                path,
                f"not valid UTF-8 (byte 0x{raw[e.start]:02X} at offset {e.start})",
                "save the file as UTF-8",
                line,
            )
        ) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"\(at line (\d+), column \d+\)", str(e))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise PolicyError(
            Problem(
                path,
                f"invalid TOML: {message}",
                "fix the syntax (https://toml.io); strings need double quotes",
                int(match.group(1)) if match else None,
            )
        ) from e
    problems = ProblemCollector()
    config = _validate(path, data, _Checker(_Source(path, text), problems))
    problems.raise_if_errors()
    assert config is not None
    return config


def _validate(path: Path, data: dict[str, Any], check: _Checker) -> SiteConfig | None:
    check.unknown_keys(data, TOP_KEYS, "site.toml")
    name = check.string(data, "name", "site.toml")
    base_url = _base_url(data, check)
    timezone = _timezone(data, check)
    languages = _languages(data, check)
    slugs = _documents(data, languages, check)
    consent = _consent(data, languages, slugs, base_url, check)
    if check.problems.errors:
        return None
    assert name and base_url and timezone and languages and consent
    return SiteConfig(
        path=path,
        name=name,
        base_url=base_url,
        default_language=languages[0],
        languages=languages,
        timezone=timezone,
        slugs=slugs,
        consent=consent,
    )


def _base_url(data: dict[str, Any], check: _Checker) -> str | None:
    value = check.string(data, "base_url", "site.toml")
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
        check.error(
            f"base_url must be an http(s) URL such as 'https://ximgo.com', got {value!r}",
            line=check.source.line_of("base_url"),
        )
        return None
    return value.rstrip("/")


def _timezone(data: dict[str, Any], check: _Checker) -> str | None:
    value = check.string(data, "timezone", "site.toml")
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        check.error(
            f"unknown time zone {value!r}",
            "use an IANA name such as 'Asia/Ho_Chi_Minh'",
            check.source.line_of("timezone"),
        )
        return None
    return value


def _known_locale(language: str) -> bool:
    try:
        Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return False
    return True


def _languages(data: dict[str, Any], check: _Checker) -> tuple[str, ...]:
    value = data.get("languages")
    line = check.source.line_of("languages")
    if not isinstance(value, list) or not value:
        check.error(
            "languages must be a non-empty list, the default language first",
            'add languages = ["vi", "en"]',
            line,
        )
        return ()
    languages: list[str] = []
    for language in value:
        if not isinstance(language, str) or not LANGUAGE_RE.match(language):
            check.error(
                f"language {language!r} is not a language code such as 'vi' or 'en'", line=line
            )
        elif not _known_locale(language):
            check.error(f"unknown language {language!r}: Babel has no locale for it", line=line)
        elif language in languages:
            check.error(f"language {language!r} is listed twice", line=line)
        else:
            languages.append(language)
    return tuple(languages)


def _documents(
    data: dict[str, Any], languages: tuple[str, ...], check: _Checker
) -> dict[str, dict[str, str]]:
    documents = data.get("documents")
    if not isinstance(documents, dict) or not documents:
        check.error(
            "site.toml has no [documents]",
            'add a table per document, e.g. [documents.privacy] with vi = "chinh-sach-bao-mat"',
        )
        return {}
    slugs: dict[str, dict[str, str]] = {}
    owner: dict[tuple[str, str], str] = {}  # (language, slug) -> document
    for document, table in documents.items():
        section = f"documents.{document}"
        line = check.source.header_line(section)
        if not DOCUMENT_RE.match(document):
            check.error(
                f"document id {document!r} must be lowercase letters, digits, '-' or '_'",
                line=line,
            )
        if not isinstance(table, dict):
            check.error(f"[documents.{document}] must be a table of language = slug", line=line)
            continue
        check.unknown_keys(table, languages, f"[{section}]")
        slugs[document] = {}
        for language in languages:
            slug = table.get(language)
            key_line = check.source.line_of(language, section)
            if slug is None:
                check.error(
                    f"[{section}] has no slug for language {language!r}",
                    f'add {language} = "…" (the URL path of this document in {language})',
                    line,
                )
            elif not isinstance(slug, str) or not SLUG_RE.match(slug):
                check.error(
                    f"slug {slug!r} for {document}/{language} is not URL-safe",
                    "use lowercase ASCII letters, digits and single dashes: 'chinh-sach-bao-mat'",
                    key_line,
                )
            elif (language, slug) in owner:
                check.error(
                    f"documents {owner[language, slug]!r} and {document!r} have the same "
                    f"{language} slug {slug!r}",
                    "give each document its own slug in every language",
                    key_line,
                )
            elif language == languages[0] and slug in languages:
                check.error(
                    f"slug {slug!r} of {document} clashes with the language folder /{slug}/",
                    "choose another slug",
                    key_line,
                )
            else:
                owner[language, slug] = document
                slugs[document][language] = slug
    return slugs


def _consent(
    data: dict[str, Any],
    languages: tuple[str, ...],
    slugs: dict[str, dict[str, str]],
    base_url: str | None,
    check: _Checker,
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
    if check.problems.errors or document is None or categories is None:
        return None
    return ConsentSettings(
        document=document,
        categories=categories,
        remember_days=remember_days,
        collector_url=collector_url,
        allowed_origins=tuple(origins),
        cookie_name=cookie_name,
    )


def _categories(
    value: Any, languages: tuple[str, ...], check: _Checker
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
            id_line = _line_of_value(check, "id", category_id) or id_line
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
        cookies = _cookies(table.get("cookies", []), category_id, languages, check)
        categories.append(Category(category_id, required, cookies))
    if "necessary" not in seen:
        check.error(
            "[consent] has no 'necessary' category",
            'add [[consent.categories]] with id = "necessary" and required = true',
            line,
        )
    return tuple(categories)


def _line_of_value(check: _Checker, key: str, value: str) -> int | None:
    pattern = re.compile(rf'^\s*{re.escape(key)}\s*=\s*"{re.escape(value)}"')
    for number, line in enumerate(check.source.lines, 1):
        if pattern.match(line):
            return number
    return None


def _cookies(
    value: Any, category: str, languages: tuple[str, ...], check: _Checker
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
        line = _line_of_value(check, "name", name) if isinstance(name, str) else None
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
    check: _Checker,
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
    texts: dict[str, str] = {}
    for language in value:
        if language not in languages:
            check.error(
                f"{key!r} of {where} has an unknown language. {expected(languages, language)}",
                line=line,
            )
    for language in languages:
        text = value.get(language)
        if not isinstance(text, str) or not text.strip():
            check.error(
                f"{key!r} of {where} has no {language} text", f"write {key} = {{ {example} }}", line
            )
        else:
            texts[language] = text.strip()
    return texts if len(texts) == len(languages) else None


def today_in(config: SiteConfig, date: dt.date | None = None) -> dt.date:
    """'Today' is the build date in the site's time zone (SPEC §2); `--date` overrides it."""
    if date is not None:
        return date
    return dt.datetime.now(zoneinfo.ZoneInfo(config.timezone)).date()
