"""The widget's accessibility and looks: axe-core, colour scheme, motion, screenshots.

docs/widget.md, *Accessibility* and *Looks*, says what they hold the widget to.

The screenshots in docs/screenshots/ come from test_widget_screenshots: it always takes them
(into tmp_path) and, with POLICYSITE_UPDATE_SCREENSHOTS=1, copies them into docs/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from test_widget_support import EN_PAGE, VI_PAGE, Server, module_server, violations

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    yield from module_server(tmp_path_factory)


SCREENSHOTS = ROOT / "docs" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"


def open_page(browser, server, path=VI_PAGE, **options):
    context = browser.new_context(viewport={"width": 900, "height": 640}, **options)
    page = context.new_page()
    page.goto(server.base + path)
    page.locator(".pc-b").wait_for()
    return context, page


@pytest.mark.parametrize("path", [VI_PAGE, EN_PAGE])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_widget_has_no_axe_violations_with_banner_or_dialog(browser, server, path, scheme):
    context, page = open_page(browser, server, path, color_scheme=scheme)
    try:
        assert violations(page) == []
        page.locator(".pc-b button").nth(2).click()  # "Tùy chỉnh" / "Customise"
        page.locator("dialog details summary").first.click()
        assert page.get_by_role("dialog").is_visible()
        assert violations(page) == []
    finally:
        context.close()


def test_widget_follows_the_colour_scheme(browser, server):
    colours = {}
    for scheme in ("light", "dark"):
        context, page = open_page(browser, server, color_scheme=scheme)
        colours[scheme] = page.evaluate("getComputedStyle(document.querySelector('.pc-b')).color")
        context.close()
    assert colours == {"light": "rgb(31, 31, 31)", "dark": "rgb(232, 234, 237)"}


def test_widget_moves_nothing_with_or_without_reduced_motion(browser, server):
    for motion in ("no-preference", "reduce"):  # no entrance animation at all
        context, page = open_page(browser, server, reduced_motion=motion)
        name = page.evaluate("getComputedStyle(document.querySelector('.pc-b')).animationName")
        assert name == "none"
        context.close()


def test_widget_screenshots(browser, server, tmp_path):
    """banner-vi-light.png, banner-vi-dark.png, dialog-vi-light.png, dialog-vi-dark.png."""
    made: list[Path] = []
    for scheme in ("light", "dark"):
        context, page = open_page(browser, server, color_scheme=scheme, reduced_motion="reduce")
        try:
            # The preview's notice of build warnings (this test site lags a translation on
            # purpose) is not part of a published page, which is what README shows.
            notice = page.locator('section.notice[aria-label="Cảnh báo của bản dựng"]')
            assert notice.count() == 1
            notice.evaluate("(element) => element.remove()")
            made.append(tmp_path / f"banner-vi-{scheme}.png")
            page.screenshot(path=made[-1])
            page.get_by_role("button", name="Tùy chỉnh").click()
            page.locator("dialog details summary").nth(1).click()
            made.append(tmp_path / f"dialog-vi-{scheme}.png")
            page.screenshot(path=made[-1])
        finally:
            context.close()
    for path in made:
        assert path.read_bytes().startswith(PNG)
    if os.environ.get("POLICYSITE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for path in made:
            shutil.copy(path, SCREENSHOTS / path.name)


@pytest.mark.parametrize("zoom", [2, 4])
def test_widget_fits_a_phone_at_200_and_400_percent(browser, server, zoom):
    """A 390 × 844 phone at 200 % and 400 % zoom is a viewport of 390/zoom CSS pixels: the
    banner stays within it (scrolling inside itself), every button can be reached, the
    dialog fits, and axe-core finds nothing, light and dark."""
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 390 // zoom, "height": 844 // zoom},
            device_scale_factor=zoom,
            color_scheme=scheme,
        )
        page = context.new_page()
        try:
            page.goto(server.base + VI_PAGE)
            bar = page.locator(".pc-b")
            bar.wait_for()
            page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")
            box = bar.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= 844 // zoom + 1, box
            last = bar.locator("button").last
            last.scroll_into_view_if_needed()
            inside = last.bounding_box()
            assert inside["y"] >= 0 and inside["y"] + inside["height"] <= 844 // zoom + 1
            assert violations(page) == []
            last.click()  # "Tùy chỉnh": the dialog
            dialog = page.get_by_role("dialog")
            shown = dialog.bounding_box()
            assert shown["y"] >= 0 and shown["y"] + shown["height"] <= 844 // zoom + 1
            assert violations(page) == []
        finally:
            context.close()


def test_widget_buttons_keep_borders_in_forced_colours(browser, server):
    context, page = open_page(browser, server, forced_colors="active")
    try:
        widths = page.evaluate(
            "[...document.querySelectorAll('.pc-b button')].map("
            "(b) => getComputedStyle(b).borderTopWidth)"
        )
        assert widths and set(widths) == {"1px"}, widths
        assert violations(page) == []
        page.locator(".pc-b button").nth(2).click()
        assert violations(page) == []
    finally:
        context.close()
