"""The build record: which inputs made which output, so an unchanged build can be skipped.

Every input of a build is hashed: the content folder (sources, site.toml, versions.lock), the
theme, the widget sources, policysite's own code, the installed library versions, the
--drafts flag. After a build, the record of its output folder says what the inputs were, what
it wrote (sha256 of every output file), the "today" it built for, the real day it locked
versions for (they differ under --date), each page's context fingerprint and the warnings it
printed. When the inputs are the same, for the same days, and the output folder holds
exactly the files the record lists, the build has nothing to do but print those warnings
again.

File contents decide. A stat line (size, mtime, ctime, inode: what git's index keeps) only
saves re-reading a file that nothing has touched since it was hashed; a file changed within
two seconds of being hashed is read again (git's "racy" rule), and ctime cannot be set back by
hand. A folder's stat line stands for its list of entries the same way.

This module is all `build` imports before it knows there is work to do, so it uses only what
Python has loaded at start-up anyway: no json, no hashlib (until a file must be hashed), no
zoneinfo (to know the real day). The record is a marshal file under the cache folder.
"""

from __future__ import annotations

import datetime as dt
import marshal
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from policysite.digests import file_sha256

FORMAT = 3
CACHE_NAME = ".policysite-cache"  # the cache folder: build records and the text pack
CODE_DIR = Path(__file__).resolve().parents[1]  # the package: policysite/
WIDGET_DIR = CODE_DIR.parent / "widget"
IGNORED = {"versions.lock.tmp"}  # written and renamed by the build itself
RACY_NS = 2_000_000_000  # a stat line younger than this when recorded proves nothing
# Our code that a build runs: all of the package but the collector, which no build imports
# (an edit to it must not make every build a full one).
NOT_BUILD_CODE = (CODE_DIR / "collector",)
LEGACY = ("manifests", "outputs", "markdown", "diff")  # cache folders of earlier formats

Line = tuple  # (sha256, size, mtime_ns, ctime_ns, inode) of a file
Record = dict[str, Any]


