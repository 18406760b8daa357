"""Strict validation of a consent body: bytes in, a `Consent` or a `FieldError` out.

The fields are openapi.yaml's; docs/collector.md, *What a body must say*, adds two rules.

Nothing here knows HTTP. Every rejection names the offending field, so a widget bug shows up as
a precise 400 instead of a silently stored, unprovable record.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from policysite.collector.core.policy import PolicyIndex
from policysite.collector.core.record import canonical_choices

ACTIONS = frozenset({"accept_all", "reject_all", "custom"})
REQUIRED = ("consent_id", "seq", "document", "version", "language", "choices", "action")
OPTIONAL = ("gpc", "page", "banner_sha256")
FIELDS = frozenset(REQUIRED + OPTIONAL)
MAX_SEQ = 2**53 - 1  # JavaScript's largest safe integer: what the widget can count to
MAX_PAGE = 1024
# What Global Privacy Control opts out of: under GPC the widget's "accept all" leaves these
# off (docs/widget.md), so accept_all with gpc true may carry them false. The one place for it.
GPC_OPTS_OUT = frozenset({"advertising"})
CANONICAL_CACHE = 1024  # distinct valid choices kept with their canonical JSON

_REQUIRED = frozenset(REQUIRED)
# The patterns are openapi.yaml's, character for character (tests/test_collector_openapi.py).
# A random (version 4, RFC 9562 variant) UUID: the nil UUID and other versions (v1 is the
# time and a MAC address, so guessable) are refused, since the id is a browser's only key to
# its records (docs/collector.md).
UUID_PATTERN = (
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
# `page` is location.pathname, which browsers send percent-encoded: printable ASCII without
# spaces. A backslash in the path is refused (browsers read it as "/", so "/\evil.example"
# is another host), and so is "//" at its start; a query string or fragment is removed.
PAGE_PATTERN = r"/(?:[!-.0-\[\]-~][!-\[\]-~]*)?(?:[?#][!-~]*)?"
SHA256_PATTERN = "[0-9a-f]{64}"
_UUID = re.compile(UUID_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_PAGE = re.compile(PAGE_PATTERN)
_SHA256 = re.compile(SHA256_PATTERN)


class FieldError(ValueError):
    """The body is not a valid consent; `field` names what is wrong (None: the whole body)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Consent(NamedTuple):
    """A validated consent, as the browser chose it, plus the sha256 of the text consented to."""

    consent_id: str  # lower-case
    seq: int
    document: str
    version: str
    language: str
    choices: dict[str, bool]
    action: str
    gpc: bool | None
    page: str | None  # path only: query string and fragment removed
    policy_sha256: str
    choices_json: str  # canonical_choices(choices), as stored
    banner_sha256: str | None = None  # of the banner texts shown (the widget's build)


def _reject_constant(name: str) -> None:
    raise FieldError(None, f"body is not valid JSON: {name} is not allowed")


class _Duplicated(dict):
    """An object that named a key twice; validation rejects it where it knows the field's path."""

    duplicate: str


def _object(pairs: list[tuple[str, object]]) -> dict:
    """Build a JSON object, marking one with a repeated key (json keeps the last silently)."""
    data = dict(pairs)
    if len(data) == len(pairs):
        return data
    marked = _Duplicated(data)
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            marked.duplicate = name
            break
        seen.add(name)
    return marked


def _reject_duplicate(data: _Duplicated, prefix: str = "") -> None:
    raise FieldError(f"{prefix}{data.duplicate}", "appears twice in the body: send each key once")


# One decoder for every request: json.loads(..., parse_constant=...) builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_object)
_canonical: dict[tuple, str] = {}  # choices.items() (validated) -> canonical_choices(choices)


