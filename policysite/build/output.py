"""Writing the output folder: a fresh staging folder swapped in, or files in place.

docs/build-output.md says what an operator sees of it.

`build` writes a whole new tree next to dist/ and swaps it in at the end, so a failed build
leaves the previous dist/ as it was. On Linux the swap is one renameat2(RENAME_EXCHANGE): dist/
is the old tree until that call and the new one after it, never missing. Elsewhere (or on a
file system without it) two renames: for that instant dist/ does not exist.

Replacing a folder deletes what was there, so `check_out_dir` first refuses any --out that is
not a previous build's output (a folder holding `policy.json`, which every build writes) or
a new or empty folder: the working folder, content/, themes/, a git checkout.

The render workers write their pages into that staging folder themselves
(policysite.build.incremental), so writing ~600 files is spread over the cores like rendering them.
`serve` instead rewrites the changed files of its preview in place, each atomically.

Writing is a few syscalls per file (mkdir once per folder, open/write/close): on a fresh
folder there is nothing to check first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from policysite.errors import PolicyError, Problem

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
BUILT_MARKER = "policy.json"  # every build writes it at the top of its output
AT_FDCWD = -100  # Linux: paths relative to the working folder
RENAME_EXCHANGE = 2


def check_out_dir(out_dir: Path, protected: tuple[Path, ...] = ()) -> None:
    """Refuse an output folder whose replacement would delete someone's files: the working
    folder or one of its parents, a folder that is, holds or sits inside one of `protected`
    (the content and theme folders), a git checkout, or a non-empty folder no build made."""
    out = out_dir.resolve()
    here = Path.cwd().resolve()
    if out == here or out in here.parents:
        _refuse(out_dir, "is the folder you run the command from, or one of its parents")
    for folder in protected:
        inner = folder.resolve()
        if out == inner or inner in out.parents or out in inner.parents:
            _refuse(out_dir, f"is, holds or sits inside {folder}, which the build reads")
    if (out / ".git").exists():
        _refuse(out_dir, "holds a git repository (.git)")
    if out.exists() and not out.is_dir():
        _refuse(out_dir, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / BUILT_MARKER).is_file():
        _refuse(out_dir, "is not a folder policysite built (it has no policy.json)")


def _refuse(out_dir: Path, why: str) -> None:
    raise PolicyError(
        Problem(
            out_dir,
            f"refusing to use this as the output folder: it {why}; the build replaces the "
            "whole folder",
            "pass a new or empty folder with --out (for example --out dist)",
        )
    )


def new_stage(out_dir: Path) -> Path:
    """Make an empty staging folder beside `out_dir` (same file system: the swap renames),
    after `check_out_dir`: nothing is written for an output folder that will be refused."""
    check_out_dir(out_dir)
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


def exchange(a: Path, b: Path) -> bool:
    """Swap the trees at `a` and `b` in one atomic renameat2(RENAME_EXCHANGE). Return False,
    having done nothing, where the call does not exist (not Linux, old glibc or kernel: ENOSYS)
    or the file system does not support it (EINVAL)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # only here: a no-change build never swaps

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _swap(staging: Path, out_dir: Path, *, atomic: bool = True) -> None:
    """Put `staging` where `out_dir` is and delete the old tree. With an old tree there, one
    atomic exchange when the system has it (`atomic`); otherwise the old tree is renamed aside,
    then `staging` renamed in (between the two, `out_dir` does not exist; if the second fails
    the old tree is renamed back). Either way `out_dir` never holds a half-written tree."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PolicyError(
            Problem(out_dir, "the output path exists and is not a folder", "pass another --out")
        )
    if out_dir.exists() and atomic and exchange(staging, out_dir):
        shutil.rmtree(staging, ignore_errors=True)  # now the old tree
        return
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
