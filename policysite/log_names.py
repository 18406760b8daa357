"""The consent log's name and public key as site.toml and policy.json spell them.

Shared by the build, which checks `[consent] log_public_key` and publishes it, and by the
collector, which signs checkpoints under that name (docs/consent-log.md, "Checkpoints and the
key"). The formats are C2SP signed-note's.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# <name>+<key id, 8 lower-case hex>+<base64 of 0x01 and a 32-byte Ed25519 public key>
PUBLIC_KEY = re.compile(r"(?P<name>[^\s+]+)\+(?P<id>[0-9a-f]{8})\+(?P<key>A[A-Za-z0-9+/]{43})")


def is_valid_name(name: str) -> bool:
    """Key names are non-empty, without spaces, plus signs or control characters (C2SP)."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def log_origin(base_url: str) -> str:
    """The log's name from the site's base URL: "https://ximgo.com" → "ximgo.com/consent-log".

    A schema-less URL, as C2SP recommends for key names and origins.
    """
    parts = urlsplit(base_url)
    name = f"{parts.netloc.lower()}{parts.path.rstrip('/')}/consent-log"
    if not parts.netloc or not is_valid_name(name):
        raise ValueError(f"{base_url!r} gives no log name (no spaces or '+' allowed)")
    return name


# Where the built site keeps the banner archive (render/banner.py), which `consents verify`
# reads back from the site it is given.
BANNER_FOLDER = "consent-log/banner"
