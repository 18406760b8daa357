"""Build the consent widget: widget/ sources + site config + catalogs → consent.js, consent.css.

STUB until the widget lands: returns the sources as they are, so the build can call it.
"""

from __future__ import annotations

from pathlib import Path

from policysite.model import Site

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"


def build_widget(site: Site, theme_dir: Path) -> dict[str, bytes]:
    """Return {"consent.js": …, "consent.css": …}, ready to write at the root of dist/."""
    return {
        name: (WIDGET_DIR / name).read_bytes() if (WIDGET_DIR / name).exists() else b""
        for name in ("consent.js", "consent.css")
    }
