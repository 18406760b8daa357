"""Dates and language names for the pages, through Babel; the catalogs are catalogs.py's."""

from __future__ import annotations

import datetime as dt
import functools

from babel.core import Locale
from babel.dates import format_date


# The msgid of the long date's pattern in the theme's `messages` catalogs: each language's
# msgstr is a Babel (CLDR) date pattern, so the theme decides how dates read in running text
# (vi: "'ngày' d 'tháng' M 'năm' y", the legal form "ngày 24 tháng 11 năm 2026").
def N_(message: str) -> str:
    """Marks a msgid for pybabel extract (themes/default/babel.cfg) without translating it."""
    return message


LONG_DATE = N_("MMMM d, y")


# Babel parses the locale on every call; a build formats the same few hundred dates again and
# again (pages, history, feeds), so keep the results.
@functools.lru_cache(maxsize=4096)
def long_date(date: dt.date, language: str, pattern: str = "long") -> str:
    """The date in running text: `pattern` is the theme's (`gettext(LONG_DATE)`), else
    Babel's CLDR long format ("24 tháng 11, 2026" in vi, "November 24, 2026" in en)."""
    return format_date(date, pattern, locale=language)


@functools.cache
def language_name(language: str) -> str:
    """The language's own name, for the switcher: "Tiếng Việt", "English"."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]
