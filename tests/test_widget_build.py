"""Building the consent widget (policysite/render/widget.py): config and catalogs baked in,
minified."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from conftest import ROOT
from test_widget_support import with_functional, write_site

from policysite.build.pipeline import build
from policysite.content.sources import load_site
from policysite.errors import PolicyError
from policysite.render.widget import WIDGET_DIR, build_widget, marked_strings

THEME = ROOT / "themes" / "default"
# gzip -9 of consent.js + consent.css. Sizes count 1 KB as 1,000 bytes, as the peers' do
# (vanilla-cookieconsent 3.1.0: 10,173 + 5,301 bytes = "15.5 KB"). The target is 5,000 bytes
# and is not met since categories, purposes and embeds came from site.toml (docs/performance.md,
# *Not measured yet, or not met*): this guards the size reached, so that nothing grows it.
SIZE_BUDGET = 5120


def site_as_of(tmp_path: Path, day: str):
    return load_site(write_site(tmp_path), date=dt.date.fromisoformat(day))


def baked_config(js: bytes) -> dict:
    """The JSON the build put where the source says __CONFIG__."""
    text = js.decode("utf-8")
    return json.loads(text[text.rindex("})(") + 3 : text.rindex(")")])


def test_widget_build_bakes_in_the_config_and_both_languages(tmp_path):
    built, banner = build_widget(site_as_of(tmp_path, "2026-11-25"), THEME)
    assert set(built) == {"consent.js", "consent.css", f"consent-log/banner/{banner}.json"}
    config = baked_config(built["consent.js"])
    assert config["document"] == "privacy"
    assert config["version"] == "2026-11-24"
    assert config["reconsent"] == ""
    assert (config["cookie"], config["days"], config["url"]) == (
        "ximgo_consent",
        180,
        "/api/consent",
    )
    assert config["lang"] == "vi"
    vi, en = config["text"]["vi"], config["text"]["en"]
    assert (vi["policy"], en["policy"]) == ("/chinh-sach-bao-mat/", "/en/privacy-policy/")
    assert "Chấp nhận tất cả" in vi["strings"] and "Từ chối tất cả" in vi["strings"]
    assert "Accept all" in en["strings"] and "Reject all" in en["strings"]
    assert [c[0] for c in vi["categories"]] == ["necessary", "analytics", "advertising"]
    assert vi["categories"][0][1] == 1 and vi["categories"][1][1] == 0
    # [id, required, name, purpose, cookies]: the names and purposes are site.toml's.
    assert vi["categories"][1][2:4] == [
        "Phân tích",
        "Đếm lượt truy cập và cách các trang được dùng, để chúng tôi cải thiện trang web.",
    ]
    assert en["categories"][2][2] == "Advertising"
    assert vi["categories"][1][4][0] == [
        "_ga",
        "Google Analytics",
        "Phân biệt người dùng để thống kê lượt truy cập.",
        "2 năm",
    ]
    assert en["categories"][1][4][0][2:] == ["Distinguishes users for visit statistics.", "2 years"]
    assert config["domain"] == ""  # no cookie_domain: the cookie stays host-only


def test_widget_build_minifies_and_leaves_no_marks(tmp_path):
    built, _ = build_widget(site_as_of(tmp_path, "2026-11-25"), THEME)
    js, css = built["consent.js"].decode(), built["consent.css"].decode()
    assert '_("' not in js and "__CONFIG__" not in js and "/*" not in js
    assert "/*" not in css and "\n" not in css
    assert "S[0]" in js  # strings are looked up in the visitor's language
    assert len(js) < (WIDGET_DIR / "consent.js").stat().st_size


def test_widget_fits_its_budget_gzip_with_vi_and_en(tmp_path):
    built, _ = build_widget(site_as_of(tmp_path, "2026-11-25"), THEME)
    size = sum(len(gzip.compress(built[name], 9)) for name in ("consent.js", "consent.css"))
    assert size <= SIZE_BUDGET


def test_widget_built_for_ximgos_own_site_fits_its_budget_gzip():
    """The budget holds for the shipped site.toml (its real cookies), not only a fixture."""
    built, _ = build_widget(load_site(ROOT / "content", date=dt.date(2026, 11, 25)), THEME)
    size = sum(len(gzip.compress(built[name], 9)) for name in ("consent.js", "consent.css"))
    assert size <= SIZE_BUDGET


def test_widget_build_is_byte_identical_for_the_same_input(tmp_path):
    site = site_as_of(tmp_path, "2026-11-25")
    assert build_widget(site, THEME) == build_widget(site, THEME)


def test_widget_marks_are_what_babel_extracts(tmp_path):
    """One source of truth: the catalogs' msgids are exactly the marks the build replaces."""
    ours = set(marked_strings((WIDGET_DIR / "consent.min.js").read_text(encoding="utf-8")))
    babel = {
        message for _, message, _, _ in extract_from_file("javascript", WIDGET_DIR / "consent.js")
    }
    assert ours == babel
    for language in ("vi", "en"):
        po = (THEME / "locale" / language / "LC_MESSAGES" / "widget.po").read_text(encoding="utf-8")
        assert set(re.findall(r'^msgid "(.+)"$', po, re.MULTILINE)) == ours


