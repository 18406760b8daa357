"""content/consent-log/: checkpoints the operator saved are published unchanged in
dist/consent-log/ (docs/consent-log.md, "Publishing checkpoints"); anything else there is an
error naming the file."""

from __future__ import annotations

import datetime as dt

import pytest
from sites import ROOT, vi, write_site

from policysite.build.pipeline import build
from policysite.errors import PolicyError

DATE = dt.date(2026, 12, 3)
CHECKPOINT = (
    "ximgo.com/consent-log\n42\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 ximgo.com/consent-log Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q"
    "1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
).encode()


def site_with(tmp_path, files: dict[str, str | bytes]):
    return write_site(tmp_path, {"privacy/2026-11-24.vi.md": vi(), **files})


def test_checkpoints_are_published_byte_for_byte_and_kept_up_to_date(tmp_path):
    content = site_with(tmp_path, {"consent-log/00000042.txt": CHECKPOINT})
    dist, cache = tmp_path / "dist", tmp_path / "cache"
    build(content, ROOT / "themes/default", dist, date=DATE, cache_dir=cache)
    assert (dist / "consent-log/00000042.txt").read_bytes() == CHECKPOINT
    assert "consent-log" not in (dist / "sitemap.xml").read_text()
    again = build(content, ROOT / "themes/default", dist, date=DATE, cache_dir=cache)
    assert again.up_to_date
    later = CHECKPOINT.replace(b"\n42\n", b"\n43\n")
    (content / "consent-log/00000043.txt").write_bytes(later)
    build(content, ROOT / "themes/default", dist, date=DATE, cache_dir=cache)
    assert (dist / "consent-log/00000043.txt").read_bytes() == later
    assert (dist / "consent-log/00000042.txt").read_bytes() == CHECKPOINT


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("other.txt", CHECKPOINT.replace(b"ximgo.com/", b"other.example/"),
         "a checkpoint of the log 'other.example/consent-log', not of this site's log"),
        ("notes.txt", b"remember to publish\n", "not a signed checkpoint"),
        ("big.txt", CHECKPOINT + b"x" * 70_000, "not a signed checkpoint"),
        ("sp ace.txt", CHECKPOINT, "not a checkpoint file name"),
        (f"banner/{'0' * 64}.json", b"{}\n", "not an archived banner"),
        ("banner/old.json", b"{}\n", "not an archived banner"),
    ],
)  # fmt: skip
def test_anything_else_in_the_folder_is_an_error_naming_the_file(tmp_path, name, data, message):
    content = site_with(tmp_path, {f"consent-log/{name}": data})
    with pytest.raises(PolicyError) as info:
        build(content, ROOT / "themes/default", tmp_path / "dist", date=DATE, cache_dir=None)
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1 and message in problems[0]
    assert problems[0].startswith(f"{content / 'consent-log' / name}")


def test_earlier_banners_kept_in_content_are_published_with_the_current_one(tmp_path):
    import hashlib
    import json

    old = b'{"format": "policysite-banner/1", "languages": {}}\n'
    name = hashlib.sha256(old).hexdigest()
    content = site_with(tmp_path, {f"consent-log/banner/{name}.json": old})
    dist = tmp_path / "dist"
    build(content, ROOT / "themes/default", dist, date=DATE, cache_dir=None)
    assert (dist / f"consent-log/banner/{name}.json").read_bytes() == old
    current = json.loads((dist / "policy.json").read_bytes())["consent"]["banner_sha256"]
    assert current != name
    archived = (dist / f"consent-log/banner/{current}.json").read_bytes()
    assert hashlib.sha256(archived).hexdigest() == current
