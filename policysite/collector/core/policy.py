"""What the collector accepts, read from the built site's policy.json (docs/ARCHITECTURE.md).

`load_policy` turns policy.json into a `PolicyIndex` pre-shaped for the hot path: one dict
lookup answers "is (document, version, language) listed, and which text was consented to?".
`PolicySource` re-reads the file when it changes, so a rebuilt site needs no restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from policysite.errors import PolicyError, Problem, ProblemCollector
from policysite.log_names import log_origin

log = logging.getLogger("policysite.collector")

RELOAD_INTERVAL = 1.0  # seconds between two stat() calls of policy.json


@dataclass(frozen=True)
class PolicyIndex:
    """The parts of policy.json the collector checks a consent against."""

    default_language: str
    languages: frozenset[str]
    categories: tuple[str, ...]  # in banner order
    required: frozenset[str]  # categories that must be granted ("necessary")
    allowed_origins: frozenset[str]
    versions: dict[str, frozenset[str]]  # document -> listed versions
    # (document, version, language) -> sha256 of the text consented to: that language's text,
    # or the default language's when the translation lags (the default language prevails).
    texts: dict[tuple[str, str, str], str]
    log_name: str = ""  # the consent log's name, from site.base_url (log_names.py)
    log_public_key: str | None = None  # as site.toml publishes it


def normalize_origin(origin: str) -> str:
    """Origins compare as browsers send them: lower-case, no trailing slash."""
    return origin.strip().rstrip("/").lower()


def load_policy(path: Path) -> PolicyIndex:
    """Given the path of policy.json, return its index, or raise PolicyError naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(
            Problem(
                path,
                "policy.json not found: the collector checks every consent against it",
                "build the site first (python build.py build) or pass --site <built site>",
            )
        ) from None
    except OSError as error:
        raise PolicyError(Problem(path, f"cannot read policy.json: {error.strerror}")) from error
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        line = getattr(error, "lineno", None)
        raise PolicyError(
            Problem(path, f"policy.json is not valid JSON: {error}", "rebuild the site", line)
        ) from error
    return _index(path, data)


def _index(path: Path, data: object) -> PolicyIndex:
    problems = ProblemCollector()

    def expect(value: object, kind: type, where: str) -> bool:
        if isinstance(value, kind) and not isinstance(value, bool):
            return True
        expected = {dict: "an object", list: "a list", str: "a string"}[kind]
        problems.error(path, f"{where}: expected {expected}, found {json.dumps(value)[:60]}")
        return False

    if not expect(data, dict, "top level"):
        problems.raise_if_errors()
    site, consent, documents = data.get("site"), data.get("consent"), data.get("documents")
    languages: list[str] = []
    default = ""
    log_name = ""
    if expect(site, dict, "site"):
        default = site.get("default_language", "")
        with contextlib.suppress(TypeError, ValueError):  # the collector then refuses to start
            log_name = log_origin(site.get("base_url"))
        if expect(site.get("languages"), list, "site.languages"):
            languages = [x for x in site["languages"] if expect(x, str, "site.languages[]")]
        if expect(default, str, "site.default_language") and default not in languages:
            problems.error(path, f"site.default_language {default!r} is not in site.languages")
    categories: list[str] = []
    required: set[str] = set()
    origins: set[str] = set()
    if expect(consent, dict, "consent"):
        if expect(consent.get("categories"), list, "consent.categories"):
            for entry in consent["categories"]:
                if expect(entry, dict, "consent.categories[]") and expect(
                    entry.get("id"), str, "consent.categories[].id"
                ):
                    categories.append(entry["id"])
                    if entry.get("required") is True:
                        required.add(entry["id"])
        if expect(consent.get("allowed_origins", []), list, "consent.allowed_origins"):
            for origin in consent.get("allowed_origins", []):
                if expect(origin, str, "consent.allowed_origins[]"):
                    origins.add(normalize_origin(origin))
    versions: dict[str, frozenset[str]] = {}
    texts: dict[tuple[str, str, str], str] = {}
    if expect(documents, dict, "documents"):
        for document, entry in documents.items():
            where = f"documents.{document}"
            if expect(entry, dict, where) and expect(entry.get("versions"), list, where):
                listed = _versions(path, problems, where, entry["versions"], default, languages)
                versions[document] = frozenset(v for v, _ in listed)
                for version, shas in listed:
                    for language, sha in shas.items():
                        texts[(document, version, language)] = sha
    problems.raise_if_errors()
    return PolicyIndex(
        default_language=default,
        languages=frozenset(languages),
        categories=tuple(categories),
        required=frozenset(required),
        allowed_origins=frozenset(origins),
        versions=versions,
        texts=texts,
        log_name=log_name,
        log_public_key=_public_key(consent),
    )


def _public_key(consent: object) -> str | None:
    key = consent.get("log_public_key") if isinstance(consent, dict) else None
    return key if isinstance(key, str) else None


def _versions(
    path: Path,
    problems: ProblemCollector,
    where: str,
    entries: list,
    default: str,
    languages: list[str],
) -> list[tuple[str, dict[str, str]]]:
    """Each listed version with the sha256 consented to for every site language."""
    listed = []
    for entry in entries:
        version = entry.get("version") if isinstance(entry, dict) else None
        texts = entry.get("languages") if isinstance(entry, dict) else None
        if not isinstance(version, str) or not isinstance(texts, dict):
            problems.error(path, f"{where}.versions[]: expected version and languages")
            continue
        shas = {
            lang: text.get("sha256")
            for lang, text in texts.items()
            if isinstance(text, dict) and isinstance(text.get("sha256"), str)
        }
        if default not in shas:
            problems.error(path, f"{where} {version}: no sha256 for the default language")
            continue
        listed.append((version, {lang: shas.get(lang, shas[default]) for lang in languages}))
    return listed


class PolicySource:
    """policy.json, re-read when its stat changes (checked at most once a second)."""

    def __init__(self, path: Path, reload_interval: float = RELOAD_INTERVAL) -> None:
        self.path = path
        self.reload_interval = reload_interval
        self._stamp = self._stat()
        self._index = load_policy(path)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> PolicyIndex:
        now = time.monotonic()
        if now - self._checked >= self.reload_interval and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._refresh()
            finally:
                self._lock.release()
        return self._index

    def _refresh(self) -> None:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return  # unchanged, or missing while dist/ is being swapped: keep what we have
        self._stamp = stamp
        try:
            self._index = load_policy(self.path)
        except PolicyError as error:
            log.warning("keeping the previous policy.json: %s", error)
        else:
            log.info("reloaded %s", self.path)
