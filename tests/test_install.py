"""The install path as users take it: a fresh venv, `pip install .` with no extras, then
README's first command. Every other test runs in a venv that has the test extras, which
would hide a module the package imports at run time but declares only for tests.

One venv for the module: first the plain install (build, then `serve`), then
`pip install '.[postgres]'` on top of it (the collector on the suite's PostgreSQL).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_fixtures.support import fresh_database
from conftest import ROOT, free_port
from sites import checkout_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A copy of the checkout, so building and installing never touch the working tree."""
    target = tmp_path_factory.mktemp("clone") / "policysite"
    for name in checkout_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture(scope="module")
def venv(tmp_path_factory, clone) -> Path:
    """A fresh venv (no system site-packages) with `pip install .` and nothing else."""
    home = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    _pip(home, clone, ".")
    return home


def _pip(home: Path, clone: Path, requirement: str) -> None:
    result = subprocess.run(
        [str(home / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", requirement],
        cwd=clone, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, f"pip install {requirement} failed:\n{result.stderr}"


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who activated the venv: no PYTHONPATH, no test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(home)
    return env | extra


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Server:
    """A command of the venv's, started in the clone; stopped (and its output kept) at exit."""

    def __init__(self, home: Path, clone: Path, args: list[str], port: int, **env: str) -> None:
        self.log = clone / f"server-{port}.log"
        self.process = subprocess.Popen(
            [str(home / "bin" / "python"), "build.py", *args],
            cwd=clone, env=_env(home, **env),
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"

    def wait(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited:\n{self.output()}"
            try:
                _get(self.base + path)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.base}{path} never answered:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def started() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


def _run(home: Path, clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(home / "bin" / "python"), "build.py", *args],
        cwd=clone, env=_env(home), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_plain_install_builds_and_serves_every_page_kind(venv, clone, started):
    built = _run(venv, clone, "build")
    assert built.returncode == 0, built.stderr
    assert (clone / "dist" / "chinh-sach-bao-mat" / "index.html").is_file()
    script = subprocess.run(
        [str(venv / "bin" / "policysite"), "--help"], env=_env(venv), capture_output=True, text=True
    )
    assert script.returncode == 0, script.stderr
    port = free_port()
    server = Server(venv, clone, ["serve", "--port", str(port)], port)
    started.append(server)
    server.wait("/api/health")
    # serve includes drafts: the newest version has a page and a diff against the one before
    version = max(path.name.split(".")[0] for path in (clone / "content" / "privacy").glob("*.md"))
    for path in (
        "/chinh-sach-bao-mat/",
        f"/chinh-sach-bao-mat/{version}/",
        f"/chinh-sach-bao-mat/{version}/diff.html",
        "/en/privacy-policy/",
        "/api/health",
    ):
        status, page = _get(server.base + path)
        assert status == 200, f"{path}: {status}\n{page[:2000]!r}\n{server.output()}"
    assert "Traceback" not in server.output()


def test_postgres_extra_starts_the_collector_on_postgresql(venv, clone, postgres, started):
    _pip(venv, clone, ".[postgres]")
    built = _run(venv, clone, "build")
    assert built.returncode == 0, built.stderr
    database = fresh_database(postgres.url)
    port = free_port()
    server = Server(
        venv, clone, ["collector", "--site", "dist", "--port", str(port)], port,
        DATABASE_URL=database,
    )  # fmt: skip
    started.append(server)
    server.wait("/api/health")
    status, answer = _get(server.base + "/api/health")
    assert status == 200, answer
    index = json.loads((clone / "dist" / "policy.json").read_text("utf-8"))
    body = {
        "consent_id": str(uuid.uuid4()), "seq": 1, "document": "privacy",
        "version": index["documents"]["privacy"]["in_force"], "language": "vi",
        "choices": {"necessary": True, "analytics": False, "advertising": False},
        "action": "reject_all", "gpc": False, "page": "/chinh-sach-bao-mat/",
    }  # fmt: skip
    request = urllib.request.Request(
        server.base + "/api/consent", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "text/plain;charset=UTF-8", "origin": "https://ximgo.com"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    import psycopg

    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT consent_id::text, action FROM consents").fetchall()
    assert stored == [(body["consent_id"], "reject_all")]


def _imported_modules(package: Path) -> dict[str, str]:
    """{top-level module: first file importing it} for every absolute import in `package`,
    at any depth (imports inside functions included: they run on some path)."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(package.parent)))
    return found


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower() for line in requirements}


def test_every_runtime_import_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = _requirement_names(project["dependencies"])
    optional = {"psycopg": _requirement_names(project["optional-dependencies"]["postgres"])}
    distributions = importlib.metadata.packages_distributions()
    undeclared = []
    for module, where in _imported_modules(ROOT / "policysite").items():
        if module in sys.stdlib_module_names or module in ("policysite", "__future__"):
            continue
        names = {name.lower() for name in distributions.get(module, [module])}
        if not names & (declared | optional.get(module, set())):
            undeclared.append(f"{module} (imported by {where}, from {sorted(names)})")
    assert not undeclared, "imported at run time but not in [project] dependencies: " + ", ".join(
        undeclared
    )
