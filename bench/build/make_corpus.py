"""Make the build benchmark's 300-page synthetic corpus: one document in 150 versions × (vi, en).

Every page has ~1,500 words, headings, paragraphs and lists; Vietnamese pages use Vietnamese
words with their diacritics. Each version rewrites a few paragraphs of the previous one, as a
real policy history does (it gives the diff pages real work); with `--rewrite`, every version
is rewritten whole, unrelated to the one before, as a policy overhaul is (the diff's worst
case). The output is deterministic (seeded), and the same Markdown is laid out for every
contender:

    <out>/ours/content/site.toml, privacy/<date>.<lang>.md   policysite (and the plain loop)
    <out>/mkdocs/mkdocs.yml, docs/privacy/<date>.<lang>.md
    <out>/pelican/pelicanconf.py, content/<date>-<lang>.md
    <out>/hugo/hugo.toml, layouts/, content/privacy/<date>.<lang>.md
    <out>/corpus.json                                        dates, the build date, the edit target

    python bench/build/make_corpus.py [--out bench/_work/corpus] [--versions 150] [--words 1500]
                                      [--rewrite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_DATE = dt.date(2020, 1, 6)
DAYS_BETWEEN = 14
SEED = 20261124

VI_TEXT = """
thông tin người dùng dữ liệu cá nhân bảo mật quyền riêng tư chúng tôi cam kết sử dụng thu thập
chia sẻ lưu trữ xử lý đối tác bên thứ ba cơ quan pháp luật Việt Nam trình duyệt cookie quảng cáo
phân tích thống kê trải nghiệm sản phẩm dịch vụ tài khoản email số điện thoại họ tên địa chỉ
yêu cầu đồng ý từ chối rút lại thời hạn mục đích hợp pháp an toàn mã hoá máy chủ trung tâm
liên hệ hỗ trợ khách hàng điều khoản chính sách cập nhật thay đổi hiệu lực ngày tháng năm
trường hợp cần thiết bảo vệ quyền lợi nghĩa vụ trách nhiệm kiểm soát truy cập xoá chỉnh sửa
nội dung website ứng dụng thiết bị mạng xã hội thanh toán giao dịch an ninh mạng nghị định
được sẽ không có và hoặc của cho với trong khi nếu theo những các một số mọi luôn đã
"""

EN_TEXT = """
information user users data personal privacy security we commit use collect share store process
partner partners third party authority law Vietnam browser cookie cookies advertising analytics
statistics experience product service account email phone name address request consent refuse
withdraw period purpose lawful safe encrypt server centre contact support customer terms policy
update change effective date case necessary protect rights duty responsibility control access
delete correct content website application device social network payment transaction decree
is will not have and or of for with in when if under these the a some every always has
"""
VI_WORDS = VI_TEXT.split()
EN_WORDS = EN_TEXT.split()

VI_HEADINGS = [
    "Thu thập thông tin người dùng",
    "Bảo mật thông tin người dùng",
    "Chia sẻ thông tin người dùng",
    "Quyền của người dùng",
    "Cookie và công nghệ theo dõi",
    "Thời gian lưu trữ dữ liệu",
    "Chuyển dữ liệu ra nước ngoài",
    "Liên hệ với chúng tôi",
]
EN_HEADINGS = [
    "Collecting user information",
    "Protecting user information",
    "Sharing user information",
    "Your rights",
    "Cookies and tracking technologies",
    "How long we keep data",
    "Transfers abroad",
    "Contact us",
]


@dataclass
class Document:
    """One language's text as a list of blocks (paragraphs and lists) under each heading."""

    title: str
    headings: list[str]
    blocks: list[list[str]]  # per section: Markdown blocks

    def markdown(self) -> str:
        parts = []
        for number, (heading, blocks) in enumerate(zip(self.headings, self.blocks, strict=True)):
            parts.append(f"## {number + 1}. {heading}")
            parts.extend(blocks)
        return "\n\n".join(parts) + "\n"


def sentence(rng: random.Random, words: list[str]) -> str:
    chosen = rng.choices(words, k=rng.randint(8, 18))
    return " ".join(chosen).capitalize() + "."


def block(rng: random.Random, words: list[str]) -> str:
    """A paragraph, or now and then a list, about 60 words long."""
    if rng.random() < 0.2:
        return "\n".join(f"- {sentence(rng, words)}" for _ in range(rng.randint(3, 5)))
    return " ".join(sentence(rng, words) for _ in range(rng.randint(4, 6)))


