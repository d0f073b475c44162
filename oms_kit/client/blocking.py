"""The blocking twin of the client, for scripts: ``remote = ok.connect_sync("http://HOST:PORT", token=...)`` and
then ``remote.place_order(...)`` without ``await``.

Like :func:`~oms_kit.sync.open_sync`, it adds no logic of its own: each call runs the async client's coroutine and
waits for it. The async client lives on a private event loop in a daemon thread (:class:`~oms_kit.sync.LoopThread`,
as a script's ``open_sync`` OMS does), so the HTTP connections and the event stream stay open between calls, and
any thread may call: calls from several threads run side by side on that loop (a thread waiting for the next event
does not hold up another placing orders). Called from the thread of the loop that serves the OMS itself, a blocking
call would stop that loop while it waits for its answer: there, use ``await ok.connect(...)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Iterator
from typing import Any, Self

from oms_kit.client.remote import DEFAULT_TIMEOUT_S, RemoteOMS, connect
from oms_kit.client.stream import EventStream
from oms_kit.events import Event
from oms_kit.sync import LoopThread

__all__ = ["SyncEventStream", "SyncRemoteOMS", "connect_sync"]


class SyncEventStream:
    """The events of a served OMS, blocking: ``for event in remote.events(): ...`` (see
    :class:`~oms_kit.client.stream.EventStream`). ``with remote.events() as stream:`` connects first."""

    def __init__(self, stream: EventStream, loop: LoopThread) -> None:
        self._stream = stream
        self._loop = loop

    @property
    def subscribed(self) -> dict[str, Any] | None:
        """The server's ``subscribed`` data once connected."""
        return self._stream.subscribed

    @property
    def lagged(self) -> dict[str, Any] | None:
        """The ``lagged`` data when the server said this client fell behind."""
        return self._stream.lagged

    def open(self) -> Self:
        """Connect and wait until the server has subscribed this client."""
        self._loop.run(self._stream.open())
        return self

    def close(self) -> None:
        """Close the connection; the iteration ends."""
        self._loop.run(self._stream.aclose())

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event | dict[str, Any]]:
        return self

    def __next__(self) -> Event | dict[str, Any]:
        try:
            return self._loop.run(self._stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None


class SyncRemoteOMS:
    """The methods of :class:`~oms_kit.client.remote.RemoteOMS`, blocking. Made by :func:`connect_sync`."""

    def __init__(self, remote: RemoteOMS, loop: LoopThread) -> None:
        self._remote = remote
        self._loop = loop

    @property
    def remote(self) -> RemoteOMS:
        """The async client underneath."""
        return self._remote

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._remote.url

    @property
    def account(self) -> str:
        """The account the server serves."""
        return self._remote.account

    def events(self, types: Iterable[str] | str | None = None, *, heartbeat: float | None = None,
               queue: int | None = None, raw: bool = False) -> SyncEventStream:
        """The served OMS's events, blocking (see :meth:`RemoteOMS.events
        <oms_kit.client.remote.RemoteOMS.events>`)."""
        return SyncEventStream(self._remote.events(types, heartbeat=heartbeat, queue=queue, raw=raw), self._loop)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._remote, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        loop = self._loop

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            return loop.run(attribute(*args, **kwargs))

        return call

    def close(self) -> None:
        """Close the connections and stop the client's thread (the served OMS goes on). Idempotent."""
        if not self._loop.stopped:
            self._loop.run(self._remote.close())
            self._loop.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncRemoteOMS {self._remote.url} account={self._remote.account!r}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n in dir(self._remote) if not n.startswith("_")})


def connect_sync(url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> SyncRemoteOMS:
    """Connect like :func:`~oms_kit.client.remote.connect` and return the blocking twin of the client."""
    loop = LoopThread("oms-kit-remote", "client", again="connect again with ok.connect_sync(...)",
                      inside="inside a coroutine, use await ok.connect(...)")
    try:
        remote = loop.run(connect(url, token, timeout=timeout))
    except BaseException:
        loop.stop()
        raise
    return SyncRemoteOMS(remote, loop)
