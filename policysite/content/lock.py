"""content/versions.lock: the sha256 of every version that has taken effect.

docs/content-model.md, *The lock: published versions are immutable*, is the editors' side.

Published text is a legal record, so once a version is in force its files must never change.
The build records each file's sha256 here and refuses to build when one no longer matches. The
file is plain text, sorted, one line per file, so a diff in review shows exactly what was locked:

    privacy/2026-11-24.vi.md 3b5f…
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path

from policysite.digests import file_sha256
from policysite.errors import PolicyError, Problem
from policysite.model import Site

LOCK_NAME = "versions.lock"
HEADER = """\
# versions.lock: sha256 of every published version of the policy, one file per line.
# Written by `python build.py build`; commit it together with content/.
# A published version is immutable: never edit a locked file or this list. To change the
# policy, publish a new version: python build.py new-version <document> --effective YYYY-MM-DD
"""
LINE_RE = re.compile(r"^(?P<path>\S+)\s+(?P<sha>[0-9a-f]{64})$")


def lock_path(content_dir: Path) -> Path:
    return content_dir / LOCK_NAME


def read_lock(content_dir: Path) -> dict[str, str]:
    """Return {relative posix path: sha256}; empty when there is no lock yet."""
    path = lock_path(content_dir)
    if not path.is_file():
        return {}
    entries: dict[str, str] = {}
    problems: list[Problem] = []
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError(Problem(path, f"not valid UTF-8: {e}", "restore it from git")) from e
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE_RE.match(line)
        if not match:
            problems.append(
                Problem(
                    path,
                    f"expected '<document>/<YYYY-MM-DD>.<lang>.md <sha256>' but received: {line!r}",
                    "restore versions.lock from git (git checkout -- " + str(path) + ")",
                    number,
                )
            )
        elif match["path"] in entries:
            problems.append(
                Problem(path, f"{match['path']} is listed twice", "restore it from git", number)
            )
        else:
            entries[match["path"]] = match["sha"]
    if problems:
        raise PolicyError(problems)
    return entries


def immutable_hint(path: Path, document: str) -> str:
    return (
        f"published versions are immutable: restore the file (git checkout -- {path}) and "
        f"publish the change as a new version with "
        f"`python build.py new-version {document} --effective YYYY-MM-DD`"
    )


def verify(
    content_dir: Path,
    locked: dict[str, str] | None = None,
    hashes: dict[Path, str] | None = None,
) -> list[Problem]:
    """Return an error for every locked file that changed or disappeared. `hashes`: the
    sha256 of files already read (by path), so they are not read again."""
    if locked is None:
        locked = read_lock(content_dir)
    hashes = hashes or {}
    problems: list[Problem] = []
    for relative, sha in sorted(locked.items()):
        path = content_dir / relative
        document = relative.split("/", 1)[0]
        known = hashes.get(path)
        if known is not None:
            if known != sha:
                problems.append(_changed(path, sha, document))
        elif not path.is_file():
            problems.append(
                Problem(
                    path,
                    "this published version was deleted, but versions.lock records it",
                    immutable_hint(path, document),
                )
            )
        elif file_sha256(path) != sha:
            problems.append(_changed(path, sha, document))
    return problems


def _changed(path: Path, sha: str, document: str) -> Problem:
    return Problem(
        path,
        "this version has taken effect and is locked, but its text has changed "
        f"(versions.lock records sha256 {sha[:12]}…)",
        immutable_hint(path, document),
    )


def real_today(site: Site) -> dt.date:
    """The real day in the site's time zone, whatever `--date` the site was loaded for."""
    from policysite.content.config import today_in

    return today_in(site.config)


def updated_lock(
    site: Site, locked: dict[str, str] | None = None, *, today: dt.date | None = None
) -> str:
    """Return the lock text: what was locked plus every non-draft file in effect on `today`.

    `today` defaults to the real day, never to the `--date` the site was loaded for: a
    preview of a later date must not lock a version that has not yet taken effect
    (docs/editing.md)."""
    content_dir = site.config.content_dir
    entries = dict(read_lock(content_dir) if locked is None else locked)
    today = real_today(site) if today is None else today
    for document in site.documents.values():
        for version in document.versions:
            if version.draft or version.date > today:
                continue
            for source in version.sources.values():
                if not source.draft:
                    relative = source.path.relative_to(content_dir).as_posix()
                    entries.setdefault(relative, source.sha256)
    return HEADER + "".join(f"{path} {sha}\n" for path, sha in sorted(entries.items()))


def write_lock(content_dir: Path, site: Site, *, today: dt.date | None = None) -> bool:
    """Write versions.lock when its text changes; return whether it was written. `today`:
    the day whose versions in force are locked (default: the real day, see `updated_lock`).

    Repeated builds leave the file (and its mtime) untouched.
    """
    path = lock_path(content_dir)
    text = updated_lock(site, today=today)
    if path.is_file() and path.read_text("utf-8") == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, "utf-8")
        tmp.replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PolicyError(
            Problem(
                path,
                f"cannot write versions.lock: {e.strerror}",
                f"make {content_dir} writable (and remove {tmp.name} if it is in the way), "
                "then build again: the site was built, but the versions now in force are not "
                "recorded as published until this file is written",
            )
        ) from e
    return True
