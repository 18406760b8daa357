"""The theme compiled in a forked helper while the sources load (policysite.build.warmup).

docs/fast-builds.md, *`--jobs N`*, describes the helper.

The helper is an accelerator only: these tests show that what it hands over is really used
(this process compiles nothing itself), and that a helper that fails changes nothing, not
even the error message. Each runs in a fresh interpreter: the helper forks only a process
with no other thread, and earlier tests in this one may have left some (servers, browsers).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "tests" / "fixtures" / "multiversion" / "content"
THEME = ROOT / "themes" / "default"

HANDOVER = """
import json, sys
from pathlib import Path
import jinja2
from policysite import catalogs
from policysite.render import theme
from policysite.build import warmup

content, theme_dir = Path(sys.argv[1]), Path(sys.argv[2])
helper = warmup.start(content, theme_dir)
warmup.finish(helper)
report = {
    "helper": helper is not None,
    "catalogs": sorted([p.parent.parent.name, p.stem] for p, _ in catalogs.compiled()),
    "templates": len(theme.compiled()),
    "expected_templates": len(theme.TEMPLATES),
}
compiled = []
original = jinja2.Environment.compile
def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
    compiled.append(name)
    return original(self, source, name, filename, raw, defer_init)
jinja2.Environment.compile = counting
try:
    theme.compile_templates(theme.load_theme(theme_dir), ("vi", "en"))
except Exception as error:
    report["error"] = str(error)
report["compiled_here"] = compiled
print(json.dumps(report))
"""


def handover(theme_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", HANDOVER, str(CONTENT), str(theme_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)


def test_the_helper_compiles_the_theme_so_this_process_does_not():
    report = handover(THEME)
    assert report["helper"] is True
    assert report["catalogs"] == [
        ["en", "messages"],
        ["en", "widget"],
        ["vi", "messages"],
        ["vi", "widget"],
    ]
    assert report["templates"] == report["expected_templates"]
    assert report["compiled_here"] == []


def test_a_failing_helper_is_ignored_and_the_error_reported_as_in_a_serial_build(tmp_path):
    broken = tmp_path / "theme"
    shutil.copytree(THEME, broken)
    page = broken / "templates" / "history.html"
    page.write_text(page.read_text(encoding="utf-8") + "\n{% if %}\n", encoding="utf-8")

    report = handover(broken)
    assert report["helper"] is True
    assert report["templates"] == 0  # the helper died on the template: nothing was installed
    assert "history.html" in report["compiled_here"]  # so this process compiled it itself
    assert "history.html:32: error" in report["error"]

    outputs = []
    for jobs in ("2", "1"):
        out = tmp_path / f"out{jobs}"
        build = [sys.executable, str(ROOT / "build.py"), "build", "--content", str(CONTENT)]
        build += ["--theme", str(broken), "--out", str(out), "--jobs", jobs]
        outputs.append(subprocess.run(build, capture_output=True, text=True, cwd=tmp_path))
    assert [done.returncode for done in outputs] == [1, 1]
    assert outputs[0].stderr.replace(str(tmp_path / "out2"), str(tmp_path / "out1")) == (
        outputs[1].stderr
    )  # the same but for the --out its last line names
    assert "history.html:32: error: Expected an expression" in outputs[0].stderr
