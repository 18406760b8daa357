"""The build benchmark's baseline (= 1.0): a plain Python-Markdown + Jinja2 loop over the same
files (docs/performance.md).

One process, no cache, no extras: read each page, split off its YAML front matter, render the
Markdown (with a table of contents), fill one template, write <out>/<lang>/<date>/index.html.

    python bench/build/plain.py <content dir> <out dir>
"""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2
import markdown
import yaml

TEMPLATE = jinja2.Template(
    """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><nav>{{ toc }}</nav><main><h1>{{ title }}</h1>{{ body }}</main></body></html>
"""
)


def render(source: Path, out: Path, md: markdown.Markdown) -> None:
    _, front, text = source.read_text(encoding="utf-8").split("---\n", 2)
    meta = yaml.safe_load(front)
    date, lang = source.name.split(".")[:2]
    body = md.reset().convert(text)
    page = out / lang / date / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        TEMPLATE.render(lang=lang, title=meta["title"], toc=md.toc, body=body), encoding="utf-8"
    )


def main() -> None:
    content, out = Path(sys.argv[1]), Path(sys.argv[2])
    md = markdown.Markdown(extensions=["toc"])
    for source in sorted(content.glob("*/*.md")):
        render(source, out, md)


if __name__ == "__main__":
    main()
