"""The build manifest: which inputs made which output, so an unchanged build can be skipped.

Every input of a build is hashed: the content folder (sources, site.toml, versions.lock), the
theme, the widget sources, policysite's own code, the installed library versions, and the
--drafts flag. The manifest stored under the hash of all of them says what that build wrote
(sha256 of every output file), the "today" it built for and each page's context fingerprint.
When a build finds a manifest for its inputs, for the same day, and the output folder holds
exactly the files the manifest lists, it has nothing to do.

This module is imported before anything heavy (Jinja2, Markdown, Babel), so the up-to-date
check costs a few milliseconds. File contents decide; a stat record (size, mtime, ctime,
inode: what git's index keeps) only saves re-reading outputs nothing has touched since.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time
import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = 1
CODE_DIR = Path(__file__).resolve().parent
WIDGET_DIR = CODE_DIR.parent / "widget"
IGNORED = {"versions.lock.tmp"}  # written and renamed by the build itself
PRUNE_AFTER_DAYS = 7
RACY_NS = 2_000_000_000  # a stat line younger than this when recorded proves nothing


@dataclass
class Manifest:
    """What one build wrote, filed under the hash of its inputs (`key`)."""

    key: str
    today: str  # ISO date the build was made for
    timezone: str  # the site's, to tell "today" without loading the site
    pages: int
    languages: int
    outputs: dict[str, str]  # file under the output folder -> sha256
    page_keys: dict[str, str] = field(default_factory=dict)  # page file -> context fingerprint
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> sha256


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as fp:
        return hashlib.file_digest(fp, "sha256").hexdigest()


def _tree(root: Path, label: str, skip: tuple[Path, ...]) -> dict[str, str]:
    """sha256 of every file under `root` except hidden ones and the folders in `skip`."""
    found: dict[str, str] = {}
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in skip)
        for name in sorted(files):
            if name.startswith(".") or name in IGNORED:
                continue
            path = here / name
            found[f"{label}/{path.relative_to(root).as_posix()}"] = file_sha256(path)
    return found


def _libraries() -> str:
    """The installed distributions (name-version.dist-info) where our libraries live: an
    upgrade of Jinja2, Markdown or Babel can change the output."""
    names: set[str] = set()
    for entry in sys.path:
        folder = Path(entry)
        if folder.name in ("site-packages", "dist-packages") and folder.is_dir():
            names.update(n for n in os.listdir(folder) if n.endswith(".dist-info"))
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def read_inputs(
    content_dir: Path, theme_dir: Path, *, drafts: bool, skip: tuple[Path, ...] = ()
) -> dict[str, str]:
    """Return input name -> sha256 for everything a build reads. `skip`: folders to leave out
    (an output or cache folder that happens to sit inside the content folder)."""
    skip = tuple(p.resolve() for p in skip)
    inputs = _tree(content_dir.resolve(), "content", skip)
    inputs.update(_tree(theme_dir.resolve(), "theme", skip))
    inputs.update(_tree(WIDGET_DIR, "widget", skip))
    inputs.update({k: v for k, v in _tree(CODE_DIR, "code", skip).items() if k.endswith(".py")})
    inputs["python"] = hashlib.sha256(sys.version.encode()).hexdigest()
    inputs["libraries"] = _libraries()
    inputs["drafts"] = "yes" if drafts else "no"
    return inputs


def key_of(inputs: dict[str, str]) -> str:
    whole = hashlib.sha256(f"manifest {FORMAT}\n".encode())
    for name in sorted(inputs):
        whole.update(f"{name}\0{inputs[name]}\n".encode())
    return whole.hexdigest()


def today_for(manifest: Manifest, date: dt.date | None) -> dt.date:
    """The build's "today" as `build` would compute it, without loading site.toml."""
    if date is not None:
        return date
    return dt.datetime.now(zoneinfo.ZoneInfo(manifest.timezone)).date()


# --- storage ---------------------------------------------------------------------------------


