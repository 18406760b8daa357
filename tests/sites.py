"""Small content folders written into tmp_path, for the load-and-validate tests.

`write_site(tmp_path, {"privacy/2026-11-24.vi.md": VI})` returns the content folder with a
minimal valid site.toml (vi, en) unless one is given. Real files, nothing mocked.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def checkout_files() -> list[str]:
    """The files a clean clone of this checkout has: every file git tracks, plus untracked
    files that .gitignore does not exclude, sorted."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return sorted({name for name in listing.split("\0") if name and (ROOT / name).is_file()})


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python build.py ARGS` in `cwd`, as a user runs it: its own process, text output."""
    return subprocess.run(
        [sys.executable, str(ROOT / "build.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


SITE_TOML = """\
name = "XIMGO"
base_url = "https://ximgo.com/"
timezone = "Asia/Ho_Chi_Minh"
languages = ["vi", "en"]

[documents.privacy]
vi = "chinh-sach-bao-mat"
en = "privacy-policy"

[consent]
document = "privacy"

[[consent.categories]]
id = "necessary"
name = { vi = "Cần thiết", en = "Necessary" }
purpose = { vi = "Luôn bật.", en = "Always on." }
required = true

[[consent.categories.cookies]]
name = "ximgo_consent"
provider = "XIMGO"
purpose = { vi = "Ghi nhớ lựa chọn cookie của bạn.", en = "Remembers your cookie choices." }
lifetime = { vi = "180 ngày", en = "180 days" }

[[consent.categories]]
id = "analytics"
name = { vi = "Phân tích", en = "Analytics" }
purpose = { vi = "Thống kê lượt truy cập.", en = "Visit statistics." }

[controller]
name = { vi = "Công ty TNHH XIMGO", en = "XIMGO Company Limited" }
address = "Hà Nội, Việt Nam"
email = "privacy@ximgo.com"
"""

VI_BODY = """
XIMGO tôn trọng quyền riêng tư của người dùng.

## 1. Điều khoản

Khi sử dụng XIMGO, bạn đồng ý với chính sách này.

## 2. Thu thập thông tin người dùng

Chúng tôi thu thập họ tên và email.
"""

EN_BODY = """
XIMGO respects the privacy of its users.

## 1. Terms

By using XIMGO you agree to this policy.
"""


def body_sha256(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def source(front: str, body: str = VI_BODY) -> str:
    """A source file: `front` is the YAML between the `---` lines."""
    return f"---\n{front.strip()}\n---\n{body}"


def vi(summary: str | None = None, extra: str = "", body: str = VI_BODY) -> str:
    front = 'title: "Chính sách bảo mật"'
    if summary:
        front += f"\nsummary: {summary!r}"
    return source(front + ("\n" + extra if extra else ""), body)


def en(translates: str = VI_BODY, summary: str | None = None, extra: str = "") -> str:
    front = f'title: "Privacy policy"\nsource_sha256: {body_sha256(translates)}'
    if summary:
        front += f"\nsummary: {summary!r}"
    return source(front + ("\n" + extra if extra else ""), EN_BODY)


def write_site(
    root: Path, files: dict[str, str | bytes], site_toml: str | None = SITE_TOML
) -> Path:
    """Write a content folder under `root` and return it."""
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    if site_toml is not None:
        (content / "site.toml").write_text(site_toml, "utf-8")
    for relative, text in files.items():
        path = content / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, "utf-8")
    return content
