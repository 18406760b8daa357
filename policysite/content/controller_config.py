"""The [controller] table of site.toml → Controller: who is responsible for the personal data
and how to reach them, shown on every policy page (docs/content-model.md, "The controller").

Vietnam's Law 91/2025/QH15 on personal data protection and Decree 356/2025/ND-CP expect a
notice to name the controller and give its contact details, so the table is required and so are
its name, address and email.
"""

from __future__ import annotations

import re
from typing import Any

from policysite.content.tomlcheck import Checker
from policysite.model import Controller

CONTROLLER_KEYS = ("name", "address", "email", "phone", "dpo_email")
SECTION = "controller"
WHERE = "[controller]"

# A deliberately loose check: one "@", no spaces, a dot in the domain. It catches the typos
# an editor makes (a missing "@", a pasted "mailto:"), not every address RFC 5322 forbids.
EMAIL_RE = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().\-]{5,}[0-9]$")


def controller_settings(
    data: dict[str, Any], languages: tuple[str, ...], check: Checker
) -> Controller | None:
    """Given the parsed site.toml, return its validated [controller], or None after
    reporting every mistake to `check`."""
    table = data.get(SECTION)
    if not isinstance(table, dict):
        check.error(
            "site.toml has no [controller] table",
            "[controller] names who is responsible for personal data: add it with name, "
            'address and email = "…" (optional: phone, dpo_email); see docs/content-model.md',
        )
        return None
    check.unknown_keys(table, CONTROLLER_KEYS, WHERE)
    name = check.text(table, "name", WHERE, SECTION, languages)
    address = check.text(table, "address", WHERE, SECTION, languages)
    email = _email(table, "email", check, required=True)
    phone = _optional(
        table, "phone", PHONE_RE, "a telephone number such as '+84 24 1234 5678'", check
    )
    dpo_email = _email(table, "dpo_email", check, required=False)
    if name is None or address is None or email is None or check.problems.errors:
        return None
    return Controller(name=name, address=address, email=email, phone=phone, dpo_email=dpo_email)


def _email(table: dict[str, Any], key: str, check: Checker, *, required: bool) -> str | None:
    if required and key not in table:
        check.string(table, key, WHERE, SECTION)  # reports the missing key
        return None
    return _optional(table, key, EMAIL_RE, "an email address such as 'privacy@ximgo.com'", check)


def _optional(
    table: dict[str, Any], key: str, pattern: re.Pattern[str], what: str, check: Checker
) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value.strip()):
        check.error(
            f"{key!r} in {WHERE} must be {what}, got {value!r}",
            line=check.source.line_of(key, SECTION),
        )
        return None
    return value.strip()