def first_document(
    rng: random.Random, words: list[str], headings: list[str], title: str, total_words: int
) -> Document:
    per_section = max(1, total_words // (len(headings) * 60))
    blocks = [[block(rng, words) for _ in range(per_section)] for _ in headings]
    return Document(title, headings, blocks)


def next_version(rng: random.Random, doc: Document, words: list[str]) -> Document:
    """Rewrite two or three blocks: the change a new policy version brings."""
    blocks = [list(section) for section in doc.blocks]
    for _ in range(rng.randint(2, 3)):
        section = rng.randrange(len(blocks))
        blocks[section][rng.randrange(len(blocks[section]))] = block(rng, words)
    return Document(doc.title, doc.headings, blocks)


def histories(versions: int, total_words: int, rewrite: bool = False) -> dict[str, list[Document]]:
    """Each language's versions, oldest first: each the last with a few blocks rewritten, or,
    with `rewrite`, a new text altogether."""
    rng = random.Random(SEED)
    result: dict[str, list[Document]] = {}
    for lang, words, headings, title in (
        ("vi", VI_WORDS, VI_HEADINGS, "Chính sách bảo mật"),
        ("en", EN_WORDS, EN_HEADINGS, "Privacy policy"),
    ):
        docs = [first_document(rng, words, headings, title, total_words)]
        while len(docs) < versions:
            docs.append(
                first_document(rng, words, headings, title, total_words)
                if rewrite
                else next_version(rng, docs[-1], words)
            )
        result[lang] = docs
    return result


# --- the layouts -------------------------------------------------------------------------


def yaml_front(title: str, summary: str | None) -> str:
    lines = ["---", f'title: "{title}"']
    if summary:
        lines.append(f'summary: "{summary}"')
    return "\n".join([*lines, "---", "", ""])


def summary_for(lang: str, index: int) -> str | None:
    if index == 0:
        return None
    return f"Cập nhật lần {index}." if lang == "vi" else f"Update number {index}."


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_ours(out: Path, dates: list[dt.date], docs: dict[str, list[Document]]) -> None:
    write(out / "content/site.toml", (ROOT / "content/site.toml").read_text(encoding="utf-8"))
    for lang, history in docs.items():
        for index, (date, doc) in enumerate(zip(dates, history, strict=True)):
            front = yaml_front(doc.title, summary_for(lang, index))
            write(out / f"content/privacy/{date}.{lang}.md", front + doc.markdown())


def write_mkdocs(out: Path, dates: list[dt.date], docs: dict[str, list[Document]]) -> None:
    write(
        out / "mkdocs.yml",
        "site_name: XIMGO\nsite_url: https://ximgo.com/\ntheme: mkdocs\n"
        "markdown_extensions:\n  - toc:\n      permalink: true\n",
    )
    write(out / "docs/index.md", "# XIMGO\n")
    for lang, history in docs.items():
        for date, doc in zip(dates, history, strict=True):
            write(
                out / f"docs/privacy/{date}.{lang}.md", yaml_front(doc.title, None) + doc.markdown()
            )


PELICANCONF = """\
# pelican-quickstart's defaults for a local build, plus the site's language and time zone.
AUTHOR = "XIMGO"
SITENAME = "XIMGO"
SITEURL = ""
PATH = "content"
TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_LANG = "vi"
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
DEFAULT_PAGINATION = 10
RELATIVE_URLS = True
MARKDOWN = {"extension_configs": {"markdown.extensions.toc": {"permalink": True}},
            "output_format": "html5"}
"""


def write_pelican(out: Path, dates: list[dt.date], docs: dict[str, list[Document]]) -> None:
    write(out / "pelicanconf.py", PELICANCONF)
    for lang, history in docs.items():
        for date, doc in zip(dates, history, strict=True):
            meta = (
                f"Title: {doc.title}\nDate: {date}\nLang: {lang}\n"
                f"Slug: privacy-{date}\nCategory: privacy\n\n"
            )
            write(out / f"content/{date}-{lang}.md", meta + doc.markdown())


HUGO_CONFIG = """\
baseURL = "https://ximgo.com/"
title = "XIMGO"
defaultContentLanguage = "vi"
disableKinds = ["taxonomy", "term", "RSS"]

[languages.vi]
weight = 1
languageName = "Tiếng Việt"

[languages.en]
weight = 2
languageName = "English"

[markup.tableOfContents]
startLevel = 2
endLevel = 3
"""

HUGO_SINGLE = """\
<!doctype html>
<html lang="{{ .Language.Lang }}"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><nav>{{ .TableOfContents }}</nav><main><h1>{{ .Title }}</h1>{{ .Content }}</main></body>
</html>
"""

HUGO_LIST = """\
<!doctype html>
<html lang="{{ .Language.Lang }}"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>
</body></html>
"""


def write_hugo(out: Path, dates: list[dt.date], docs: dict[str, list[Document]]) -> None:
    write(out / "hugo.toml", HUGO_CONFIG)
    write(out / "layouts/_default/single.html", HUGO_SINGLE)
    write(out / "layouts/_default/list.html", HUGO_LIST)
    for lang, history in docs.items():
        for date, doc in zip(dates, history, strict=True):
            front = f'---\ntitle: "{doc.title}"\ndate: {date}\n---\n\n'
            write(out / f"content/privacy/{date}.{lang}.md", front + doc.markdown())


def make(out: Path, versions: int, total_words: int, rewrite: bool = False) -> dict[str, object]:
    """Write every layout under `out` (replacing it) and return the corpus description."""
    shutil.rmtree(out, ignore_errors=True)
    dates = [FIRST_DATE + dt.timedelta(days=DAYS_BETWEEN * i) for i in range(versions)]
    docs = histories(versions, total_words, rewrite)
    write_ours(out / "ours", dates, docs)
    write_mkdocs(out / "mkdocs", dates, docs)
    write_pelican(out / "pelican", dates, docs)
    write_hugo(out / "hugo", dates, docs)
    last = dates[-1]
    description = {
        "pages": versions * len(docs),
        "words_per_page": len(docs["vi"][-1].markdown().split()),
        # The day before the last version: it is upcoming, so not locked, and `serve` may edit it.
        "build_date": str(last - dt.timedelta(days=1)),
        "last_version": str(last),
        "rewrite": rewrite,
    }
    write(out / "corpus.json", json.dumps(description, indent=2) + "\n")
    return description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/_work/corpus")
    parser.add_argument("--versions", type=int, default=150)
    parser.add_argument("--words", type=int, default=1500)
    parser.add_argument(
        "--rewrite", action="store_true", help="every version unrelated to the one before"
    )
    args = parser.parse_args()
    print(json.dumps(make(args.out, args.versions, args.words, args.rewrite)))


if __name__ == "__main__":
    main()
