"""`new-version <document> --effective YYYY-MM-DD`: start the next version of a document.

Published versions are immutable, so every change starts here. The new files copy the latest
version's text in every language, as a draft with an empty summary: `serve` previews it at once,
`check` reminds the editor to write the summary, and `build` refuses to publish it without one.
Translations keep their `source_sha256`: the new Vietnamese text starts identical to the old
one, so a translation that was up to date stays so until the Vietnamese text is edited.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from policysite.content.sources import load_site
from policysite.content.tomlcheck import expected
from policysite.errors import PolicyError, Problem
from policysite.model import Source


def new_version(content_dir: Path, document: str, effective: dt.date) -> list[Path]:
    """Create `<effective>.<lang>.md` for every language that has a text; return their paths."""
    site = load_site(content_dir, drafts=True)
    documents = site.documents
    if document not in documents:
        raise PolicyError(
            Problem(
                content_dir / document,
                f"unknown document. {expected(sorted(documents), document)}",
                f"documents are the [documents.<id>] tables of {site.config.path}",
            )
        )
    versions = documents[document].versions
    folder = content_dir / document
    existing = sorted(folder.glob(f"{effective.isoformat()}.*.md"))
    if existing:
        raise PolicyError(
            Problem(
                existing[0],
                f"version {effective} of {document!r} already exists",
                "edit that file, or choose another --effective date",
            )
        )
    if not versions:
        raise PolicyError(
            Problem(
                folder,
                f"document {document!r} has no version to start from",
                f"write the first version by hand: "
                f"{folder}/YYYY-MM-DD.{site.config.default_language}.md",
            )
        )
    latest = versions[-1]
    if effective <= latest.date:
        raise PolicyError(
            Problem(
                folder,
                f"--effective {effective} is not after the latest version of {document!r}, "
                f"{latest.date}",
                f"choose a date after {latest.date}: each version takes effect after the "
                "previous one",
            )
        )
    created: list[Path] = []
    for language in site.config.languages:
        base = next(
            (v.sources[language] for v in reversed(versions) if language in v.sources), None
        )
        if base is None:
            continue
        path = folder / f"{effective.isoformat()}.{language}.md"
        with path.open("x", encoding="utf-8", newline="\n") as fp:
            fp.write(_text(base, latest.date, site.config.default_language))
        created.append(path)
    return created


def _text(base: Source, previous: dt.date, default_language: str) -> str:
    """Front matter ready to edit, then the base text unchanged."""
    lines = [
        "---",
        f"title: {_quote(base.title)}",
        f"# TODO: say in one sentence what changed since {previous}; build refuses an empty one.",
        'summary: ""',
        "# true if the change is material: visitors who consented before are asked again.",
        "reconsent: false",
        "# Delete this line to publish the version on its effective date.",
        "draft: true",
    ]
    if base.language != default_language and base.source_sha256:
        lines += [
            f"# The {default_language} text this translates; `check` says when it is stale.",
            f"source_sha256: {base.source_sha256}",
        ]
    return "\n".join([*lines, "---"]) + "\n" + base.body


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML), keeping Vietnamese letters."""
    return json.dumps(text, ensure_ascii=False)
