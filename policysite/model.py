"""The site's data model: what `content.py` loads and every later stage reads.

Plain frozen dataclasses, no behaviour beyond derived properties, so each stage
(load and validate → render → write) can be tested on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Cookie:
    name: str
    provider: str
    purpose: dict[str, str]  # language -> text
    lifetime: dict[str, str]  # language -> text ("13 tháng", "13 months")


@dataclass(frozen=True)
class Category:
    id: str  # "necessary", "analytics", "advertising", "functional", …
    required: bool  # necessary is always on
    cookies: tuple[Cookie, ...] = ()
    name: dict[str, str] = field(default_factory=dict)  # language -> "Phân tích"
    purpose: dict[str, str] = field(default_factory=dict)  # language -> one sentence


@dataclass(frozen=True)
class ConsentSettings:
    document: str  # the document visitors consent to, e.g. "privacy"
    categories: tuple[Category, ...]
    remember_days: int  # how long a choice is remembered before asking again
    collector_url: str  # where the widget posts decisions, e.g. "/api/consent"
    allowed_origins: tuple[str, ...]  # Origins the collector accepts
    cookie_name: str = "ximgo_consent"
    log_public_key: str | None = None  # the consent log's key, "<name>+<id>+<key>"
    reload_on_revoke: bool = False  # reload the page after a withdrawal, to stop running scripts
    cookie_domain: str | None = None  # share the choice with this domain's subdomains


@dataclass(frozen=True)
class Controller:
    """site.toml's [controller]: who is responsible for the data, shown on every policy page."""

    name: dict[str, str]  # language -> legal name ("Công ty TNHH XIMGO")
    address: dict[str, str]  # language -> postal address
    email: str
    phone: str | None = None
    dpo_email: str | None = None  # the data-protection contact, when it is not `email`


@dataclass(frozen=True)
class SiteConfig:
    path: Path  # the site.toml file
    name: str
    base_url: str  # "https://ximgo.com", no trailing slash
    default_language: str  # "vi": the source of truth, served at the root
    languages: tuple[str, ...]  # default first
    timezone: str  # "Asia/Ho_Chi_Minh"
    slugs: dict[str, dict[str, str]]  # document -> language -> URL slug
    consent: ConsentSettings
    controller: Controller

    @property
    def content_dir(self) -> Path:
        return self.path.parent


@dataclass(frozen=True)
class Source:
    """One Markdown file: `content/<document>/<YYYY-MM-DD>.<lang>.md`."""

    path: Path
    document: str
    version: dt.date  # the effective date, from the file name
    language: str
    title: str
    summary: str | None
    reconsent: bool
    draft: bool
    # Translations only: `source_sha256` from the front matter, the body_sha256 of the
    # default-language source this text translates. A mismatch means the translation is stale.
    source_sha256: str | None
    body: str  # Markdown after the front matter's closing `---` line, NFC-normalised
    body_line: int  # 1-based line in the file where `body` starts (for error messages)
    sha256: str  # of the file's bytes as stored (what versions.lock and policy.json record)

    @property
    def body_sha256(self) -> str:
        """sha256 of the body (UTF-8): what a translation's `source_sha256` refers to."""
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Version:
    """All language files of one document for one effective date."""

    document: str
    date: dt.date
    default_language: str
    sources: dict[str, Source]  # language -> source; the default language is always present

    @property
    def primary(self) -> Source:
        """The default-language source, which holds the legal text and the version's flags."""
        return self.sources[self.default_language]

    @property
    def summary(self) -> str | None:
        return self.primary.summary

    @property
    def reconsent(self) -> bool:
        return self.primary.reconsent

    @property
    def draft(self) -> bool:
        return self.primary.draft


@dataclass(frozen=True)
class Document:
    id: str  # folder name, e.g. "privacy"
    versions: tuple[Version, ...]  # oldest first; drafts included only when building with drafts


@dataclass(frozen=True)
class Site:
    config: SiteConfig
    documents: dict[str, Document]
    today: dt.date  # build date in the site's time zone (or --date)
    drafts: bool = False
    warnings: tuple = field(default=())  # Problems of severity "warning" found while loading
    consent_log: tuple[tuple[str, bytes], ...] = ()  # checkpoints published in dist/consent-log/

    def in_force(self, document: str) -> Version | None:
        """The newest version whose date is today or earlier."""
        current = None
        for version in self.documents[document].versions:
            if version.date <= self.today:
                current = version
        return current

    def upcoming(self, document: str) -> list[Version]:
        return [v for v in self.documents[document].versions if v.date > self.today]