def test_widget_build_asks_again_after_the_newest_reconsent_version(tmp_path):
    config = baked_config(build_widget(site_as_of(tmp_path, "2026-12-16"), THEME)[0]["consent.js"])
    assert (config["version"], config["reconsent"]) == ("2026-12-15", "2026-12-15")


def test_widget_build_names_a_missing_translation(tmp_path):
    theme = tmp_path / "theme"
    shutil.copytree(THEME, theme)
    po = theme / "locale" / "en" / "LC_MESSAGES" / "widget.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgstr "Reject all"', 'msgstr ""'), encoding="utf-8")
    with pytest.raises(PolicyError) as error:
        build_widget(site_as_of(tmp_path, "2026-11-25"), theme)
    [problem] = error.value.problems
    assert problem.path == po
    assert problem.message == "the consent widget's string 'Từ chối tất cả' has no en translation"
    assert problem.hint == "add it to that catalog (msgid/msgstr), then build again"


def test_a_fourth_category_needs_nothing_but_site_toml(tmp_path):
    """Nothing about categories is built into consent.js: a `functional` category declared in
    site.toml is named, described and listed with its cookies in both languages."""
    site = load_site(with_functional(write_site(tmp_path)), date=dt.date(2026, 11, 25))
    config = baked_config(build_widget(site, THEME)[0]["consent.js"])
    vi, en = (config["text"][lang]["categories"] for lang in ("vi", "en"))
    assert [c[0] for c in vi] == ["necessary", "analytics", "advertising", "functional"]
    assert vi[3][:4] == ["functional", 0, "Chức năng", "Ghi nhớ thiết lập bạn chọn."]
    assert en[3][4] == [["lang_pref", "XIMGO", "Remembers your language.", "1 year"]]
    assert "functional" not in (WIDGET_DIR / "consent.js").read_text(encoding="utf-8")


def test_the_cookie_domain_is_baked_in(tmp_path):
    content = write_site(tmp_path)
    toml = content / "site.toml"
    line = 'cookie_name = "ximgo_consent"'
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(line, f'{line}\ncookie_domain = "ximgo.com"'),
        encoding="utf-8",
    )
    config = baked_config(
        build_widget(load_site(content, date=dt.date(2026, 11, 25)), THEME)[0]["consent.js"]
    )
    assert config["domain"] == "ximgo.com"


def test_the_minified_widget_is_its_source_through_terser():
    """The build reads widget/consent.min.js: it must be what widget/minify.sh makes of
    consent.js today (terser, pinned; installed by the script from npm when missing)."""
    run = subprocess.run(
        ["bash", "widget/minify.sh", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_widget_build_needs_a_version_in_force(tmp_path):
    with pytest.raises(PolicyError) as error:
        build_widget(site_as_of(tmp_path, "2026-01-01"), THEME)
    [problem] = error.value.problems
    assert problem.message == (
        "no version of 'privacy' is in force on 2026-01-01, "
        "so visitors would have nothing to consent to"
    )


def test_every_built_page_loads_the_widget(tmp_path):
    content = write_site(tmp_path)
    out = tmp_path / "dist"
    build(
        content_dir=content,
        theme_dir=THEME,
        out_dir=out,
        date=dt.date(2026, 11, 25),
        drafts=False,
        verbose=False,
    )
    built, banner = build_widget(load_site(content, date=dt.date(2026, 11, 25)), THEME)
    assert (out / "consent.js").read_bytes() == built["consent.js"]
    # What the visitor is shown is archived under its sha256, and policy.json names it.
    archive = out / "consent-log" / "banner" / f"{banner}.json"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == banner
    shown = json.loads(archive.read_bytes())
    assert shown["languages"]["vi"]["strings"]["Chấp nhận tất cả"] == "Chấp nhận tất cả"
    assert shown["languages"]["en"]["strings"]["Chấp nhận tất cả"] == "Accept all"
    assert {c["id"] for c in shown["languages"]["en"]["categories"]} >= {"analytics"}
    policy = json.loads((out / "policy.json").read_bytes())
    assert policy["consent"]["banner_sha256"] == banner
    assert policy["consent"]["banner_url"].endswith(f"/consent-log/banner/{banner}.json")
    assert baked_config(built["consent.js"])["banner"] == banner
    pages = sorted(out.rglob("*.html"))
    assert pages
    for page in pages:
        html = page.read_text(encoding="utf-8")
        if 'http-equiv="refresh"' in html:  # a home that only redirects sets no cookie
            assert "<script" not in html, page
            continue
        assert '<script src="/consent.js" defer></script>' in html, page
        assert '<link rel="stylesheet" href="/consent.css">' in html, page


def test_reload_on_revoke_is_baked_into_the_widget(tmp_path):
    site = site_as_of(tmp_path, "2026-11-25")
    consent = dataclasses.replace(site.config.consent, reload_on_revoke=True)
    site = dataclasses.replace(site, config=dataclasses.replace(site.config, consent=consent))
    built, _ = build_widget(site, THEME)
    assert baked_config(built["consent.js"])["reload"] == 1
