"""The files the collector writes hold consent records: they are private whatever the umask.

The SQLite database, its -wal and -shm files, the writer's lock file and every export are
created with mode 0600, or 0640 with the group option (`--group-readable`, or
POLICYSITE_GROUP_READABLE=1), so that a backup or log-shipping group can read them. SQLite
gives the -wal and -shm files the database file's own mode, so creating that file first, with
the right mode, covers all three (docs/collector.md, "Files and permissions").
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

PRIVATE = 0o600
GROUP_READABLE = 0o640
ENV_GROUP_READABLE = "POLICYSITE_GROUP_READABLE"

log = logging.getLogger("policysite.collector")


def file_mode(group_readable: bool) -> int:
    return GROUP_READABLE if group_readable else PRIVATE


def make_folder(path: Path, mode: int) -> None:
    """Create the folder for files of `mode` unless it exists: 0700, or 0750 for a group
    (with its parents as the umask has them)."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o750 if mode & stat.S_IRGRP else 0o700)


def group_readable_from_env(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(ENV_GROUP_READABLE, "")
    return value.strip().lower() in ("1", "yes", "true", "on")


def create_file(path: Path, mode: int) -> bool:
    """Create `path`, empty, with exactly `mode` (the umask cannot widen or narrow it).

    Return False, and leave the file alone, when it exists already.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return True


def open_lock_file(path: Path, mode: int) -> int:
    """Open (creating) a lock file that only the collector's user, or group, may use."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    if os.fstat(fd).st_uid == os.getuid():
        os.fchmod(fd, mode)
    return fd


def open_output(path: Path, mode: int) -> TextIO:
    """Open an export for writing (truncating it) with exactly `mode`, as UTF-8 text.

    An export is a copy of the log, so an existing file is made private too.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with contextlib.suppress(OSError):  # not ours (e.g. -o /dev/stdout): leave it alone
        os.fchmod(fd, mode)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def warn_if_exposed(path: Path, mode: int) -> None:
    """Log once when an existing database file is readable beyond what `mode` allows."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if current & ~mode & 0o077:
        log.warning(
            "%s has mode %04o: %s can read consent records; "
            "run `chmod %04o %s` (and its -wal, -shm files)",
            path,
            current,
            "anyone in its group" if not current & 0o007 else "anyone on this system",
            mode,
            path,
        )