def parse_consent_id(value: object, field: str = "consent_id") -> str:
    """Given a candidate id, return it lower-cased, or raise FieldError."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise FieldError(
            field, "must be a random (version 4) UUID like 0f8fad5b-d9cb-469f-a165-70867728950e"
        )
    return value.lower()


def validate_consent(body: bytes, policy: PolicyIndex) -> Consent:
    """Given a request body, return the consent it carries, or raise FieldError."""
    data = _decode(body)
    if type(data) is not dict:
        if type(data) is _Duplicated:
            _reject_duplicate(data)
        raise FieldError(None, "body must be a JSON object")
    names = data.keys()
    if not names <= FIELDS:  # the loops only run to name the culprit
        for name in data:
            if name not in FIELDS:
                raise FieldError(
                    name, f"unknown field; expected only {', '.join(REQUIRED + OPTIONAL)}"
                )
    if not names >= _REQUIRED:
        for name in REQUIRED:
            if name not in data:
                raise FieldError(name, "is required")
    consent_id = parse_consent_id(data["consent_id"])
    seq = data["seq"]
    if type(seq) is float and seq.is_integer():  # 7.0 is the number 7 (JSON, JSON Schema)
        seq = int(seq)
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise FieldError("seq", f"must be an integer from 1 to {MAX_SEQ}")
    document, version, language = data["document"], data["version"], data["language"]
    key = (document, version, language)
    try:  # only a tuple of three strings can be listed
        sha256 = policy.texts.get(key)
    except TypeError:  # a list or an object among them
        sha256 = None
    if sha256 is None:
        _explain_unlisted(document, version, language, policy)
    action = data["action"]
    if type(action) is not str or action not in ACTIONS:
        raise FieldError("action", "must be one of accept_all, reject_all, custom")
    gpc = data.get("gpc")
    if "gpc" in data and type(gpc) is not bool:
        raise FieldError("gpc", "must be true or false (or left out)")
    page = _page(data["page"]) if "page" in data else None
    banner = data.get("banner_sha256")
    if "banner_sha256" in data and (type(banner) is not str or not _SHA256.fullmatch(banner)):
        raise FieldError("banner_sha256", "must be 64 lower-case hex digits (or left out)")
    choices = data["choices"]
    choices_json = _choices(choices, policy)
    if action != "custom":
        _check_action(action, choices, gpc, policy)
    return Consent(
        consent_id,
        seq,
        document,
        version,
        language,
        choices,
        action,
        gpc,
        page,
        sha256,
        choices_json,
        banner,
    )


def _decode(body: bytes) -> object:
    """The JSON value of the body, or FieldError."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError(None, "body is not UTF-8") from None
    if text[:1] == "{" and text[-1:] == "}":  # the widget's form: skip decode()'s wrapping
        try:
            data, end = _DECODER.scan_once(text, 0)
        except FieldError:
            raise
        except (ValueError, StopIteration, RecursionError):
            pass  # decode() below says what is wrong, in its own words
        else:
            if end == len(text):
                return data
    try:
        return _DECODER.decode(text)
    except FieldError:
        raise
    except (ValueError, RecursionError) as error:
        raise FieldError(None, f"body is not valid JSON: {error}") from None


def _explain_unlisted(document: object, version: object, language: object, p: PolicyIndex) -> None:
    """Raise the FieldError that says which of (document, version, language) is not listed."""
    if not isinstance(document, str) or document not in p.versions:
        raise FieldError("document", f"unknown document; policy.json lists {_list(p.versions)}")
    if not isinstance(version, str) or not _DATE.fullmatch(version):
        raise FieldError("version", "must be a date as YYYY-MM-DD")
    if version not in p.versions[document]:
        raise FieldError("version", f"{document} has no version {version} in policy.json")
    raise FieldError("language", f"unknown language; policy.json lists {_list(p.languages)}")


def _list(names: object) -> str:
    return ", ".join(sorted(names))  # type: ignore[call-overload]


def _choices(value: object, policy: PolicyIndex) -> str:
    """Check {category: bool} against the policy; return its canonical JSON text."""
    if not isinstance(value, dict):
        raise FieldError("choices", "must be an object {category: true|false}")
    if type(value) is _Duplicated:
        _reject_duplicate(value, "choices.")
    for category, granted in value.items():
        if category not in policy.categories:
            raise FieldError(
                f"choices.{category}", f"unknown category; expected {', '.join(policy.categories)}"
            )
        if type(granted) is not bool:
            raise FieldError(f"choices.{category}", "must be true or false")
    for category in policy.categories:
        if category not in value:
            raise FieldError(f"choices.{category}", "is required: send every category")
        if category in policy.required and not value[category]:
            raise FieldError(f"choices.{category}", "is always on: must be true")
    # The values are bools now (1 == True would otherwise share a key), so items() is a key.
    key = tuple(value.items())
    text = _canonical.get(key)
    if text is None:
        text = canonical_choices(value)
        if len(_canonical) < CANONICAL_CACHE:
            _canonical[key] = text
    return text


def _check_action(action: str, choices: dict[str, bool], gpc: bool | None, p: PolicyIndex) -> None:
    """accept_all grants and reject_all refuses every optional category; GPC may keep some off."""
    granted = action == "accept_all"
    for category, value in choices.items():
        if value is granted or category in p.required:
            continue
        if granted and gpc is True and category in GPC_OPTS_OUT:
            continue
        raise FieldError(
            "action",
            f"{action} contradicts choices.{category}: {'true' if value else 'false'};"
            " send action custom for a mixed choice",
        )


def _page(value: object) -> str:
    """Return the path of `page` with its query string and fragment removed."""
    if not isinstance(value, str) or len(value) > MAX_PAGE or not _PAGE.fullmatch(value):
        raise FieldError(
            "page",
            f"must be a path like /chinh-sach-bao-mat/ (at most {MAX_PAGE} characters of"
            " printable ASCII, percent-encoded as location.pathname gives it)",
        )
    return value.split("#", 1)[0].split("?", 1)[0]
