"""``python -m oms_kit serve``: open an OMS and serve it over HTTP until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from oms_kit.oms import OMS
from oms_kit.service.server import serve


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop the command serves on: uvloop's when it is installed (a dependency), asyncio's otherwise.

    uvloop's sockets and callbacks cost the server about a third less CPU per request than asyncio's. Only the
    command chooses: ``OMS.serve()`` runs on whatever loop the caller (a notebook's kernel) already has.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(**options: Any) -> int:
    """Run :func:`run_server` with ``options`` on a new loop of :func:`new_event_loop`; its exit status."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_server(**options))


async def run_server(*, url: str | None, account: str, host: str, port: int, token: str | None,
                     read_only_token: str | None, cors_origins: Sequence[str] = (), access_log: bool = False) -> int:
    """Open an OMS on ``url`` (with the random-walk feed), serve it, print where and with which token, and stop
    cleanly (server, then OMS) on SIGINT or SIGTERM. Returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    oms = await OMS.open(url, account=account)
    try:
        server = await serve(oms, host, port, token, read_only_token, cors_origins=cors_origins or None,
                             access_log=access_log)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        status = oms.status()
        where = "durable" if status["durable"] else "in memory"
        print(f"oms_kit: serving account {oms.account!r} ({status['backend']}, {where}) at {server.url}")
        shown = server.token if server.token_generated else "TOKEN"
        print(f"  token: {server.token}" if server.token_generated else "  token: as given")
        if server.read_only_token is not None:
            print("  read-only token: as given (GET requests and the event stream only)")
        print(f"  REST API: {server.url}/api/oms (send 'Authorization: Bearer {shown}')")
        print(f"  docs: {server.url}/docs?token={shown}")
        print("  stop with Ctrl-C", flush=True)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await server.stop()
    finally:
        await oms.close()
    print("oms_kit: stopped", flush=True)
    sys.stdout.flush()
    return 0
