"""The theme compiled in a forked helper while the sources load (policysite.warmup, issue #5).

The helper is an accelerator only: these tests show that what it hands over is really used
(this process compiles nothing itself), and that a helper that fails changes nothing, not
even the error message.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import jinja2
import pytest

from policysite import i18n, theme, warmup
from policysite.errors import PolicyError
from policysite.site import build

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "tests" / "fixtures" / "multiversion" / "content"
THEME = ROOT / "themes" / "default"
DATE = dt.date(2026, 11, 25)


@pytest.fixture
def cold_caches():
    """This process's template code and catalogs start empty, as in a fresh build."""
    theme.environment.cache_clear()
    theme.translations.cache_clear()
    theme._COMPILED.codes.clear()
    i18n._COMPILED.clear()
    yield
    theme.environment.cache_clear()
    theme.translations.cache_clear()


def test_the_helper_compiles_the_theme_so_this_process_does_not(cold_caches, monkeypatch):
    helper = warmup.start(CONTENT, THEME)
    assert helper is not None
    warmup.finish(helper)
    catalogs = {(path.parent.parent.name, path.stem) for path, _ in i18n.compiled()}
    assert catalogs == {("vi", "messages"), ("en", "messages"), ("vi", "widget"), ("en", "widget")}
    assert len(theme.compiled()) == len(theme.TEMPLATES)

    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    theme.compile_templates(theme.load_theme(THEME), ("vi", "en"))
    assert compiled == []


def test_a_failing_helper_is_ignored_and_the_error_reported_as_in_a_serial_build(
    tmp_path, cold_caches
):
    broken = tmp_path / "theme"
    shutil.copytree(THEME, broken)
    page = broken / "templates" / "history.html"
    page.write_text(page.read_text(encoding="utf-8") + "\n{% if %}\n", encoding="utf-8")

    helper = warmup.start(CONTENT, broken)
    assert helper is not None
    warmup.finish(helper)  # the helper died on the template: nothing is installed
    assert theme.compiled() == {}

    messages = []
    for jobs in (2, 1):
        with pytest.raises(PolicyError) as error:
            build(CONTENT, broken, tmp_path / f"out{jobs}", date=DATE, jobs=jobs, cache_dir=None)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert "history.html" in messages[0]
