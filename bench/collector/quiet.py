"""Whose CPU a run used: ours (the server, its database, wrk) or someone else's.

This machine is shared: other sessions' builds and test suites run beside a benchmark, and a
busy neighbour halves a result without leaving a trace in it. So before each target we wait
(a bounded time) for the machine to be idle, and during each measured run we count the busy
CPU time that did not belong to our processes; the report shows it next to the numbers.
Kernel threads and interrupts count as ours: the journal commits and loopback traffic of the
target under test are most of them (a commit per request keeps ext4's journal thread busy).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
IDLE_BUSY = 0.10  # the machine counts as idle below 10 % of all cores busy


def busy_seconds() -> float:
    """CPU seconds spent, on all cores, in user and system time since boot.

    Interrupts are left out: the loopback traffic and fsyncs under test cause most of them.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[0] + fields[1] + fields[2]) / TICK


def process_seconds(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) used so far by the living processes among `pids`."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # it ended: its time is lost, so a short-lived helper reads as foreign
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def kernel_threads() -> list[int]:
    """Kernel threads (children of kthreadd): the ext4 journal (one commit per fsync) and the
    network stack work for whoever does I/O, mostly the target under test here."""
    return [pid for pid in _all_pids() if _field(pid, 1) == 2]


def group_pids(pgid: int) -> list[int]:
    """The processes of process group `pgid` (a server and its workers)."""
    return [pid for pid in _all_pids() if _field(pid, 2) == pgid]


def children_pids(parent: int) -> list[int]:
    """`parent` and its direct children (the postmaster and its backends)."""
    return [parent, *(pid for pid in _all_pids() if _field(pid, 1) == parent)]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _field(pid: int, index: int) -> int | None:
    """Field `index` after the command name in /proc/pid/stat (1: ppid, 2: pgrp)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[index])


def wait_for_idle(limit: float) -> float:
    """Wait until the machine is idle for 1 s, at most `limit` s; return the last busy share."""
    deadline = time.monotonic() + limit
    while True:
        start = busy_seconds()
        time.sleep(1.0)
        share = (busy_seconds() - start) / (os.cpu_count() or 1)
        if share < IDLE_BUSY or time.monotonic() >= deadline:
            return share


@dataclass
class ForeignMeter:
    """Measures the busy CPU of everyone but `ours` (plus our own children: wrk) over a block."""

    ours: Callable[[], list[int]]
    foreign: float = 0.0  # CPU seconds
    share: float = 0.0  # of all cores over the block's wall time
    server_cores: float = 0.0  # our server (and its database) in cores, e.g. 1.0 = one core
    load_cores: float = 0.0  # wrk

    def __enter__(self) -> ForeignMeter:
        self._kernel = kernel_threads()
        self._pids = self.ours()
        self._start = (
            busy_seconds(),
            process_seconds(self._pids),
            _children_seconds(),
            process_seconds(self._kernel),
        )
        self._wall = time.monotonic()
        return self

    def __exit__(self, *_: object) -> None:
        busy, mine, children = busy_seconds(), process_seconds(self._pids), _children_seconds()
        kernel = process_seconds(self._kernel) - self._start[3]
        used = busy - self._start[0]
        ours = (mine - self._start[1]) + (children - self._start[2]) + kernel
        self.foreign = max(0.0, used - ours)
        wall = time.monotonic() - self._wall
        self.share = self.foreign / (wall * (os.cpu_count() or 1))
        self.server_cores = (mine - self._start[1]) / wall
        self.load_cores = (children - self._start[2]) / wall


def _children_seconds() -> float:
    """CPU seconds of this process's waited-for children (wrk, once it has exited)."""
    usage = os.times()
    return usage.children_user + usage.children_system
