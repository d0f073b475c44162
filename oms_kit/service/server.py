"""Serving an OMS over HTTP on the current event loop: ``server = await serve(oms)``, ``await server.stop()``.

The server (uvicorn) runs as a task of the loop the OMS runs on, so a notebook kernel's own OMS can be served
while the notebook and its dashboard keep using it: one OMS, one loop, no thread. It installs no signal handler
(a kernel's interrupt stays the kernel's) and leaves logging as it is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import uvicorn
from fastapi import APIRouter, FastAPI

from oms_kit.errors import ConfigError
from oms_kit.service.app import create_app
from oms_kit.service.auth import Tokens
from oms_kit.service.connection import HEAD_TIMEOUT_S, guarded_protocol, redact_tokens
from oms_kit.service.guard import MAX_BODY

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Server", "serve"]

log = logging.getLogger("oms_kit.service")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
SHUTDOWN_GRACE_S = 5.0  # seconds open connections get to finish when the server stops
KEEP_ALIVE_S = 5  # seconds an idle connection stays open after a response (uvicorn's default, said here)
MAX_CONNECTIONS = 1000  # open connections (WebSockets too) before new requests are answered 503


class _Uvicorn(uvicorn.Server):
    # uvicorn's own handlers would take SIGINT from the kernel (or from the command, which handles it itself).
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Server:
    """A running HTTP server of an OMS (what :func:`serve` returns).

    Attributes
    ----------
    url : the base URL, e.g. ``http://127.0.0.1:8050``; the REST API is under ``url + "/api/oms"``.
    token : the full token (generated when none was given).
    read_only_token : the read-only token, or None.
    host, port : where it listens (the port chosen by the system when 0 was asked for).
    app : the FastAPI app.
    """

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], app: FastAPI, host: str, port: int,
                 tokens: Tokens) -> None:
        self._server = server
        self._task = task
        self.app = app
        self.host = host
        self.port = port
        self.token = tokens.token
        self.read_only_token = tokens.read_only_token
        self.token_generated = tokens.generated

    @property
    def url(self) -> str:
        """The base URL of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server still serves."""
        return not self._task.done()

    async def stop(self) -> None:
        """Stop serving: no new connections, open ones get a few seconds to finish. Idempotent; the OMS is left
        open (it belongs to whoever opened it)."""
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def __repr__(self) -> str:
        return f"<Server {self.url} {'running' if self.running else 'stopped'}>"


async def serve(oms: OMS, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
                read_only_token: str | None = None, *, cors_origins: Sequence[str] | None = None,
                routers: Sequence[APIRouter] = (), max_body: int = MAX_BODY, access_log: bool = False,
                head_timeout: float = HEAD_TIMEOUT_S, max_connections: int | None = MAX_CONNECTIONS) -> Server:
    """Serve ``oms`` over HTTP on the running event loop; returns once the server listens.

    Parameters
    ----------
    oms : the OMS to serve (it stays open after :meth:`Server.stop`).
    host : the address to listen on; 127.0.0.1 (this machine only) by default. Another address is logged as a
        warning: the token would cross the network in clear text unless TLS is put in front.
    port : the port; 0 lets the system choose (``server.port`` tells which).
    token : the full token; a random one when None (``server.token``).
    read_only_token : a token for watchers, allowed GET requests and the event stream only; None for none.
    cors_origins : origins a browser page may call the API from; none by default.
    routers : further routers to serve behind the same door (see :func:`~oms_kit.service.app.create_app`).
    max_body : the largest request body in bytes.
    access_log : log every request (uvicorn's access log); ``?token=`` values show as ``***`` there and in the
        WebSocket lines of uvicorn's error log.
    head_timeout : seconds a request's line and headers may take to arrive whole, from the connection opening or
        the previous response ending; a slower client is answered 408 and closed (a slowloris cannot hold a
        connection). Idle connections are closed after 5 s as usual.
    max_connections : open connections (WebSockets included) past which new requests are answered 503; None for
        no bound.

    Raises
    ------
    ConfigError
        A host or port that cannot be listened on (in use, not an address of this machine), a bad token.
    """
    tokens = Tokens.make(token, read_only_token, oms.account)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ConfigError("max_body", max_body, "a positive number of bytes")
    if (isinstance(head_timeout, bool) or not isinstance(head_timeout, int | float)
            or not 0 < head_timeout < float("inf")):
        raise ConfigError("head_timeout", head_timeout, "a positive number of seconds")
    if max_connections is not None and (isinstance(max_connections, bool) or not isinstance(max_connections, int)
                                        or max_connections < 1):
        raise ConfigError("max_connections", max_connections, "a positive number of connections, or None")
    app = create_app(oms, tokens, routers=routers, cors_origins=cors_origins, max_body=max_body)
    sock = _listen(host, port)
    if not _is_loopback(host):
        log.warning("serving account %s on %s: reachable from other machines, and the token crosses the network "
                    "in clear text unless TLS is put in front (a reverse proxy)", oms.account, host)
    # No per-message compression on /ws/oms: deflating each event cost about 0.2 ms on the server's loop, which is
    # the OMS's own loop, and events are small and many.
    redact_tokens()
    if access_log:
        # uvicorn cuts its access logger off (no handlers, no propagation) for every server started without the
        # log, so a second server of the same process would log nothing: let its records reach the root again.
        logging.getLogger("uvicorn.access").propagate = True
    # The HTTP protocol is uvicorn's own (httptools when installed: it parses a request in C, about a fifth of
    # h11's cost) with a clock and a size bound on each request's head (see oms_kit.service.connection).
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=access_log, server_header=False,
                            http=guarded_protocol(head_timeout), ws="websockets-sansio", ws_per_message_deflate=False,
                            # uvicorn annotates int; it passes the seconds to asyncio.wait_for, which takes a float.
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,  # type: ignore[arg-type]
                            timeout_keep_alive=KEEP_ALIVE_S,
                            limit_concurrency=max_connections)
    server = _Uvicorn(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="oms-kit-http")
    while not server.started:
        if task.done():
            sock.close()
            error = None if task.cancelled() else task.exception()
            raise ConfigError("host/port", f"{host}:{port}", "an address and port this server can listen on",
                              detail=str(error) if error else None)
        await asyncio.sleep(0.005)
    bound_port = sock.getsockname()[1]
    return Server(server, task, app, host, bound_port, tokens)


def _listen(host: object, port: object) -> socket.socket:
    # The socket is bound here, not by uvicorn: a port in use is then a ConfigError, where uvicorn would call
    # sys.exit() inside the loop (which would end a notebook kernel's loop), and port 0 tells its number.
    if not isinstance(host, str) or not host.strip():
        raise ConfigError("host", host, "an address such as '127.0.0.1', '::1' or '0.0.0.0', or a host name")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError("port", port, "a whole number from 0 to 65535 (0: the system chooses)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError("host", host, "an address or host name of this machine", detail=str(exc)) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError("port", port, "a port free on this address (0: the system chooses)",
                          detail=f"{host}:{port}: {exc.strerror or exc}") from None
    return sock


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
