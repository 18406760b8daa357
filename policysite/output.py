"""Writing the output folder (SPEC §6): a fresh staging folder swapped in, or files in place.

`build` writes a whole new tree next to dist/ and swaps it in at the end, so a failed build
leaves the previous dist/ as it was. The render workers write their pages into that staging
folder themselves (policysite.incremental), so writing ~600 files is spread over the cores
like rendering them. `serve` instead rewrites the changed files of its preview in place, each
atomically.

Writing is a few syscalls per file (mkdir once per folder, open/write/close): on a fresh
folder there is nothing to check first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from policysite.errors import PolicyError, Problem

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def new_stage(out_dir: Path) -> Path:
    """Make an empty staging folder beside `out_dir` (same file system: the swap renames)."""
    out_dir = out_dir.resolve()
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    except OSError as e:
        raise PolicyError(
            Problem(
                out_dir,
                f"cannot create the output folder: {e.strerror}",
                "pass --out a folder you can write to",
            )
        ) from e


def write_new(stage: str, name: str, data: bytes, made: set[str]) -> None:
    """Write `data` as `stage/name`, making its folders (`made`: those known to exist)."""
    folder = name.rpartition("/")[0]
    if folder and folder not in made:
        missing = []
        while folder and folder not in made:
            missing.append(folder)
            folder = folder.rpartition("/")[0]
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another worker made it
                os.mkdir(f"{stage}/{path}")
            made.add(path)
    fd = os.open(f"{stage}/{name}", _FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def finish(stage: Path, out_dir: Path, files: dict[str, bytes], written: Iterable[str]) -> None:
    """Write the `files` not `written` yet into `stage`, then swap it in for `out_dir`. On any
    failure the staging folder goes and `out_dir` stays as it was."""
    try:
        done = set(written)
        made: set[str] = set()
        for name in sorted(files):
            if name not in done:
                write_new(str(stage), name, files[name], made)
        os.chmod(stage, 0o755)  # mkdtemp makes it 0700; web servers need to read it
        _swap(stage, out_dir.resolve())
    except BaseException:
        discard(stage)
        raise


def discard(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)


def _swap(staging: Path, out_dir: Path) -> None:
    """Put `staging` where `out_dir` is. Two renames: the old tree moves aside first, so at
    every moment one complete tree is at `out_dir` or beside it, never a half-written one."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PolicyError(
            Problem(out_dir, "the output path exists and is not a folder", "pass another --out")
        )
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, old / "tree")
    try:
        os.rename(staging, out_dir)
    except OSError:
        if old is not None:
            os.rename(old / "tree", out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_changed(
    out_dir: Path, files: dict[str, bytes], changed: Iterable[str], removed: Iterable[str]
) -> None:
    """Write the `changed` files in place (each atomically: temp file + rename) and delete
    the `removed` ones. For a preview folder; a publishing build swaps a new tree in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(changed):
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(files[name])
        os.replace(tmp, target)
    for name in sorted(removed):
        (out_dir / name).unlink(missing_ok=True)
