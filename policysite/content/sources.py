"""content/<document>/<YYYY-MM-DD>.<lang>.md → Site: the "load and validate" stage.

docs/content-model.md is the editors' reference for every rule checked here.

The file name says which document, version (effective date) and language a file is; YAML front
matter between `---` lines carries the title, summary and flags. Everything is checked strictly
and every problem is collected, so an editor sees all their mistakes in one run. Text is
normalised to NFC; non-NFC source text is reported as a warning because it means the editor's
tool produced decomposed Vietnamese letters that may not match in search or diff.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

from policysite.content import consent_log, lock
from policysite.content.config import load_config, today_in
from policysite.content.frontmatter import FrontMatter, front_matter_line, parse_front_matter
from policysite.content.tomlcheck import expected
from policysite.errors import PolicyError, Problem, ProblemCollector
from policysite.model import Document, Site, SiteConfig, Source, Version

FRONT_MATTER_KEYS = ("title", "summary", "reconsent", "draft", "source_sha256")
NAME_RE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})\.(?P<language>[A-Za-z0-9_-]+)\.md$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
IGNORED_TOP_LEVEL = {lock.LOCK_NAME, lock.LOCK_NAME + ".tmp", "site.toml", consent_log.FOLDER}


def inspect_site(
    content_dir: Path, *, date: dt.date | None = None, drafts: bool = False
) -> tuple[Site | None, list[Problem]]:
    """Load what can be loaded and return it with every problem found (errors and warnings).

    `check` uses this to go on reporting after an error; the build uses `load_site`.
    """
    try:
        config = load_config(content_dir)
    except PolicyError as e:
        return None, e.problems
    found = ProblemCollector()
    sources = _discover(config, content_dir, found)
    # The lock is checked against the bytes just read (their sha256), not by reading every
    # published file again; its problems come first, as they concern what is already public.
    read = {source.path: source.sha256 for group in sources.values() for source in group}
    problems = ProblemCollector()
    try:
        for problem in lock.verify(content_dir, hashes=read):
            problems.add(problem)
    except PolicyError as e:
        for problem in e.problems:
            problems.add(problem)
    for problem in found.problems:
        problems.add(problem)
    today = today_in(config, date)
    documents = _assemble(config, sources, drafts, problems)
    checkpoints = consent_log.published_checkpoints(content_dir, config, problems)
    site = Site(
        config=config,
        documents=documents,
        today=today,
        drafts=drafts,
        warnings=tuple(problems.warnings),
        consent_log=checkpoints,
    )
    return site, problems.problems


def load_site(content_dir: Path, *, date: dt.date | None = None, drafts: bool = False) -> Site:
    """Given the content folder, return the validated Site, or raise PolicyError with all errors.

    Drafts are left out unless `drafts`; warnings (non-NFC text…) are in `Site.warnings`.
    """
    site, problems = inspect_site(content_dir, date=date, drafts=drafts)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise PolicyError(errors)
    assert site is not None
    return site


# --- discovery ----------------------------------------------------------------------------


def _discover(
    config: SiteConfig, content_dir: Path, problems: ProblemCollector
) -> dict[str, list[Source]]:
    """Return document -> parsed sources, reporting folders and names that do not fit."""
    found: dict[str, list[Source]] = {document: [] for document in config.slugs}
    folders = set()
    for entry in sorted(content_dir.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED_TOP_LEVEL:
            continue
        if entry.is_file():
            if entry.suffix == ".md":
                problems.warning(
                    entry,
                    "ignored: Markdown sources belong in a document folder",
                    f"move it to {content_dir}/<document>/<YYYY-MM-DD>.<lang>.md",
                )
            continue
        if entry.name not in config.slugs:
            problems.error(
                entry,
                f"folder {entry.name!r} is not a document listed in site.toml. "
                f"{expected(sorted(config.slugs), entry.name)}",
                f"add [documents.{entry.name}] with a slug per language to {config.path}, "
                "or move the folder out of the content folder",
            )
            continue
        folders.add(entry.name)
        for path in sorted(entry.iterdir()):
            source = _load_file(config, entry.name, path, problems)
            if source is not None:
                found[entry.name].append(source)
    for document in config.slugs:
        if document not in folders:
            problems.error(
                content_dir / document,
                f"document {document!r} is configured in site.toml but has no folder",
                f"create {content_dir / document}/<YYYY-MM-DD>.{config.default_language}.md, "
                f"or remove [documents.{document}] from site.toml",
            )
    return found


def _suggested_name(path: Path, default_language: str) -> str:
    """What to rename a badly named source to: its own date and language when only the
    separator is wrong and no file has that name yet; else a placeholder, never a real date
    (that would be another version's name)."""
    near = re.match(r"^(\d{4}-\d{2}-\d{2})[-_. ]*([A-Za-z]{2,3})\.md$", path.name)
    if near:
        name = f"{near[1]}.{near[2].lower()}.md"
        if not (path.parent / name).exists():
            return name
    language = re.search(r"[-_.]([A-Za-z]{2,3})\.md$", path.name)
    return f"YYYY-MM-DD.{language[1].lower() if language else default_language}.md"


def _load_file(
    config: SiteConfig, document: str, path: Path, problems: ProblemCollector
) -> Source | None:
    if path.name.startswith("."):
        return None
    if path.is_dir() or path.suffix != ".md":
        problems.warning(path, "ignored: not a <YYYY-MM-DD>.<lang>.md source")
        return None
    match = NAME_RE.match(path.name)
    if not match:
        example = _suggested_name(path, config.default_language)
        problems.error(
            path,
            f"file name {path.name!r} is not <YYYY-MM-DD>.<lang>.md",
            f"rename it to {example}: the date the version takes effect, then the language",
        )
        return None
    language = match["language"]
    ok = True
    if language not in config.languages:
        problems.error(
            path,
            f"unknown language {language!r}. {expected(config.languages, language)}",
            f"rename the file, or add {language!r} to languages in {config.path} "
            "with a slug for every document",
        )
        ok = False
    try:
        version = dt.date.fromisoformat(match["date"])
    except ValueError:
        problems.error(
            path,
            f"{match['date']} in the file name is not a real date",
            "rename the file to the date the version takes effect, as YYYY-MM-DD",
        )
        ok = False
    raw = path.read_bytes()
    if not ok:
        _decode(path, raw, problems)  # its problems are worth reporting all the same
        return None
    return _parsed(config, document, version, language, path, raw, problems)


# `serve` loads the site again on every save; parsing unchanged files again (YAML, NFC
# checks) was most of that. A file's Source and problems are a function of its bytes, its
# name and the site settings, so they are kept under exactly those: bytes, not stat lines.
_PARSED: dict[str, tuple[tuple, Source | None, list[Problem]]] = {}
_CONFIGS: list[Any] = [None, 0]  # the last settings seen, and a number standing for them


def _parsed(
    config: SiteConfig,
    document: str,
    version: dt.date,
    language: str,
    path: Path,
    raw: bytes,
    problems: ProblemCollector,
) -> Source | None:
    """Decode, split and check one source file, or take what that gave for the same input."""
    if _CONFIGS[0] != config:
        _CONFIGS[:] = [config, _CONFIGS[1] + 1]
    sha256 = hashlib.sha256(raw).hexdigest()  # the cache key, and the Source's own checksum
    key = (sha256, document, version, language, _CONFIGS[1])
    found = _PARSED.get(str(path))
    if found is None or found[0] != key:
        local = ProblemCollector()
        source = None
        text = _decode(path, raw, local)
        front = parse_front_matter(path, text, local) if text is not None else None
        if front is not None:
            source = _source(config, document, version, language, path, sha256, front, local)
        if len(_PARSED) > 4096:
            _PARSED.clear()
        found = _PARSED[str(path)] = (key, source, local.problems)
    for problem in found[2]:
        problems.add(problem)
    return found[1]


def _decode(path: Path, raw: bytes, problems: ProblemCollector) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        problems.error(
            path,
            f"not valid UTF-8: byte 0x{raw[e.start]:02X} at offset {e.start}",
            "save the file as UTF-8 (in your editor: Save with encoding → UTF-8)",
            line,
        )
        return None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _source(
    config: SiteConfig,
    document: str,
    version: dt.date,
    language: str,
    path: Path,
    sha256: str,
    front: FrontMatter,
    problems: ProblemCollector,
) -> Source | None:
    data, lines = front.data, front.lines
    errors_before = len(problems.errors)
    misspelt: set[str] = set()  # keys an unknown key probably meant: not reported twice
    for key in data:
        if key not in FRONT_MATTER_KEYS:
            close = difflib.get_close_matches(str(key), FRONT_MATTER_KEYS, n=1)
            misspelt.update(close)
            problems.error(
                path,
                f"unknown front-matter key. {expected(FRONT_MATTER_KEYS, key)}",
                f"did you mean {close[0]!r}?" if close else f"remove {key!r}",
                lines.get(str(key)),
            )
    title = data.get("title")
    if title is None and "title" in misspelt:
        pass
    elif title is None:
        problems.error(
            path,
            "missing required front-matter key 'title'",
            'add a line title: "…" to the front matter',
            1,
        )
    elif not isinstance(title, str) or not title.strip():
        problems.error(
            path,
            f"title must be non-empty text, got {title!r}",
            'write the title in quotes: title: "…"',
            lines.get("title"),
        )
    summary = data.get("summary")
    if summary is not None and not isinstance(summary, str):
        problems.error(
            path,
            f"summary must be text, got {summary!r}",
            'write the summary in quotes: summary: "…"',
            lines.get("summary"),
        )
    flags = {}
    for key in ("reconsent", "draft"):
        value = data.get(key, False)
        if not isinstance(value, bool):
            problems.error(
                path,
                f"{key} must be true or false, got {value!r}",
                f"write {key}: true or {key}: false",
                lines.get(key),
            )
        flags[key] = value is True
    source_sha256 = data.get("source_sha256")
    if source_sha256 is not None:
        if language == config.default_language:
            problems.error(
                path,
                f"source_sha256 belongs in translations only, not in the "
                f"{config.default_language} source",
                "remove the source_sha256 line",
                lines.get("source_sha256"),
            )
        elif not isinstance(source_sha256, str) or not SHA256_RE.match(source_sha256):
            problems.error(
                path,
                f"source_sha256 must be 64 lowercase hex digits, got {source_sha256!r}",
                "copy the value `python build.py check` suggests",
                lines.get("source_sha256"),
            )
    _report_non_nfc(path, "front matter", front.text, 2, problems)
    _report_non_nfc(path, "text", front.body, front.body_line, problems)
    if len(problems.errors) > errors_before:
        return None
    return Source(
        path=path,
        document=document,
        version=version,
        language=language,
        title=unicodedata.normalize("NFC", title.strip()),
        summary=unicodedata.normalize("NFC", summary.strip()) if summary else None,
        reconsent=flags["reconsent"],
        draft=flags["draft"],
        source_sha256=source_sha256,
        body=unicodedata.normalize("NFC", front.body),
        body_line=front.body_line,
        sha256=sha256,
    )


def _report_non_nfc(
    path: Path, where: str, text: str, first_line: int, problems: ProblemCollector
) -> None:
    """Warn once per file part, at the first line that is not NFC."""
    if unicodedata.is_normalized("NFC", text):  # the usual case, checked at C speed
        return
    bad = [
        i for i, line in enumerate(text.split("\n")) if not unicodedata.is_normalized("NFC", line)
    ]
    if not bad:
        return
    more = f" (and {len(bad) - 1} more line(s))" if len(bad) > 1 else ""
    problems.warning(
        path,
        f"{where} is not Unicode NFC{more}: letters are stored decomposed",
        "the build normalises it; to fix the file, re-save it as NFC (e.g. `uconv -x nfc`) "
        "or retype the accented letters",
        first_line + bad[0],
    )


# --- versions and documents ---------------------------------------------------------------


def _assemble(
    config: SiteConfig, found: dict[str, list[Source]], drafts: bool, problems: ProblemCollector
) -> dict[str, Document]:
    """Group sources into versions, check cross-file rules, drop drafts unless wanted."""
    documents: dict[str, Document] = {}
    default = config.default_language
    for document, sources in found.items():
        by_date: dict[dt.date, dict[str, Source]] = defaultdict(dict)
        for source in sources:
            by_date[source.version][source.language] = source
        dates = sorted(by_date)
        # The first version needs no summary; an old draft before it does not count.
        published = [d for d in dates if default in by_date[d] and not by_date[d][default].draft]
        first = min(published or dates, default=None)
        versions: list[Version] = []
        for date in dates:
            files = by_date[date]
            primary = files.get(default)
            if primary is None:
                for source in files.values():
                    missing = source.path.with_name(f"{date.isoformat()}.{default}.md")
                    if missing.exists():  # it failed to load, which is reported already
                        continue
                    problems.error(
                        source.path,
                        f"translation without a {default} source: {missing} does not exist",
                        f"create {missing} first ({default} is the source of truth), or rename "
                        f"this file to the date of the {default} version it translates",
                    )
                continue
            for source in files.values():
                _check_summary(source, date <= first, primary.draft, problems)
            if primary.draft and not drafts:
                continue
            kept = {
                lang: files[lang]
                for lang in config.languages
                if lang in files and (drafts or not files[lang].draft)
            }
            versions.append(Version(document, date, default, kept))
        primaries = [s for s in sources if s.language == default]
        if primaries and all(s.draft for s in primaries):
            # With --drafts (serve, check) the site can still be previewed.
            report = problems.warning if drafts else problems.error
            report(
                sources[0].path.parent,
                f"document {document!r} has no published version: every version is a draft",
                "remove `draft: true` from the version to publish, or preview with --drafts",
            )
        documents[document] = Document(document, tuple(versions))
    return documents


def _check_summary(source: Source, first: bool, draft: bool, problems: ProblemCollector) -> None:
    """`summary` is required on every version after the first; a draft may wait.

    docs/content-model.md, *Front matter*."""
    if first or source.summary:
        return
    message = "missing 'summary': every version after the first must say what changed"
    hint = 'add summary: "…" to the front matter, one sentence on what changed'
    draft = draft or source.draft
    if draft:
        message += " (required before it is published)"
    report = problems.warning if draft else problems.error
    report(source.path, message, hint, front_matter_line(source.path, "summary"))
