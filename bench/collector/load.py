"""The load: wrk (C, LuaJIT) sending valid, unique consent POSTs, and what it measured.

wrk rather than a Python client because a Python client on these same 2 cores would be slower
than the servers it measures. consent.lua counts every status, so only 201s are counted as
durable successes, and prints one `WRK-RESULT {json}` line that `run_wrk` parses.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "consent.lua"
USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)
PAGES = (  # what the widget sends: location.pathname
    "/chinh-sach-bao-mat/",
    "/en/blog/2026/11/black-friday-deals-on-phones-and-laptops/",
    "/san-pham/dien-thoai/apple/iphone-16-pro-max-256gb-chinh-hang-vn-a/",
)


@dataclass(frozen=True)
class Consents:
    """What policy.json lets us send: an allowed Origin and body tails after `seq`."""

    origin: str
    rests: tuple[str, ...]

    def example(self) -> str:
        return '{"consent_id":"0f8fad5b-0001-4000-8000-000000000001","seq":1' + self.rests[0]


def consents_from(policy_json: Path) -> Consents:
    """Given a built site's policy.json, return realistic bodies for its in-force version."""
    policy = json.loads(policy_json.read_text(encoding="utf-8"))
    name, document = next(iter(policy["documents"].items()))
    version = document["in_force"]
    listed = next(v for v in document["versions"] if v["version"] == version)
    languages = list(listed["languages"])
    categories = policy["consent"]["categories"]
    required = {c["id"]: bool(c.get("required")) for c in categories}
    actions = (
        ("accept_all", dict.fromkeys(required, True)),
        ("reject_all", required),
        ("custom", {c: on or i % 2 == 1 for i, (c, on) in enumerate(required.items())}),
    )
    rests = []
    for i, (action, choices) in enumerate(actions):
        fields = {
            "document": name,
            "version": version,
            "language": languages[i % len(languages)],
            "choices": choices,
            "action": action,
            "gpc": i == 1,
            "page": PAGES[i % len(PAGES)],
        }
        rests.append("," + json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[1:])
    return Consents(policy["consent"]["allowed_origins"][0], tuple(rests))


@dataclass
class WrkResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: dict[str, int]  # socket errors: connect, read, write, timeout; and status (non-2xx/3xx)
    latency_ms: dict[str, float]  # p50, p90, p99, max, mean

    @property
    def created(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def per_second(self) -> float:
        return self.created / self.seconds

    @property
    def others(self) -> dict[int, int]:
        return {status: n for status, n in self.statuses.items() if status != 201}


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    return found


def run_wrk(
    url: str, consents: Consents, *, seconds: float, connections: int, threads: int
) -> WrkResult:
    """One closed-loop wrk run of `seconds` against `url`; a fresh id prefix each run."""
    command = [
        wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(SCRIPT), url, "--",
        secrets.token_hex(4), consents.origin, USER_AGENT, *consents.rests,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK-RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRK-RESULT "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        statuses={int(k): v for k, v in data["statuses"].items()},
        errors=data["errors"],
        latency_ms={k: v / 1000 for k, v in data["latency_us"].items()},
    )
