"""Copy each benchmark's results (bench/*/README-section.md) into bench/README.md.

Each benchmark writes its own section; this keeps bench/README.md, the page people read, in
step with them. Everything above the marker line is written by hand and kept.

    python bench/assemble_readme.py
"""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent
MARKER = "<!-- Below: bench/*/README-section.md, copied by python bench/assemble_readme.py -->"
ORDER = ("build", "serve", "widget", "collector")


def main() -> None:
    readme = BENCH / "README.md"
    head = readme.read_text(encoding="utf-8").split(MARKER)[0].rstrip() + "\n\n"
    sections = [(BENCH / name / "README-section.md").read_text(encoding="utf-8") for name in ORDER]
    readme.write_text(head + MARKER + "\n\n" + "\n\n".join(s.strip() for s in sections) + "\n")


if __name__ == "__main__":
    main()