def _stat(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# --- inputs ----------------------------------------------------------------------------------


def _tree(
    root: str, label: str, skip: set[str], known: dict[str, Line], trust_before: int, py: bool
) -> dict[str, Line]:
    """name -> line of every file under `root` (not hidden, not under `skip`). A file whose
    stat line is the one in `known`, from before `trust_before`, keeps its recorded sha256."""
    found: dict[str, Line] = {}
    stack = [(root, label)]
    while stack:
        folder, name = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if entry.path not in skip:
                    stack.append((entry.path, f"{name}/{entry.name}"))
                continue
            if entry.name in IGNORED or (py and not entry.name.endswith(".py")):
                continue
            key = f"{name}/{entry.name}"
            line = _stat(entry.stat())
            old = known.get(key)
            if old is not None and old[1:] == line and max(line[1], line[2]) < trust_before:
                found[key] = old
            else:
                found[key] = (file_sha256(entry.path), *line)
    return found


def code_files() -> list[Path]:
    """Our code that a build runs (see NOT_BUILD_CODE), in a stable order."""
    return sorted(
        path
        for path in CODE_DIR.rglob("*.py")
        if not any(folder in path.parents for folder in NOT_BUILD_CODE)
    )


def libraries() -> str:
    """The installed distributions (name-version.dist-info) where our libraries live: an
    upgrade of Jinja2, Markdown or Babel can change the output."""
    names: set[str] = set()
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and os.path.isdir(entry):
            names.update(n for n in os.listdir(entry) if n.endswith(".dist-info"))
    return "\n".join(sorted(names))


def read_inputs(
    content_dir: Path,
    theme_dir: Path,
    *,
    drafts: bool,
    skip: tuple[Path, ...] = (),
    previous: Record | None = None,
) -> dict[str, Line]:
    """Return input name -> (sha256, stat…) for everything a build reads. `skip`: folders to
    leave out (an output or cache folder inside the content folder). `previous`: the last
    record, whose sha256s stand for files that have not been touched since."""
    known = previous["inputs"] if previous else {}
    trust = previous["inputs_ns"] - RACY_NS if previous else 0
    skipped = {str(p.resolve()) for p in skip}
    code_skipped = skipped | {str(p) for p in NOT_BUILD_CODE}
    inputs: dict[str, Line] = {}
    for root, label, py in (
        (content_dir, "content", False),
        (theme_dir, "theme", False),
        (WIDGET_DIR, "widget", False),
        (CODE_DIR, "code", True),
    ):
        folders = code_skipped if label == "code" else skipped
        inputs.update(_tree(str(Path(root).resolve()), label, folders, known, trust, py))
    inputs["python"] = (sys.version,)
    inputs["libraries"] = (libraries(),)
    inputs["drafts"] = ("yes" if drafts else "no",)
    return inputs


def same_inputs(a: dict[str, Line], b: dict[str, Line]) -> bool:
    """Whether two input lists name the same files with the same contents."""
    return a.keys() == b.keys() and all(a[name][0] == b[name][0] for name in a)


# --- the record of an output folder ------------------------------------------------------------


def _record_path(cache_dir: Path, out_dir: Path) -> tuple[Path, str]:
    out = str(out_dir.resolve())
    return cache_dir / "builds" / f"{zlib.crc32(out.encode()):08x}.rec", out


def last_build(cache_dir: Path, out_dir: Path) -> Record | None:
    """The record of the last build written into `out_dir`, if there is a usable one."""
    path, out = _record_path(cache_dir, out_dir)
    try:
        record = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    ok = isinstance(record, dict) and record.get("format") == FORMAT and record.get("out") == out
    return record if ok else None


def _write(path: Path, data: object) -> None:
    import tempfile

    try:  # a cache that cannot be written only costs speed
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(marshal.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def _output_lines(out_dir: Path, outputs: dict[str, str]) -> tuple[dict, dict] | None:
    """Stat lines of every output file and folder (None if one is missing)."""
    root = str(out_dir)
    files, folders = {}, {}
    try:
        for name, sha in outputs.items():
            files[name] = (sha, *_stat(os.stat(f"{root}/{name}")))
            folder = name.rpartition("/")[0]
            while folder not in folders:
                folders[folder] = _stat(os.stat(f"{root}/{folder}" if folder else root))[1:]
                folder = folder.rpartition("/")[0]
    except OSError:
        return None
    return files, folders


def save(
    cache_dir: Path,
    out_dir: Path,
    *,
    inputs: dict[str, Line],
    inputs_ns: int,
    today: str,
    real_today: str,
    timezone: str,
    pages: int,
    languages: int,
    outputs: dict[str, str],
    page_keys: dict[str, str],
    warnings: list[str],
) -> None:
    """Record what a build wrote into `out_dir` from `inputs` (read at `inputs_ns`).
    `real_today`: the day whose versions it locked; `warnings`: what it printed."""
    path, out = _record_path(cache_dir, out_dir)
    lines = _output_lines(out_dir, outputs)
    if lines is None:
        path.unlink(missing_ok=True)
        return
    files, folders = lines
    record = {
        "format": FORMAT,
        "out": out,
        "inputs": inputs,
        "inputs_ns": inputs_ns,
        "today": today,
        "real_today": real_today,
        "timezone": timezone,
        "pages": pages,
        "languages": languages,
        "outputs": files,
        "folders": folders,
        "page_keys": page_keys,
        "warnings": warnings,
        "taken_ns": time.time_ns(),
    }
    _write(path, record)
    for name in LEGACY:
        if (cache_dir / name).is_dir():
            import shutil

            shutil.rmtree(cache_dir / name, ignore_errors=True)


def outputs_of(record: Record) -> dict[str, str]:
    """Output file -> sha256, as the record lists them."""
    return {name: line[0] for name, line in record["outputs"].items()}


# --- is the output folder what the record says? ------------------------------------------------


def listing(out_dir: Path) -> set[str]:
    """Every file under `out_dir`, as posix paths relative to it."""
    found: set[str] = set()
    stack = [(str(out_dir), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                name = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{name}/"))
                else:
                    found.add(name)
    return found


def _folders_unchanged(out_dir: Path, record: Record, trust_before: int) -> bool:
    """Whether no file was added to or removed from any output folder since the record:
    each folder's stat line changes when its entries do."""
    root = str(out_dir)
    for folder, line in record["folders"].items():
        try:
            now = _stat(os.stat(f"{root}/{folder}" if folder else root))[1:]
        except OSError:
            return False
        if now != tuple(line) or max(now[0], now[1]) >= trust_before:
            return False
    return True


def holds(out_dir: Path, record: Record) -> tuple[bool, bool]:
    """Whether `out_dir` holds exactly the recorded files with their contents; and whether
    that was proved by stat lines alone (otherwise the record should be taken again)."""
    if not out_dir.is_dir():
        return False, False
    trust = record["taken_ns"] - RACY_NS
    by_stat = _folders_unchanged(out_dir, record, trust)
    if not by_stat and listing(out_dir) != record["outputs"].keys():
        return False, False
    root = str(out_dir)
    for name, line in record["outputs"].items():
        path = f"{root}/{name}"
        try:
            now = _stat(os.stat(path))
        except OSError:
            return False, False
        if now == tuple(line[1:]) and max(now[1], now[2]) < trust:
            continue
        by_stat = False
        try:
            if file_sha256(path) != line[0]:
                return False, False
        except OSError:
            return False, False
    return True, by_stat


def today_for(record: Record, date: dt.date | None) -> dt.date | None:
    """The build's "today" as `build` would compute it, without loading site.toml."""
    if date is not None:
        return date
    import zoneinfo

    try:
        return dt.datetime.now(zoneinfo.ZoneInfo(record["timezone"])).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def up_to_date(
    cache_dir: Path,
    out_dir: Path,
    record: Record,
    inputs: dict[str, Line],
    inputs_ns: int,
    date: dt.date | None,
) -> bool:
    """Whether a build with these inputs (read from `inputs_ns` on) would write exactly what
    `out_dir` holds, and lock the same versions: a `--date` build on a later real day may
    have a version to lock that took effect in between."""
    real = today_for(record, None)
    today = real if date is None else date
    if real is None or real.isoformat() != record["real_today"]:
        return False
    if today.isoformat() != record["today"]:
        return False
    if not same_inputs(inputs, record["inputs"]):
        return False
    same, by_stat = holds(out_dir, record)
    if same and not by_stat:  # checked by contents: next time, by stat lines
        save(
            cache_dir,
            out_dir,
            inputs=inputs,
            inputs_ns=inputs_ns,
            today=record["today"],
            real_today=record["real_today"],
            timezone=record["timezone"],
            pages=record["pages"],
            languages=record["languages"],
            outputs=outputs_of(record),
            page_keys=record["page_keys"],
            warnings=record["warnings"],
        )
    return same