def _write_json(path: Path, data: object) -> None:
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs speed
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"))
        os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _out_name(out_dir: Path) -> str:
    return hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:32]


def load(cache_dir: Path, key: str) -> Manifest | None:
    data = _read_json(cache_dir / "manifests" / f"{key}.json")
    try:
        return Manifest(**data) if data is not None else None
    except TypeError:
        return None


def last_build(cache_dir: Path, out_dir: Path) -> Manifest | None:
    """The manifest of the last build written into `out_dir`, if it is still on record."""
    record = _read_json(cache_dir / "outputs" / f"{_out_name(out_dir)}.json")
    return load(cache_dir, record["key"]) if record and isinstance(record.get("key"), str) else None


def save(cache_dir: Path, manifest: Manifest, out_dir: Path) -> None:
    """File `manifest` under its key, and record it as the last build of `out_dir` with the
    stat line of each file it wrote."""
    _write_json(cache_dir / "manifests" / f"{manifest.key}.json", asdict(manifest))
    files = {}
    for name, sha in manifest.outputs.items():
        line = _stat_line(out_dir / name)
        if line is not None:
            files[name] = [sha, *line]
    record = {"key": manifest.key, "taken_ns": time.time_ns(), "files": files}
    _write_json(cache_dir / "outputs" / f"{_out_name(out_dir)}.json", record)


def _stat_line(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _trusted(out_dir: Path, cache_dir: Path | None) -> dict[str, list]:
    """The recorded files of `out_dir` whose stat line can stand for their contents: those
    changed well before the record was taken. A file changed in the same clock tick as the
    record could change again without a new stat line, so those are re-read (git's "racy"
    rule)."""
    record = _read_json(cache_dir / "outputs" / f"{_out_name(out_dir)}.json") if cache_dir else None
    if not record or not isinstance(record.get("files"), dict):
        return {}
    limit = int(record.get("taken_ns", 0)) - RACY_NS
    return {name: line for name, line in record["files"].items() if line[3] < limit}


def listing(out_dir: Path) -> set[str]:
    """Every file under `out_dir`, as posix paths relative to it."""
    found: set[str] = set()
    for folder, _dirs, files in os.walk(out_dir):
        here = Path(folder).relative_to(out_dir)
        found.update((here / name).as_posix() for name in files)
    return found


def holds(out_dir: Path, outputs: dict[str, str], cache_dir: Path | None = None) -> bool:
    """Whether `out_dir` holds exactly the files of `outputs`, with those contents."""
    if not out_dir.is_dir() or listing(out_dir) != set(outputs):
        return False
    trusted = _trusted(out_dir, cache_dir)
    for name, sha in outputs.items():
        path = out_dir / name
        line = trusted.get(name)
        if line is not None and line[0] == sha and line[1:] == _stat_line(path):
            continue
        try:
            if file_sha256(path) != sha:
                return False
        except OSError:
            return False
    return True


def prune(cache_dir: Path, days: int = PRUNE_AFTER_DAYS) -> None:
    """Delete manifests older than `days` that no output folder's record points at."""
    keep = set()
    for record in (cache_dir / "outputs").glob("*.json"):
        data = _read_json(record)
        if data and isinstance(data.get("key"), str):
            keep.add(data["key"])
    limit = time.time() - days * 86400
    for path in (cache_dir / "manifests").glob("*.json"):
        with contextlib.suppress(OSError):
            if path.stem not in keep and path.stat().st_mtime < limit:
                path.unlink()


def up_to_date(cache_dir: Path, key: str, out_dir: Path, date: dt.date | None) -> Manifest | None:
    """The manifest that makes a build with these inputs a no-op, or None."""
    manifest = load(cache_dir, key)
    if manifest is None:
        return None
    try:
        today = today_for(manifest, date)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    if today.isoformat() != manifest.today or not holds(out_dir, manifest.outputs, cache_dir):
        return None
    if len(_trusted(out_dir, cache_dir)) < len(manifest.outputs):
        save(cache_dir, manifest, out_dir)  # checked by contents: next time, by stat line
    return manifest
