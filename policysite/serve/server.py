"""`python build.py serve`: bind the port, build, serve and rebuild on every save until
Ctrl-C or SIGTERM (docs/serve.md). The preview's state is policysite.serve.preview; the HTTP
side is policysite.serve.handlers."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
from collections.abc import Callable

from tornado import httpserver, netutil

from policysite.build.output import check_out_dir
from policysite.errors import PolicyError, Problem
from policysite.serve.handlers import make_app
from policysite.serve.preview import (
    BuildSite,
    OpenCollector,
    Preview,
    ServeOptions,
    log,
    open_collector,
)


def bind(options: ServeOptions) -> list[socket.socket]:
    """Bind the listening sockets, or explain why not (a user's mistake, not a traceback)."""
    try:
        return netutil.bind_sockets(options.port, options.host)
    except OSError as error:
        raise PolicyError(
            Problem(
                None,
                f"cannot listen on {options.host}:{options.port}: {error.strerror}",
                "stop the other server or choose another --port",
            )
        ) from error


async def run(
    options: ServeOptions,
    stop: asyncio.Event,
    *,
    build_site: BuildSite | None = None,
    open_service: OpenCollector = open_collector,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Build, serve and rebuild on changes until `stop` is set. `ready(port)` once listening."""
    # The preview folder is replaced and rewritten: refuse the sources (or the working folder)
    # at start, as a user's mistake, rather than show it as a build error.
    check_out_dir(options.out, (options.content, options.theme))
    sockets = bind(options)
    port = sockets[0].getsockname()[1]
    preview = Preview(options, options.origins(port), build_site, open_service)
    # The watcher is installed at the task's first step, which runs while the first build
    # below waits for its thread: no save between that build and the first event is lost.
    follow = asyncio.create_task(preview.follow(stop))
    server = httpserver.HTTPServer(make_app(preview, port))
    try:
        await preview.rebuild(set())  # a bad --db fails loudly here, not as 503s later
        server.add_sockets(sockets)
        log(f"Serving http://{options.host}:{port}/ with drafts and live reload (Ctrl-C stops)")
        if ready is not None:
            ready(port)
        await stop.wait()
    finally:
        server.stop()
        for sock in sockets:
            sock.close()
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await preview.close()


def serve(args: argparse.Namespace) -> None:
    """`python build.py serve`: run until Ctrl-C or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(ServeOptions.from_args(args), stop)

    asyncio.run(main())
