"""Collector settings that are not the database or the site: limits, proxies, IP hashing.

They travel through environment variables, because uvicorn workers are separate processes
that import the app by name (`policysite.collector.http.asgi:app`); the CLI writes them with
`to_env()` and every worker reads them back with `from_env()`.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from policysite.collector.core.addresses import LOOPBACK
from policysite.collector.core.files import ENV_GROUP_READABLE, group_readable_from_env
from policysite.errors import PolicyError, Problem

ENV_DB = "POLICYSITE_COLLECTOR_DB"
ENV_SITE = "POLICYSITE_COLLECTOR_SITE"
ENV_ORIGINS = "POLICYSITE_COLLECTOR_ORIGINS"  # extra allowed origins, comma-separated
ENV_RATE = "POLICYSITE_RATE_LIMIT"  # "600/min", "5/s", "1000/h"; "0" or "off" disables
ENV_BURST = "POLICYSITE_RATE_BURST"
ENV_FORWARDED = "FORWARDED_ALLOW_IPS"  # the variable uvicorn reads for the same purpose
ENV_HMAC = "POLICYSITE_IP_HMAC_KEY"  # set: store a keyed hash of the IP instead of its network
ENV_WRITER = "POLICYSITE_COLLECTOR_WRITER"  # the SQLite writer's socket; `collector` sets it
ENV_READ_TIMEOUT = "POLICYSITE_READ_TIMEOUT"  # seconds to receive a request's headers and body
ENV_LOG_KEY = "POLICYSITE_LOG_KEY"  # the consent log's signing key file (log_key.py)
ENV_LOG = "POLICYSITE_LOG"  # "off": records are stored outside the log (measurements only)
LOG_KEY_NAME = "consent-log.key"

_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PER |= {"h": 3600, "hour": 3600}


def parse_rate(text: str) -> float:
    """Given "30/min", return tokens per second (0.5); "0" and "off" give 0 (no limit)."""
    if text.strip().lower() in ("0", "off", "none"):
        return 0.0
    match = _RATE.fullmatch(text.lower())
    if not match:
        raise PolicyError(
            Problem(
                None,
                f"rate limit {text!r} is not understood",
                'write requests per period, e.g. "30/min", "5/s" or "1000/h"; "0" turns it off',
            )
        )
    return float(match.group(1)) / _PER[match.group(2)]


@dataclass(frozen=True)
class CollectorSettings:
    # Per client network (/24 or /48), per process. High, because a mobile carrier's CGNAT puts
    # many visitors behind one /24 (docs/collector.md, "Rate limiting").
    rate_limit: str = "600/min"
    burst: int = 120
    # uvicorn's own default; `collector` chooses by --host (addresses.default_trusted_proxies).
    forwarded_allow_ips: tuple[str, ...] = LOOPBACK
    ip_hmac_key: str | None = None
    max_pending: int = 50_000  # queued writes before new ones get 503 (back-pressure)
    writer_socket: str | None = None  # the SQLite writer process to commit through (writer.py)
    read_timeout: float = 10.0  # a client that sends a request slower than this is cut off
    group_readable: bool = False  # files 0640 instead of 0600 (files.py)
    log_key: str = ""  # the signing key's file; "" for log_key.key_path's default
    log: bool = True  # False: records are stored outside the log, for measurements only

    def __post_init__(self) -> None:
        parse_rate(self.rate_limit)
        if self.burst < 1:
            raise PolicyError(f"rate limit burst must be at least 1, got {self.burst}")
        if not self.read_timeout > 0:
            raise PolicyError(f"the read timeout must be above 0 s, got {self.read_timeout}")
        if self.ip_hmac_key is not None and len(self.ip_hmac_key) < 16:
            raise PolicyError(
                Problem(
                    None,
                    f"{ENV_HMAC} is too short to be a secret key ({len(self.ip_hmac_key)} chars)",
                    "use at least 32 random characters, e.g. from `openssl rand -hex 32`",
                )
            )

    @property
    def rate_per_second(self) -> float:
        return parse_rate(self.rate_limit)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CollectorSettings:
        env = os.environ if env is None else env
        default = cls()
        burst_text = env.get(ENV_BURST, str(default.burst))
        try:
            burst = int(burst_text)
        except ValueError:
            raise PolicyError(f"{ENV_BURST} must be a whole number, got {burst_text!r}") from None
        forwarded = env.get(ENV_FORWARDED)
        read_timeout_text = env.get(ENV_READ_TIMEOUT, str(default.read_timeout))
        try:
            read_timeout = float(read_timeout_text)
        except ValueError:
            raise PolicyError(
                f"{ENV_READ_TIMEOUT} must be a number of seconds, got {read_timeout_text!r}"
            ) from None
        return cls(
            rate_limit=env.get(ENV_RATE, default.rate_limit),
            burst=burst,
            forwarded_allow_ips=(
                split_list(forwarded) if forwarded is not None else default.forwarded_allow_ips
            ),
            ip_hmac_key=env.get(ENV_HMAC) or None,
            writer_socket=env.get(ENV_WRITER) or None,
            read_timeout=read_timeout,
            group_readable=group_readable_from_env(env),
            log_key=env.get(ENV_LOG_KEY, ""),
            log=env.get(ENV_LOG, "on").strip().lower() not in ("off", "0", "no", "false"),
        )

    def to_env(self) -> dict[str, str]:
        env = {
            ENV_RATE: self.rate_limit,
            ENV_BURST: str(self.burst),
            ENV_FORWARDED: ",".join(self.forwarded_allow_ips),
            ENV_READ_TIMEOUT: f"{self.read_timeout:g}",
        }
        if self.group_readable:
            env[ENV_GROUP_READABLE] = "1"
        if self.ip_hmac_key:
            env[ENV_HMAC] = self.ip_hmac_key
        if self.writer_socket:
            env[ENV_WRITER] = self.writer_socket
        if self.log_key:
            env[ENV_LOG_KEY] = self.log_key
        if not self.log:
            env[ENV_LOG] = "off"
        return env


def log_key_path(db: str, given: str | Path | None = None) -> Path:
    """The signing key's file: `given`, else beside a SQLite database, else var/ (PostgreSQL)."""
    if given:
        return Path(given)
    if db.startswith(("postgresql://", "postgres://")):
        return Path("var", LOG_KEY_NAME)
    return Path(db).parent / LOG_KEY_NAME


def split_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


YOUNG_COLLECTION_EVERY = 20_000  # allocations between young collections (CPython: 700)


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector cheap for a process that handles many requests at once
    (each worker, and the SQLite writer process).

    What exists once the worker has started lives as long as it does: a full collection
    walked it all and stopped every request in flight for ~10 ms, so it is frozen. And the
    requests waiting for their commit (tens at a time) survived each young collection, to be
    scanned again at the next: collecting every 20,000 allocations instead of 700 measured
    3-30 % more stored consents a second with one worker.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, older, oldest)
