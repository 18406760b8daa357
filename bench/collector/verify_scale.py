"""`consents verify` over a large log: how long the auditor's check takes, and proof reads.

Fills a fresh SQLite store with N records through the store's own commit path (batches of
2,000, each appended to the tree and signed as the collector does), then times, in one run:
`python build.py consents verify` as an auditor runs it, and an inclusion and a consistency
proof at that size (stored subtree hashes: O(log n) reads, not a rebuild).

    python bench/collector/verify_scale.py [--records 1000000]

Target (docs/performance.md): verify over 1,000,000 records in under a minute on this machine.
"""

from __future__ import annotations

import argparse
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
CHOICES = '{"advertising":false,"analytics":true,"necessary":true}'


def records(start: int, count: int) -> list:
    return [
        seal(f"2026-11-25T00:{(i // 60000) % 60:02}:{(i // 1000) % 60:02}.{i % 1000:03}000Z",
             str(uuid.uuid4()), 1, "privacy", "2026-11-24", "vi", "1" * 64, "custom", CHOICES,
             False, "/chinh-sach-bao-mat/", "Mozilla/5.0 (bench)", "203.0.113.0/24")
        for i in range(start, start + count)
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    signer, _, public = generate_signer("ximgo.com/consent-log")
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        db = str(Path(scratch) / "consents.sqlite3")
        store = open_store(db, signer=signer)
        started = time.perf_counter()
        [head] = records(0, 1)
        store.commit_batch([head])
        first = head.consent_id
        for start in range(1, args.records, BATCH):
            store.commit_batch(records(start, min(BATCH, args.records - start)))
        filled = time.perf_counter() - started
        size = store.latest_checkpoint()[0]
        started = time.perf_counter()
        store.consistency_proof(1, size)
        store.receipts_for(first)  # one record: its proof to the latest checkpoint
        proofs = time.perf_counter() - started
        store.close()
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "build.py", "consents", "verify", "--db", db, "--key", public],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        took = time.perf_counter() - started
        mib = Path(db).stat().st_size / 2**20
    print(f"filled {args.records:,} records in {filled:.1f} s ({args.records / filled:,.0f}/s "
          f"through commit_batch, synchronous=FULL), {mib:,.0f} MiB")  # fmt: skip
    print(f"a consistency proof 1 → {size:,} and one record's inclusion proof: "
          f"{proofs * 1000:.1f} ms (stored subtree hashes, one query each)")  # fmt: skip
    print(f"consents verify: {took:.1f} s, exit {result.returncode}: {result.stdout.strip()}")
    print(f"target: under 60 s for 1,000,000 records: {'yes' if took < 60 else 'no'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
