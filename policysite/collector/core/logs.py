"""The collector's logs: one format for every process, and outages logged once, not per batch.

`collector` passes logging_config() to uvicorn as its log_config: uvicorn applies it in the
main process and again in each worker it spawns, so the workers' "policysite.collector" lines
get a handler, a time and a level instead of logging's bare last resort. For a bare `uvicorn`
there is ensure_handler(). The SQLite writer process calls configure()
with the same level and format (start_writer passes them). Each line says which process
wrote it: its pid and its role (main, worker, writer). docs/collector.md, *Logs*, shows both
formats.

During an outage a worker refuses thousands of requests a second; Outage turns that into a
line when it starts, a reminder a minute while it lasts, and a line when it ends.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from policysite.errors import PolicyError

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
ENV_FORMAT = "POLICYSITE_LOG_FORMAT"  # the default of `collector --log-format`
REMINDER_SECONDS = 60.0  # at most one "still unavailable" line this often


def _utc(seconds: float) -> str:
    """ISO 8601 in UTC to the millisecond, e.g. 2026-12-03T18:01:02.123Z."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Formatter(logging.Formatter):
    """Adds the time in UTC and the process's role; `role` None: main or worker, by process."""

    def __init__(self, role: str | None = None) -> None:
        super().__init__()
        self._role = role

    def role(self) -> str:
        if self._role:
            return self._role
        # uvicorn's workers are multiprocessing children; the process it was started in is main.
        return "main" if multiprocessing.parent_process() is None else "worker"

    def details(self, record: logging.LogRecord) -> str:
        """The traceback and stack text of `record`, if any ("" if none)."""
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class TextFormatter(_Formatter):
    """`2026-12-03T18:01:02.123Z WARNING [worker 1234] policysite.collector: message`."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_utc(record.created)} {record.levelname} [{self.role()} {record.process}] "
            f"{record.name}: {record.getMessage()}"
        )
        details = self.details(record)
        return f"{line}\n{details}" if details else line


class JsonFormatter(_Formatter):
    """One JSON object per line, for log shippers: time, level, process, role, logger, message,
    and exception (the traceback) when there is one. ASCII only: a lone surrogate in a message
    (a client's field name) cannot break the line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "process": record.process,
            "role": self.role(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        details = self.details(record)
        if details:
            entry["exception"] = details
        return json.dumps(entry, ensure_ascii=True)


def logging_config(level: str = "info", fmt: str = "text", role: str | None = None) -> dict:
    """A logging.config.dictConfig dict: uvicorn's loggers and ours at `level`, others' at
    warning, all to stderr in `fmt` ("text" or "json")."""
    if level not in LEVELS:
        raise PolicyError(f"--log-level {level!r}: choose one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise PolicyError(
            f"--log-format {fmt!r} (or ${ENV_FORMAT}): choose one of {', '.join(FORMATS)}"
        )
    formatter = TextFormatter if fmt == "text" else JsonFormatter
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,  # loggers made at import time keep working
        "formatters": {
            "line": {"()": f"{__name__}.{formatter.__name__}", "role": role},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": _logger(upper),
            "uvicorn.error": {"level": upper},
            "uvicorn.access": _logger(upper),  # off in `collector`: it would keep client IPs
            "policysite": _logger(upper),
        },
        # asyncio's and other libraries' warnings, in the same format.
        "root": {"handlers": ["stderr"], "level": max(upper, "WARNING", key=_rank)},
    }


def _logger(level: str) -> dict:
    return {"handlers": ["stderr"], "level": level, "propagate": False}


def _rank(name: str) -> int:
    return logging.getLevelName(name)


def configure(level: str = "info", fmt: str = "text", role: str | None = None) -> None:
    """Set this process's logging as logging_config() says (the writer process)."""
    logging.config.dictConfig(logging_config(level, fmt, role))


def ensure_handler() -> None:
    """Give our loggers a handler if whoever runs the app set none, as a bare `uvicorn
    policysite.collector.asgi:app` does (its log config knows only its own loggers): else
    our INFO lines are lost and warnings are printed without time or level. Text at INFO,
    or JSON when $POLICYSITE_LOG_FORMAT says json."""
    ours = logging.getLogger("policysite")
    if ours.handlers or logging.getLogger().handlers:
        return  # `collector` (logging_config) or the host application configured logging
    formatter = JsonFormatter() if os.environ.get(ENV_FORMAT) == "json" else TextFormatter()
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(formatter)
    ours.addHandler(handler)
    ours.propagate = False
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)


class Outage:
    """Logs an outage of `subject` once per change: when it starts, a reminder at most every
    REMINDER_SECONDS while it lasts (with the count so far), and when it ends.

    failed(count, error) after each refused batch, succeeded() after each that went through.
    Thread-safe: a writer thread and an event loop may report at once. `refused` names what
    is counted, `down` and `up` the two states, `level` that of the lines while it is down (the
    end is a warning, so that `--log-level warning` shows both). `clock` is for tests.
    """

    def __init__(
        self,
        subject: str,
        logger: logging.Logger,
        *,
        refused: str = "request(s) refused",
        down: str = "unavailable",
        up: str = "available again",
        level: int = logging.ERROR,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.subject = subject
        self._log = logger
        self._words = (refused, down, up)
        self._level = level
        self._clock = clock
        self._lock = threading.Lock()
        self.since: float | None = None  # when the current outage began
        self.count = 0  # refused in the current outage
        self._reminded = 0.0

    def failed(self, count: int, error: object, exc_info: BaseException | None = None) -> None:
        """`count` requests were refused because of `error`; `exc_info`: a traceback for the
        first line (a bug rather than an outage)."""
        with self._lock:
            now = self._clock()
            first = self.since is None
            if first:
                self.since, self.count, self._reminded = now, 0, now
            self.count += count
            remind = not first and now - self._reminded >= REMINDER_SECONDS
            if remind:
                self._reminded = now
            since, total = _utc(self.since), self.count  # type: ignore[arg-type]
        refused, down, _ = self._words
        if first:
            self._log.log(
                self._level, "%s %s since %s: %s", self.subject, down, since, error,
                exc_info=exc_info,
            )  # fmt: skip
        elif remind:
            self._log.log(
                self._level, "%s still %s since %s, %d %s so far: %s",
                self.subject, down, since, total, refused, error,
            )  # fmt: skip

    def succeeded(self) -> None:
        """A batch went through: ends the outage, if there is one."""
        if self.since is None:  # the usual case, without taking the lock
            return
        with self._lock:
            if self.since is None:
                return
            lasted, total = self._clock() - self.since, self.count
            self.since, self.count = None, 0
        refused, _, up = self._words
        self._log.warning(
            "%s %s after %s; %d %s", self.subject, up, duration(lasted), total, refused
        )


def duration(seconds: float) -> str:
    """`40 ms`, `2.4 s`, `12 s`, `3 min 5 s`, `2 h 14 min`: as precise as an operator needs."""
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f} ms"
    if seconds < 10:
        return f"{max(seconds, 0):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
