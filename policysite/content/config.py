"""content/site.toml → SiteConfig, validated strictly (docs/content-model.md, *site.toml*).

Every mistake is collected and reported at once, each naming the key, what was expected and
the line in site.toml where we can find it. Unknown keys are errors, not silently ignored: a
typo in a consent setting must never quietly fall back to a default.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

from babel.core import Locale, UnknownLocaleError

from policysite.content.consent_config import consent_settings
from policysite.content.controller_config import controller_settings
from policysite.content.tomlcheck import DOCS, Checker, TomlSource
from policysite.errors import PolicyError, Problem, ProblemCollector
from policysite.model import SiteConfig

CONFIG_NAME = "site.toml"

TOP_KEYS = ("name", "base_url", "timezone", "languages", "documents", "consent", "controller")

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DOCUMENT_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


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
                f"[documents], [consent] and [controller] ({DOCS})",
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
    config = _validate(path, data, Checker(TomlSource(path, text), problems))
    problems.raise_if_errors()
    assert config is not None
    return config


def _validate(path: Path, data: dict[str, Any], check: Checker) -> SiteConfig | None:
    check.unknown_keys(data, TOP_KEYS, "site.toml")
    name = check.string(data, "name", "site.toml")
    base_url = _base_url(data, check)
    timezone = _timezone(data, check)
    languages = _languages(data, check)
    slugs = _documents(data, languages, check)
    consent = consent_settings(data, languages, slugs, base_url, check)
    controller = controller_settings(data, languages, check)
    if check.problems.errors:
        return None
    assert name and base_url and timezone and languages and consent and controller
    return SiteConfig(
        path=path,
        name=name,
        base_url=base_url,
        default_language=languages[0],
        languages=languages,
        timezone=timezone,
        slugs=slugs,
        consent=consent,
        controller=controller,
    )


def _base_url(data: dict[str, Any], check: Checker) -> str | None:
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


def _timezone(data: dict[str, Any], check: Checker) -> str | None:
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


def _languages(data: dict[str, Any], check: Checker) -> tuple[str, ...]:
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
    data: dict[str, Any], languages: tuple[str, ...], check: Checker
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


def today_in(config: SiteConfig, date: dt.date | None = None) -> dt.date:
    """'Today' is the build date in the site's time zone; `--date` overrides it."""
    if date is not None:
        return date
    return dt.datetime.now(zoneinfo.ZoneInfo(config.timezone)).date()
