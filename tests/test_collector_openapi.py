"""openapi.yaml says what the server enforces, and no generated request finds it otherwise.

schemathesis runs every check it has, with valid data (which must be accepted) and invalid
data (which must be refused with a 4xx). openapi.yaml cannot know a site's policy.json, so the
run uses it specialised to the fixture site: the documents, versions, languages and categories
that policy.json lists, and the rule that an action agrees with its choices.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from pathlib import Path

import pytest
import schemathesis
import yaml
from collector_fixtures.support import NO_LIMIT, POLICY, SITE
from hypothesis import HealthCheck, settings

from policysite.collector.core import validation
from policysite.collector.core.policy import PolicyIndex, load_policy
from policysite.collector.http.asgi import create_app
from policysite.collector.http.messages import MAX_BODY
from policysite.content.config import DOCUMENT_RE, LANGUAGE_RE
from policysite.content.consent_config import CATEGORY_RE

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
CONSENT = OPENAPI["components"]["schemas"]["Consent"]
INDEX = load_policy(SITE / "policy.json")


def anchored(pattern: str) -> str:
    return f"^{pattern}$"


def test_openapi_patterns_are_the_servers_and_the_builds():
    fields = CONSENT["properties"]
    assert fields["consent_id"]["pattern"] == anchored(validation.UUID_PATTERN)
    assert fields["version"]["pattern"] == anchored(validation.DATE_PATTERN)
    assert fields["page"]["pattern"] == anchored(validation.PAGE_PATTERN)
    assert fields["banner_sha256"]["pattern"] == anchored(validation.SHA256_PATTERN)
    path_id = OPENAPI["paths"]["/api/consent/{consent_id}"]["get"]["parameters"][0]["schema"]
    assert path_id["pattern"] == anchored(validation.UUID_PATTERN)
    # A listed document, language or category passed the build's check of its name.
    assert fields["document"]["pattern"] == DOCUMENT_RE.pattern
    assert fields["language"]["pattern"] == LANGUAGE_RE.pattern
    assert fields["choices"]["propertyNames"]["pattern"] == CATEGORY_RE.pattern


def test_openapi_bounds_fields_and_enums_are_the_servers():
    fields = CONSENT["properties"]
    assert CONSENT["additionalProperties"] is False
    assert CONSENT["required"] == list(validation.REQUIRED)
    assert set(fields) == validation.FIELDS
    assert (fields["seq"]["minimum"], fields["seq"]["maximum"]) == (1, validation.MAX_SEQ)
    assert fields["page"]["maxLength"] == validation.MAX_PAGE
    assert set(fields["action"]["enum"]) == validation.ACTIONS
    assert fields["gpc"] == fields["gpc"] | {"type": "boolean"}
    assert (
        f"At most {MAX_BODY} bytes"
        in OPENAPI["paths"]["/api/consent"]["post"]["requestBody"]["description"]
    )


def test_openapi_documents_every_refusal_with_its_body():
    post = OPENAPI["paths"]["/api/consent"]["post"]["responses"]
    assert {"400", "403", "409", "413", "415", "429", "503"} <= set(post)
    get = OPENAPI["paths"]["/api/consent/{consent_id}"]["get"]["responses"]
    assert {"400", "403", "429", "503"} <= set(get)
    responses = OPENAPI["components"]["responses"]
    assert responses["MethodNotAllowed"]["headers"]["Allow"]["required"] is True
    for name in ("BadRequest", "Forbidden", "PayloadTooLarge", "UnsupportedMediaType",
                 "RequestTimeout", "MethodNotAllowed", "NotFound", "TooManyRequests",
                 "Unavailable"):  # fmt: skip
        assert responses[name]["content"]["application/json"]["schema"]["$ref"].startswith(
            "#/components/schemas/"
        ), name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("page", "/a?" + "x" * validation.MAX_PAGE),  # too long with its query string
        ("page", "/chính-sách/"),  # not percent-encoded
        ("page", "/a\tb"),
        ("page", "/a\\b"),
        ("page", "//evil.example/"),
        ("page", "/a\n"),
        ("consent_id", "0f8fad5b-d9cb-469f-a165-70867728950e\n"),
        ("version", "2026-11-24\n"),
    ],
)
def test_what_the_openapi_patterns_refuse_the_server_refuses(field, value):
    schema = CONSENT["properties"][field]
    regex = re.compile(schema["pattern"].removeprefix("^").removesuffix("$"))
    assert not (regex.fullmatch(value) and len(value) <= schema.get("maxLength", len(value)))
    with pytest.raises(validation.FieldError) as caught:
        data = {"consent_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "seq": 1,
                "document": "privacy", "version": "2026-11-24", "language": "vi",
                "choices": {"necessary": True, "analytics": True, "advertising": True},
                "action": "accept_all", field: value}  # fmt: skip
        validation.validate_consent(json.dumps(data).encode(), INDEX)
    assert caught.value.field == field


def site_schema(spec: dict, policy: PolicyIndex, origins: list[str]) -> dict:
    """openapi.yaml as the server enforces it for one policy.json: what it lists, as enums, the
    allowed origins, and (anyOf) each way an action agrees with its choices."""
    spec = copy.deepcopy(spec)
    consent = spec["components"]["schemas"]["Consent"]
    fields = consent["properties"]
    fields["document"]["enum"] = sorted(policy.versions)
    fields["version"]["enum"] = sorted(set().union(*policy.versions.values()))
    fields["language"]["enum"] = sorted(policy.languages)
    choices = fields["choices"]
    choices["required"] = list(policy.categories)
    choices["additionalProperties"] = False
    choices["properties"] = {
        c: {"const": True} if c in policy.required else {"type": "boolean"}
        for c in policy.categories
    }
    optional = [c for c in policy.categories if c not in policy.required]

    def agreeing(action: str, value: bool, keep_free: frozenset = frozenset()) -> dict:
        granted = {c: {"const": value} for c in optional if c not in keep_free}
        return {"properties": {"action": {"const": action}, "choices": {"properties": granted}}}

    under_gpc = agreeing("accept_all", True, validation.GPC_OPTS_OUT)
    under_gpc["properties"]["gpc"] = {"const": True}
    under_gpc["required"] = ["gpc"]
    without_gpc = agreeing("accept_all", True)
    without_gpc["properties"]["gpc"] = {"const": False}
    consent["anyOf"] = [
        {"properties": {"action": {"const": "custom"}}},
        agreeing("reject_all", False),
        under_gpc,
        without_gpc,
    ]
    spec["components"]["parameters"]["Origin"]["schema"]["enum"] = origins
    return spec


SCHEMA = schemathesis.openapi.from_dict(
    site_schema(OPENAPI, INDEX, POLICY["consent"]["allowed_origins"])
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("openapi") / "consents.sqlite3"
    application = create_app(str(db), SITE, settings=NO_LIMIT)
    yield application
    if application.service is not None:
        asyncio.run(application.service.close())


@SCHEMA.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_collector_passes_every_schemathesis_check_on_valid_and_invalid_data(case, app):
    response = case.call(app=app)
    assert response.status_code < 500
    case.validate_response(response)  # every check schemathesis has
