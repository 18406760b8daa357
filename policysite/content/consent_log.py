"""content/consent-log/: the consent log's checkpoints the site publishes (docs/consent-log.md,
"Publishing checkpoints"), and the banner archive's earlier versions (banner/).

An operator saves checkpoints here (`consents checkpoint -o content/consent-log/<size>.txt`)
and commits them; the build copies them unchanged into dist/consent-log/, so the site's git
history and the CDN keep copies the operator cannot rewrite later. Each file must be a
checkpoint of this site's log: its first line the log's name (from base_url), its second a
tree size. The signature is checked by `consents verify --published`, which has the key.

content/consent-log/banner/ keeps the banner texts of earlier builds (render/banner.py): each
file named by the sha256 of its bytes, published again in dist/consent-log/banner/, so that
every banner a record names stays archived after the texts change.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from policysite.errors import ProblemCollector
from policysite.log_names import log_origin
from policysite.model import SiteConfig

FOLDER = "consent-log"
MAX_BYTES = 64 * 1024  # a checkpoint is a few hundred bytes; anything this big is a mistake
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SIZE = re.compile(r"0|[1-9][0-9]*")
BANNERS = "banner"
_BANNER = re.compile(r"[0-9a-f]{64}\.json")


def published_checkpoints(
    content_dir: Path, config: SiteConfig, problems: ProblemCollector
) -> tuple[tuple[str, bytes], ...]:
    """(name under dist/consent-log/, bytes) for each checkpoint file, problems reported."""
    folder = content_dir / FOLDER
    if not folder.is_dir():
        return ()
    try:
        origin = log_origin(config.base_url) if config.base_url else None
    except ValueError:
        origin = None
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.name == BANNERS and path.is_dir():
            found += _banners(path, problems)
            continue
        data = _checkpoint(path, origin, problems)
        if data is not None:
            found.append((path.name, data))
    return tuple(found)


def _banners(folder: Path, problems: ProblemCollector) -> list[tuple[str, bytes]]:
    """Each archived banner, checked: named by the sha256 of its bytes."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        data = path.read_bytes() if path.is_file() else b""
        if not _BANNER.fullmatch(path.name) or hashlib.sha256(data).hexdigest() != path.stem:
            problems.error(
                path,
                "not an archived banner: the file's name must be the sha256 of its bytes",
                "copy it unchanged from a build's dist/consent-log/banner/",
            )
            continue
        found.append((f"{BANNERS}/{path.name}", data))
    return found


def _checkpoint(path: Path, origin: str | None, problems: ProblemCollector) -> bytes | None:
    hint = "keep only checkpoints the collector wrote (consents checkpoint -o FILE) here"
    if not path.is_file() or not _NAME.fullmatch(path.name):
        problems.error(path, "not a checkpoint file name (letters, digits, '.', '_', '-')", hint)
        return None
    data = path.read_bytes()
    lines = data[:MAX_BYTES].decode("utf-8", "replace").split("\n")
    if len(data) > MAX_BYTES or len(lines) < 4 or not _SIZE.fullmatch(lines[1]):
        problems.error(path, "not a signed checkpoint (origin, tree size, root, signature)", hint)
        return None
    if origin is not None and lines[0] != origin:
        problems.error(
            path,
            f"a checkpoint of the log {lines[0]!r}, not of this site's log {origin!r}",
            hint,
            line=1,
        )
        return None
    return data
