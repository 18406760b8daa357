"""The banner archive: what a visitor was shown, kept where the consent log can point to it.

The build writes the widget's texts in every language (each string, each category with its
cookies' providers, purposes and lifetimes, the policy link) as one JSON file,
dist/consent-log/banner/<sha256>.json, named by the sha256 of its bytes. The widget sends
that sha256 with each decision, the collector's leaf commits to it, and `consents verify`
reports records whose banner is not archived (docs/consent-log.md, "The banner archive").
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from policysite.log_names import BANNER_FOLDER

FORMAT = "policysite-banner/1"


def banner_archive_path(sha256: str) -> str:
    """The archive file's path under dist/."""
    return f"{BANNER_FOLDER}/{sha256}.json"


def banner_archive(text: dict[str, dict[str, Any]], msgids: list[str]) -> tuple[bytes, str]:
    """The archive file of the widget's `text` (widget_config's, by language) and its sha256.

    Strings are given by their msgid (the Vietnamese text), so the file reads without the
    widget's code; keys are sorted, so equal texts give equal bytes and one name.
    """
    languages = {
        language: {
            "strings": dict(zip(msgids, entry["strings"], strict=True)),
            "policy": entry["policy"],
            "categories": [
                {
                    "id": category_id,
                    "required": bool(required),
                    "name": name,
                    "purpose": purpose,
                    "cookies": [
                        {"name": n, "provider": p, "purpose": purpose, "lifetime": lifetime}
                        for n, p, purpose, lifetime in cookies
                    ],
                }
                for category_id, required, name, purpose, cookies in entry["categories"]
            ],
        }
        for language, entry in text.items()
    }
    document = {"format": FORMAT, "languages": languages}
    data = (json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()
    return data, hashlib.sha256(data).hexdigest()
