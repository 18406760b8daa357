"""`consents report` over a large log: how long it takes and how big the file is.

Fills a fresh SQLite store with N records through the store's own commit path (batches of
2,000, each appended to the tree and signed as the collector does): 120 days, two languages,
two policy versions, every action, some with GPC, and half the visitors deciding twice (so
withdrawals and answers to a new version exist). Then times `python build.py consents report`
as an operator runs it, with the log's verification, and prints the file's size.

    python bench/collector/report_scale.py [--records 1000000]

Targets (docs/performance.md): a report of 1,000,000 records in under 30 s on this machine,
in one self-contained file under 500 KB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from policysite.collector.core.checkpoint import generate_signer  # noqa: E402
from policysite.collector.core.record import seal  # noqa: E402
from policysite.collector.core.store import open_store  # noqa: E402

BATCH = 2000
DAYS = 120
CHOICES = (
    ("accept_all", '{"advertising":true,"analytics":true,"necessary":true}'),
    ("reject_all", '{"advertising":false,"analytics":false,"necessary":true}'),
    ("custom", '{"advertising":false,"analytics":true,"necessary":true}'),
)
START = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)


def records(start: int, count: int, visitors: list[str]) -> list:
    """Record i: visitor i // 2's decision number i % 2 + 1, spread evenly over DAYS days."""
    out = []
    for i in range(start, start + count):
        if i % 2 == 0:
            visitors.append(str(uuid.uuid4()))
        at = START + dt.timedelta(seconds=i * DAYS * 86400 // TOTAL)
        action, choices = CHOICES[(i // 2 + i % 2) % 3]
        version = "2026-11-24" if i < TOTAL // 2 or i % 2 == 0 else "2027-01-01"
        language = "en" if i % 5 == 0 else "vi"
        page = "/en/privacy-policy/" if language == "en" else "/chinh-sach-bao-mat/"
        fields = (at.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), visitors[i // 2], i % 2 + 1,
                  "privacy", version, language, "1" * 64, action, choices, i % 7 == 0, page,
                  "Mozilla/5.0 (bench)", "203.0.113.0/24")  # fmt: skip
        out.append(seal(*fields))
    return out


TOTAL = 1_000_000


def main() -> int:
    global TOTAL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=TOTAL)
    args = parser.parse_args()
    TOTAL = args.records
    signer, _, public = generate_signer("ximgo.com/consent-log")
    visitors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        db = str(Path(scratch) / "consents.sqlite3")
        store = open_store(db, signer=signer)
        started = time.perf_counter()
        for start in range(0, TOTAL, BATCH):
            store.commit_batch(records(start, min(BATCH, TOTAL - start), visitors))
        store.close()
        filled = time.perf_counter() - started
        output = Path(scratch) / "report.html"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "build.py", "consents", "report", "--db", db, "-o", str(output),
             "--key", public, "--lang", "vi", "--site", scratch],
            cwd=ROOT, check=True,
        )  # fmt: skip
        took = time.perf_counter() - started
        size = output.stat().st_size
    print(f"filled {TOTAL:,} records in {filled:.1f} s")
    print(f"consents report: {took:.1f} s (target < 30 s: {'met' if took < 30 else 'NOT met'})")
    small = "met" if size < 500_000 else "NOT met"
    print(f"report.html: {size:,} bytes (target < 500,000: {small})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
