"""The theme's gettext catalogs, compiled in memory: the build's pages and the collector's report.

Catalogs live as `.po` sources in `<theme>/locale/<lang>/LC_MESSAGES/<domain>.po` and are
compiled once per process (no `.mo` files to forget to regenerate). Domains: `messages` for
the page templates and the operator's report, `widget` for the consent banner.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import NullTranslations, Translations

from policysite.errors import PolicyError, Problem


def catalog_path(theme_dir: Path, language: str, domain: str = "messages") -> Path:
    return theme_dir / "locale" / language / "LC_MESSAGES" / f"{domain}.po"


_COMPILED: dict[tuple[Path, int], bytes] = {}  # (.po file, its mtime) -> .mo bytes


def compiled() -> dict[tuple[Path, int], bytes]:
    """The catalogs this process has compiled (policysite.build.warmup hands them over)."""
    return dict(_COMPILED)


def install_compiled(catalogs: dict[tuple[Path, int], bytes]) -> None:
    """Take catalogs another process compiled from the same files."""
    _COMPILED.update(catalogs)


def _compile(po_path: Path, mtime_ns: int) -> bytes:
    """Given a .po file, return its compiled .mo bytes (cached per file version)."""
    found = _COMPILED.get((po_path, mtime_ns))
    if found is None:
        if len(_COMPILED) > 64:  # `serve` compiles each saved version of a catalog
            _COMPILED.clear()
        found = _COMPILED[po_path, mtime_ns] = _compile_po(po_path)
    return found


def _compile_po(po_path: Path) -> bytes:
    try:
        with po_path.open("rb") as fp:
            catalog = read_po(fp, abort_invalid=True)
    except (PoFileError, UnicodeDecodeError) as e:
        raise PolicyError(
            Problem(po_path, f"cannot read the gettext catalog: {e}", "fix the .po file syntax")
        ) from e
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def load_translations(theme_dir: Path, language: str, domain: str = "messages") -> NullTranslations:
    """Return the compiled catalog for `language`, or identity translations if it has none.

    The default language may legitimately have no catalog when msgids are written in it.
    """
    po_path = catalog_path(theme_dir, language, domain)
    if not po_path.is_file():
        return NullTranslations()
    mo = _compile(po_path, po_path.stat().st_mtime_ns)
    return Translations(io.BytesIO(mo), domain=domain)
