"""The servers under load, each a process group we start and always stop (bench/collector).

`Server` starts a command in its own session, waits until its port answers, and on exit kills
the whole group (uvicorn's and gunicorn's workers with their supervisor). `postgres_cluster`
is a private, throwaway PostgreSQL (fsync on), deleted at the end, like tests/conftest.py's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
START_LIMIT = 30.0
STOP_LIMIT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    """Return once 127.0.0.1:port accepts, or raise with the server's log if it died."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {START_LIMIT}s")


@contextlib.contextmanager
def server(
    command: list[str], port: int, log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    """Run `command` (which listens on `port`) for the duration of the block."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we stop every worker with it
        )
    try:
        wait_for_port(port, process, log)
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the group (a graceful shutdown commits what is queued), then SIGKILL."""
    for sig, limit in ((signal.SIGTERM, STOP_LIMIT), (signal.SIGKILL, STOP_LIMIT)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(limit)
        except subprocess.TimeoutExpired:
            continue
        # The supervisor is gone; its workers may not be. Kill what is left of the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return


def uvicorn_empty(port: int, workers: int, app: str = "app") -> list[str]:
    """The ceiling (empty_app.py's `app`, or `awaiting_app`), served with the options
    `build.py collector` gives uvicorn (its proxy handling is off too: the collector reads
    X-Forwarded-For itself, and only when trusted)."""
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), f"empty_app:{app}",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--lifespan", "on", "--no-access-log", "--no-server-header", "--no-proxy-headers",
        "--log-level", "warning",
    ]  # fmt: skip


def collector(
    port: int, workers: int, db: str, site: Path, log_key: Path | None = None
) -> list[str]:
    """Ours, exactly as an operator starts it, with the rate limit off (--rate-limit 0):
    every request comes from 127.0.0.1, which the default 30/min would stop at once. The
    log's key is `log_key`, else the default beside a SQLite file (give one for PostgreSQL)."""
    return [
        sys.executable, str(ROOT / "build.py"), "collector", "--host", "127.0.0.1",
        "--port", str(port), "--db", db, "--site", str(site), "--workers", str(workers),
        "--rate-limit", "0", "--log-level", "warning",
        *(["--log-key", str(log_key)] if log_key else []),
    ]  # fmt: skip


def gunicorn_peer(port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "--worker-class", "sync",
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "peer_wsgi:app",
    ]  # fmt: skip


# --- PostgreSQL ------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
    return versions[-1]


@dataclass(frozen=True)
class Cluster:
    url: str
    data: Path

    def postmaster(self) -> int | None:
        """The server's pid (first line of postmaster.pid), whose children are the backends."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """A private cluster on a free port with fsync on; yields it, then deletes it."""
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="bench-collector-pg-"))
    os.chmod(root, 0o755)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()

    def run(tool: str, *args: str) -> None:
        subprocess.run(
            [*as_user, str(bindir / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}"
            " -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        )
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            yield Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", data)
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
