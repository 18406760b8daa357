"""Build the consent widget: widget/ sources + site config + catalogs → consent.js, .css.

docs/widget.md describes the widget; this module only builds it.

The readable source marks every visible string as `_("…")`, with the Vietnamese text as msgid.
Babel's JavaScript extractor finds those marks (themes/default/babel.cfg), so the theme's
`widget` catalogs are the one source of the strings. The build turns each mark into `S[i]`, an
index into the string table of the visitor's language, and bakes the site's config in place
of `__CONFIG__`: one file serves every language and the widget makes no request to start.
It reads widget/consent.min.js, the source as terser minified it (widget/minify.sh), so
that building a site needs no Node.js.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import rcssmin
from babel.support import NullTranslations

from policysite.catalogs import catalog_path, load_translations
from policysite.errors import Problem, ProblemCollector
from policysite.model import Category, Site
from policysite.render import urls
from policysite.render.banner import banner_archive, banner_archive_path

WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"
CONFIG_TOKEN = "__CONFIG__"
# A msgid is a plain double-quoted string: write quotes inside it as “ ”, never as \".
MARK = re.compile(r'_\("([^"\\]*)"\)')


class _Untranslated(NullTranslations):
    """Fallback that answers None, so a missing msgid is told apart from a translation."""

    def gettext(self, message: str) -> Any:
        return None


def build_widget(site: Site, theme_dir: Path) -> tuple[dict[str, bytes], str]:
    """Return ({"consent.js": …, "consent.css": …, the banner archive: …}, the banner's
    sha256): the widget minified, ready to write at the root of dist/ (banner.py)."""
    # Minified already (widget/minify.sh): comments are gone, so only real marks remain.
    js = (WIDGET_DIR / "consent.min.js").read_text(encoding="utf-8").rstrip("\n")
    css = rcssmin.cssmin((WIDGET_DIR / "consent.css").read_text(encoding="utf-8"))
    msgids = marked_strings(js)
    config = widget_config(site, theme_dir, msgids)
    archive, banner = banner_archive(config["text"], msgids)
    config["banner"] = banner  # sent with each decision: the leaf commits to what was shown
    js = MARK.sub(lambda m: f"S[{msgids.index(m.group(1))}]", js)
    js = js.replace(CONFIG_TOKEN, json.dumps(config, ensure_ascii=False, separators=(",", ":")))
    files = {"consent.js": js.encode("utf-8"), "consent.css": css.encode("utf-8")}
    files[banner_archive_path(banner)] = archive
    return files, banner


def marked_strings(js: str) -> list[str]:
    """Given the widget's minified code, return its msgids once each, in order of first use."""
    return list(dict.fromkeys(MARK.findall(js)))


def widget_config(site: Site, theme_dir: Path, msgids: list[str]) -> dict[str, Any]:
    """The config consent.js reads as `C`: what to ask about, where to send it, and the strings."""
    config = site.config
    consent = config.consent
    problems = ProblemCollector()
    version = site.in_force(consent.document)
    if version is None:
        problems.error(
            config.path,
            f"no version of {consent.document!r} is in force on {site.today.isoformat()}, "
            "so visitors would have nothing to consent to",
            "publish a version dated on or before that day, or build with a later --date",
        )
    text = {
        language: {
            "strings": _strings(
                theme_dir, language, language == config.default_language, msgids, problems
            ),
            "policy": urls.document_path(config, consent.document, language),
            "categories": [
                _category(c, language, config.default_language) for c in consent.categories
            ],
        }
        for language in config.languages
    }
    problems.raise_if_errors()
    assert version is not None  # raise_if_errors() stopped us otherwise
    return {
        "document": consent.document,
        "version": version.date.isoformat(),
        "reconsent": _last_reconsent(site),
        "cookie": consent.cookie_name,
        "days": consent.remember_days,
        "url": consent.collector_url,
        "reload": int(consent.reload_on_revoke),
        "domain": consent.cookie_domain or "",
        "lang": config.default_language,
        "text": text,
    }


def _last_reconsent(site: Site) -> str:
    """The newest version in force or past that asks visitors again ("" if none does).

    A choice made for an older version is stale even when later, minor versions followed.
    """
    document = site.documents[site.config.consent.document]
    dates = [v.date for v in document.versions if v.reconsent and v.date <= site.today]
    return max(dates).isoformat() if dates else ""


def _category(category: Category, language: str, default: str) -> list[Any]:
    """[id, required, name, purpose, [[cookie, provider, purpose, lifetime], …]] in `language`.

    A cookie without text in `language` shows the default language's, which prevails anyway.
    """
    cookies = [
        [
            c.name,
            c.provider,
            c.purpose.get(language) or c.purpose.get(default, ""),
            c.lifetime.get(language) or c.lifetime.get(default, ""),
        ]
        for c in category.cookies
    ]
    name = category.name.get(language) or category.name.get(default, category.id)
    purpose = category.purpose.get(language) or category.purpose.get(default, "")
    return [category.id, int(category.required), name, purpose, cookies]


def _strings(
    theme_dir: Path, language: str, is_default: bool, msgids: list[str], problems: ProblemCollector
) -> list[str]:
    """Translate `msgids` with the `widget` catalog; the default language may use the msgid."""
    translations = load_translations(theme_dir, language, "widget")
    translations.add_fallback(_Untranslated())
    strings = []
    for msgid in msgids:
        text = translations.gettext(msgid)
        if text is None and not is_default:
            problems.add(
                Problem(
                    catalog_path(theme_dir, language, "widget"),
                    f"the consent widget's string {msgid!r} has no {language} translation",
                    "add it to that catalog (msgid/msgstr), then build again",
                )
            )
        strings.append(text or msgid)
    return strings
