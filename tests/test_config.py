"""site.toml → SiteConfig: strict validation with the key, the line and what to do."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest
from sites import ROOT, SITE_TOML, vi, write_site

from policysite.content.config import load_config, today_in
from policysite.errors import PolicyError


def problems_of(tmp_path, site_toml: str) -> list[str]:
    content = write_site(tmp_path, {}, site_toml)
    with pytest.raises(PolicyError) as info:
        load_config(content)
    return [str(p) for p in info.value.problems]


def test_load_config_reads_the_shipped_site_toml():
    config = load_config(ROOT / "content")
    assert config.name == "XIMGO"
    assert config.base_url == "https://ximgo.com"
    assert config.languages == ("vi", "en")
    assert config.default_language == "vi"
    assert config.timezone == "Asia/Ho_Chi_Minh"
    assert config.slugs == {"privacy": {"vi": "chinh-sach-bao-mat", "en": "privacy-policy"}}
    consent = config.consent
    assert consent.document == "privacy"
    assert [c.id for c in consent.categories] == ["necessary", "analytics", "advertising"]
    assert [c.required for c in consent.categories] == [True, False, False]
    assert consent.categories[1].cookies[0].name == "_ga"
    assert consent.categories[1].cookies[0].lifetime == {"vi": "2 năm", "en": "2 years"}
    assert consent.remember_days == 180
    assert consent.allowed_origins == ("https://ximgo.com", "https://www.ximgo.com")
    assert config.content_dir == ROOT / "content"


def test_load_config_strips_trailing_slash_and_applies_defaults(tmp_path):
    config = load_config(write_site(tmp_path, {}))
    assert config.base_url == "https://ximgo.com"
    assert config.consent.remember_days == 180
    assert config.consent.collector_url == "/api/consent"
    assert config.consent.cookie_name == "ximgo_consent"
    assert config.consent.allowed_origins == ("https://ximgo.com",)


def test_unknown_key_names_the_allowed_keys_and_the_line(tmp_path):
    text = SITE_TOML.replace('document = "privacy"', 'document = "privacy"\nremember_day = 90')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:12: error: unknown key 'remember_day' in [consent]. "
        "Expected one of: document, categories, remember_days, collector_url, allowed_origins, "
        "cookie_name, log_public_key, reload_on_revoke, cookie_domain "
        "but received: 'remember_day'\n"
        "  → did you mean 'remember_days'?"
    ]


def test_toml_syntax_error_gives_the_line(tmp_path):
    text = SITE_TOML.replace('name = "XIMGO"', "name = XIMGO")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:1: error: invalid TOML: Invalid value\n"
        "  → fix the syntax (https://toml.io); strings need double quotes"
    ]


def test_every_config_mistake_is_reported_in_one_run(tmp_path):
    text = (
        SITE_TOML.replace("Asia/Ho_Chi_Minh", "Asia/Saigonn")
        .replace('"https://ximgo.com/"', '"ftp://ximgo.com"')
        .replace('["vi", "en"]', '["vi", "en", "xx"]')
    )
    problems = problems_of(tmp_path, text)
    assert [p.split(": error: ")[1].split("\n")[0] for p in problems] == [
        "base_url must be an http(s) URL such as 'https://ximgo.com', got 'ftp://ximgo.com'",
        "unknown time zone 'Asia/Saigonn'",
        "unknown language 'xx': Babel has no locale for it",
    ]
    assert problems[1].startswith(f"{tmp_path}/content/site.toml:3: ")


def test_two_documents_with_the_same_slug_are_rejected(tmp_path):
    text = SITE_TOML.replace(
        "[consent]", '[documents.terms]\nvi = "chinh-sach-bao-mat"\nen = "terms"\n\n[consent]'
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:11: error: documents 'privacy' and 'terms' have the same "
        "vi slug 'chinh-sach-bao-mat'\n  → give each document its own slug in every language"
    ]


def test_slugs_must_be_url_safe_and_complete(tmp_path):
    text = SITE_TOML.replace('vi = "chinh-sach-bao-mat"', 'vi = "Chính sách"').replace(
        'en = "privacy-policy"\n', ""
    )
    problems = problems_of(tmp_path, text)
    assert "slug 'Chính sách' for privacy/vi is not URL-safe" in problems[0]
    assert "site.toml:7: " in problems[0]
    assert "[documents.privacy] has no slug for language 'en'" in problems[1]


def test_consent_document_must_be_a_configured_document(tmp_path):
    text = SITE_TOML.replace('document = "privacy"', 'document = "cookies"')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:11: error: consent document 'cookies' is not a configured "
        "document. Expected one of: privacy but received: 'cookies'\n  → see docs/content-model.md"
    ]


def test_necessary_category_must_exist_and_be_required(tmp_path):
    text = SITE_TOML.replace("required = true", "required = false")
    assert "category 'necessary' must have required = true" in problems_of(tmp_path, text)[0]
    text = SITE_TOML.replace('id = "necessary"', 'id = "essential"')
    assert "[consent] has no 'necessary' category" in problems_of(tmp_path, text)[0]


def test_cookie_needs_a_text_for_every_language(tmp_path):
    text = SITE_TOML.replace(', en = "180 days"', "")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:23: error: 'lifetime' of cookie #1 of category "
        "'necessary' has no en text\n"
        '  → write lifetime = { vi = "…", en = "…" }'
    ]


def test_every_category_needs_a_name_and_a_purpose_in_every_language(tmp_path):
    """The widget builds in no category names: site.toml gives them, or the build stops."""
    text = SITE_TOML.replace('name = { vi = "Phân tích", en = "Analytics" }\n', "")
    text = text.replace(', en = "Visit statistics." }', " }")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:26: error: 'name' of category 'analytics' must give a "
        "text per language\n"
        '  → write name = { vi = "…", en = "…" }',
        f"{tmp_path}/content/site.toml:27: error: 'purpose' of category 'analytics' has no en "
        "text\n"
        '  → write purpose = { vi = "…", en = "…" }',
    ]


def test_cookie_domain_must_be_a_bare_domain(tmp_path):
    line = 'document = "privacy"'
    for bad in ('"https://ximgo.com"', '".ximgo.com"', '"localhost"', "1"):
        text = SITE_TOML.replace(line, f"{line}\ncookie_domain = {bad}")
        [problem] = problems_of(tmp_path / bad.strip('"./:'), text)
        assert "site.toml:" in problem
        assert "cookie_domain must be a domain name such as 'ximgo.com'" in problem
    ok = SITE_TOML.replace(line, f'{line}\ncookie_domain = "ximgo.com"')
    assert load_config(write_site(tmp_path / "ok", {}, ok)).consent.cookie_domain == "ximgo.com"


def test_remember_days_must_be_a_positive_number(tmp_path):
    text = SITE_TOML.replace('document = "privacy"', 'document = "privacy"\nremember_days = 0')
    assert (
        "remember_days must be a positive whole number of days, got 0"
        in (problems_of(tmp_path, text)[0])
    )


def test_reload_on_revoke_must_be_true_or_false(tmp_path):
    line = 'document = "privacy"'
    text = SITE_TOML.replace(line, f'{line}\nreload_on_revoke = "yes"')
    [problem] = problems_of(tmp_path, text)
    assert "site.toml:" in problem
    assert "reload_on_revoke must be true or false, got 'yes'" in problem
    ok = SITE_TOML.replace(line, f"{line}\nreload_on_revoke = true")
    assert load_config(write_site(tmp_path / "ok", {}, ok)).consent.reload_on_revoke is True


def test_missing_site_toml_says_what_to_create(tmp_path):
    problems = problems_of(tmp_path, None)
    assert problems[0].startswith(f"{tmp_path}/content/site.toml: error: site.toml not found\n")


def test_missing_content_folder(tmp_path):
    with pytest.raises(PolicyError) as info:
        load_config(tmp_path / "nope")
    assert str(info.value) == (
        f"{tmp_path}/nope: error: content folder not found\n  → pass --content PATH to your content"
    )


def test_today_is_the_date_in_the_site_time_zone_unless_overridden(tmp_path):
    config = load_config(write_site(tmp_path, {}))
    assert today_in(config, dt.date(2026, 11, 25)) == dt.date(2026, 11, 25)
    before = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")).date()
    today = today_in(config)
    after = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")).date()
    assert today in (before, after)


def test_the_shipped_controller_is_ximgo_in_both_languages():
    controller = load_config(ROOT / "content").controller
    assert controller.name == {"vi": "Công ty TNHH XIMGO", "en": "XIMGO Company Limited"}
    assert controller.email == "privacy@ximgo.com"
    assert controller.address["vi"] == "Hà Nội, Việt Nam"
    assert (controller.phone, controller.dpo_email) == (None, None)


def test_controller_text_is_one_string_or_one_per_language(tmp_path):
    text = SITE_TOML.replace(
        'email = "privacy@ximgo.com"',
        'email = "privacy@ximgo.com"\nphone = "+84 24 1234 5678"\ndpo_email = "dpo@ximgo.com"',
    )
    controller = load_config(write_site(tmp_path, {}, text)).controller
    assert controller.address == {"vi": "Hà Nội, Việt Nam", "en": "Hà Nội, Việt Nam"}
    assert controller.name["en"] == "XIMGO Company Limited"
    assert (controller.phone, controller.dpo_email) == ("+84 24 1234 5678", "dpo@ximgo.com")


def test_missing_controller_table_says_what_to_add(tmp_path):
    text = SITE_TOML[: SITE_TOML.index("[controller]")]
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml: error: site.toml has no [controller] table\n"
        "  → [controller] names who is responsible for personal data: add it with name, "
        'address and email = "…" (optional: phone, dpo_email); see docs/content-model.md'
    ]


def test_missing_controller_fields_are_each_named_with_the_table_line(tmp_path):
    text = SITE_TOML[: SITE_TOML.index("name = { vi", SITE_TOML.index("[controller]"))]
    text += 'phone = "call us"\n'
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:30: error: [controller] is missing 'name'\n"
        '  → add name = "…" (or name = { vi = "…", en = "…" })',
        f"{tmp_path}/content/site.toml:30: error: [controller] is missing 'address'\n"
        '  → add address = "…" (or address = { vi = "…", en = "…" })',
        f"{tmp_path}/content/site.toml:30: error: [controller] is missing 'email'\n"
        '  → add email = "…"',
        f"{tmp_path}/content/site.toml:31: error: 'phone' in [controller] must be a telephone "
        "number such as '+84 24 1234 5678', got 'call us'\n  → see docs/content-model.md",
    ]


def test_controller_values_are_checked(tmp_path):
    text = (
        SITE_TOML.replace(
            'address = "Hà Nội, Việt Nam"', 'address = { vi = "Hà Nội", fr = "Hanoï" }'
        )
        .replace('"privacy@ximgo.com"', '"mailto:privacy@ximgo.com"')
        .replace("[controller]", "[controller]\nfax = 1")
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/content/site.toml:31: error: unknown key 'fax' in [controller]. Expected one "
        "of: name, address, email, phone, dpo_email but received: 'fax'\n  → remove 'fax'",
        f"{tmp_path}/content/site.toml:33: error: 'address' in [controller] has an unknown "
        "language. Expected one of: vi, en but received: 'fr'\n  → see docs/content-model.md",
        f"{tmp_path}/content/site.toml:33: error: 'address' in [controller] has no en text\n"
        '  → write address = { vi = "…", en = "…" }',
        f"{tmp_path}/content/site.toml:34: error: 'email' in [controller] must be an email "
        "address such as 'privacy@ximgo.com', got 'mailto:privacy@ximgo.com'\n"
        "  → see docs/content-model.md",
    ]


def _with_log_key(key: str) -> str:
    line = f'log_public_key = "{key}"'
    return SITE_TOML.replace('document = "privacy"', f'document = "privacy"\n{line}')


LOG_KEY = "ximgo.com/consent-log+1a2b3c4d+AUcpUod6GFXieSjfliVPaPeUYWnDx+5HaRBxgA5g7WOR"


def test_the_log_public_key_is_checked_and_published_in_policy_json(tmp_path):
    from policysite.build.pipeline import build

    content = write_site(tmp_path, {"privacy/2026-11-24.vi.md": vi()}, _with_log_key(LOG_KEY))
    assert load_config(content).consent.log_public_key == LOG_KEY
    build(content, ROOT / "themes/default", tmp_path / "dist", date=dt.date(2026, 12, 3))
    policy = json.loads((tmp_path / "dist/policy.json").read_text(encoding="utf-8"))
    assert policy["consent"]["log_public_key"] == LOG_KEY


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not a key", "log_public_key must be the line the collector printed on first start"),
        (LOG_KEY.replace("+1a2b3c4d+", "+1A2B3C4D+"), "must be the line the collector printed"),
        (LOG_KEY[:-1], "must be the line the collector printed"),
        (LOG_KEY.replace("ximgo.com/", "other.example/"), "is the key of the log 'other.example"),
    ],
)
def test_a_wrong_log_public_key_is_named_with_its_line(tmp_path, key, message):
    text = _with_log_key(key)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1 and message in problems[0]
    line = text.splitlines().index(f'log_public_key = "{key}"') + 1
    assert f"site.toml:{line}:" in problems[0]
