"""Compile the theme on the other core while the sources load (docs/fast-builds.md, *`--jobs N`*).

Before its render workers can start, a cold build must compile every Jinja2 template and
gettext catalog of the theme: about a tenth of its time, on one core, while the other waits.
None of it needs the sources. So `start` forks a helper that compiles them while this process
imports and loads the sources, and `finish` takes the results back as data: the templates'
code in Jinja2's own bytecode-cache form (marshal) and the catalogs' `.mo` bytes. Installed in
this process's caches, they make the normal compile steps cache hits, so the output is the
same bytes as without the helper.

The helper is only an accelerator. If it fails for any reason (a template or catalog error
included), its results are dropped and the normal steps meet the error again and report it
exactly as a serial build does.
"""

from __future__ import annotations

import marshal
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NamedTuple


class Helper(NamedTuple):
    pid: int
    results: int  # the read end of the pipe the helper writes its results into


def start(content_dir: Path, theme_dir: Path) -> Helper | None:
    """Fork the helper (on Linux, when this process has no other thread: a fork copies only
    the calling thread, and another one might hold a lock the helper would wait for)."""
    if sys.platform != "linux" or threading.active_count() > 1:
        return None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # never returns, never runs this process's clean-ups
        status = 1
        try:
            os.close(read)
            data = marshal.dumps(_compile_theme(content_dir, theme_dir))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    return Helper(pid, read)


def finish(helper: Helper | None) -> None:
    """Wait for the helper and install what it compiled (nothing if it failed)."""
    if helper is None:
        return
    with os.fdopen(helper.results, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(helper.pid, 0)
    if status != 0 or not data:
        return
    from policysite import catalogs
    from policysite.render import theme

    templates, compiled = marshal.loads(data)
    theme.install_compiled(templates)
    catalogs.install_compiled({(Path(path), mtime): mo for path, mtime, mo in compiled})


def stop(helper: Helper | None) -> None:
    """The build failed before it needed the helper: end it now rather than wait for it."""
    if helper is not None:
        os.kill(helper.pid, signal.SIGKILL)
        os.waitpid(helper.pid, 0)
        os.close(helper.results)


def _compile_theme(content_dir: Path, theme_dir: Path) -> tuple[dict, list]:
    """In the helper: compile every template and catalog the site's languages use."""
    from policysite import catalogs
    from policysite.content.config import load_config
    from policysite.render import theme

    languages = load_config(content_dir).languages
    loaded = theme.load_theme(theme_dir)
    theme.compile_templates(loaded, languages)
    for language in languages:
        catalogs.load_translations(theme_dir, language, "widget")
    return theme.compiled(), [(str(p), m, mo) for (p, m), mo in catalogs.compiled().items()]
