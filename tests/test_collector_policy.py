"""policy.json as the collector reads it: the documented format, the real build's output,
clear refusals for a broken file, and reloading when the site is rebuilt."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from collector_fixtures.support import (
    SHA_EN,
    SHA_NEXT_VI,
    SHA_VI,
    SITE,
    Collector,
    body,
    write_policy,
)

from policysite.collector.core.policy import PolicySource, load_policy
from policysite.collector.core.validation import validate_consent
from policysite.errors import PolicyError

ROOT = Path(__file__).resolve().parent.parent


def test_load_policy_indexes_documents_versions_languages_and_texts():
    index = load_policy(SITE / "policy.json")
    assert index.categories == ("necessary", "analytics", "advertising")
    assert index.required == {"necessary"}
    assert index.allowed_origins == {"https://ximgo.com", "https://www.ximgo.com"}
    assert index.texts == {
        ("privacy", "2026-11-24", "vi"): SHA_VI,
        ("privacy", "2026-11-24", "en"): SHA_EN,
        ("privacy", "2027-01-01", "vi"): SHA_NEXT_VI,
        ("privacy", "2027-01-01", "en"): SHA_NEXT_VI,  # the translation lags: vi prevails
    }


def test_load_policy_refuses_a_missing_file_with_what_to_do(tmp_path):
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "policy.json")
    assert str(caught.value) == (
        f"{tmp_path / 'policy.json'}: error: policy.json not found: the collector checks every "
        "consent against it\n  → build the site first (python build.py build) or pass --site "
        "<built site>"
    )


def test_load_policy_refuses_invalid_json_naming_the_line(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text('{\n  "site": {\n  oops\n}', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    [problem] = caught.value.problems
    assert problem.line == 3 and "not valid JSON" in problem.message


def test_load_policy_reports_every_shape_problem_at_once(tmp_path):
    def break_it(data: dict) -> None:
        data["site"]["languages"] = "vi"
        data["consent"]["categories"] = [{"required": True}]
        del data["documents"]["privacy"]["versions"][0]["languages"]["vi"]

    path = write_policy(tmp_path, break_it)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        'site.languages: expected a list, found "vi"',
        "site.default_language 'vi' is not in site.languages",
        "consent.categories[].id: expected a string, found null",
        "documents.privacy 2026-11-24: no sha256 for the default language",
    ]


def test_policy_source_reloads_a_changed_file_and_keeps_the_last_good_one(tmp_path):
    path = write_policy(tmp_path)
    source = PolicySource(path, reload_interval=0)
    assert ("privacy", "2027-02-01", "vi") not in source.current().texts

    def add(data: dict) -> None:
        data["documents"]["privacy"]["versions"].append(
            {"version": "2027-02-01", "languages": {"vi": {"sha256": "4" * 64}}}
        )

    write_policy(tmp_path, add)
    assert source.current().texts[("privacy", "2027-02-01", "vi")] == "4" * 64
    path.write_text("{ half written", encoding="utf-8")
    assert source.current().texts[("privacy", "2027-02-01", "vi")] == "4" * 64
    os.remove(path)  # dist/ being swapped by a rebuild
    assert ("privacy", "2027-02-01", "vi") in source.current().texts


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built") / "dist"
    result = subprocess.run(
        [sys.executable, "build.py", "build", "--date", "2026-11-25", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_collector_accepts_consents_for_the_real_build(built_site, tmp_path):
    index = load_policy(built_site / "policy.json")
    source_bytes = (ROOT / "content" / "privacy" / "2026-11-24.vi.md").read_bytes()
    raw = json.dumps(body(version="2026-11-24", language="vi")).encode()
    assert validate_consent(raw, index).policy_sha256 == hashlib.sha256(source_bytes).hexdigest()
    en_bytes = (ROOT / "content" / "privacy" / "2026-11-24.en.md").read_bytes()
    raw = json.dumps(body(version="2026-11-24", language="en")).encode()
    assert validate_consent(raw, index).policy_sha256 == hashlib.sha256(en_bytes).hexdigest()

    client = Collector(str(tmp_path / "consents.sqlite3"), built_site)
    try:
        assert client.post(body(version="2026-11-24", language="en")).status_code == 201
        # The draft is not in a publishing build, so nobody can consent to it yet.
        draft = client.post(body(version="2027-01-01"))
        assert (draft.status_code, draft.json()["field"]) == (400, "version")
    finally:
        client.close()
