"""What one connection may cost the server, and what its log lines may show.

uvicorn closes a connection that stays idle after a response (its keep-alive timeout), but a request's head (the
request line and headers) may take as long as the client likes: any byte stops that timer, and nothing starts
another until the head is complete. A client that connects and then sends its headers a byte at a time (slowloris)
would hold a connection, and its memory and file descriptor, for ever, and with the httptools parser there is no
bound on a head's size either. :func:`guarded_protocol` gives uvicorn a protocol that closes such connections: the
head must be whole within ``head_timeout`` seconds of the connection opening or the previous response ending (408),
and at most ``max_head`` bytes (431). Bodies are the Guard's business (:mod:`oms_kit.service.guard`).

A refused connection is closed as HTTP servers close one whose client may still be sending (nginx's
``lingering_close``): the answer, then the end of the server's side (a FIN), then whatever the client still sends
is read and dropped for up to :data:`LINGER_S` seconds. Closed at once, with bytes of the client's arriving after or
unread, the kernel answers with a reset, which makes the client's system drop the answer it has not read yet: a
slow client would see "connection reset" where the server said 408.

:func:`redact_tokens` keeps ``?token=`` values out of uvicorn's log lines: its access log shows the path with its
query, and its WebSocket lines (``"WebSocket /ws/oms?token=…" [accepted]``) go to the ``uvicorn.error`` logger at
INFO, on whether or not the access log is on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from oms_kit.service.encode import dumps
from oms_kit.service.errors import error_body

__all__ = ["HEAD_TIMEOUT_S", "MAX_HEAD", "guarded_protocol", "redact_tokens"]

HEAD_TIMEOUT_S = 10.0  # seconds a request's head may take to arrive whole
MAX_HEAD = 64 * 1024  # bytes of a request's line and headers; a client's are well under 2 KiB
LINGER_S = 2.0  # seconds a refused connection is read (and dropped) after its answer, before it is closed
_TOKEN = re.compile(r"(?i)([?&]token=)[^&#\s\"]*")
_LOGGERS = ("uvicorn.access", "uvicorn.error")


class _RedactTokens(logging.Filter):
    """Replaces the value of every ``token=`` query parameter in a record's message and arguments by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _redact(text: str) -> str:
    return _TOKEN.sub(r"\1***", text) if "token=" in text.lower() else text


_FILTER = _RedactTokens()


def redact_tokens() -> None:
    """Install the redaction on uvicorn's access and error loggers (once; later calls change nothing)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _refusal(status: int, reason: bytes, code: str, message: str) -> bytes:
    content = dumps(error_body(code, message, None, "send the request line and headers at once"))
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
            % (status, reason, len(content)) + content)


def guarded_protocol(head_timeout: float = HEAD_TIMEOUT_S, max_head: int = MAX_HEAD) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, else h11) with a clock and a size bound on each request's
    head: between requests (from the connection opening, or from a response's end until the next head is
    complete) at most ``head_timeout`` seconds and ``max_head`` bytes, else the connection is answered 408 or 431
    and closed. Pass it as ``uvicorn.Config(http=...)``."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class GuardedHttp(base):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _head_cycle: object = None
        _linger: asyncio.TimerHandle | None = None  # set once refused: the close that ends the lingering

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._start_head_clock()

        def data_received(self, data: bytes) -> None:
            if self._linger is not None:  # refused: what the client still sends is dropped
                return
            waiting = self._head_timer is not None
            super().data_received(data)
            if self.transport.get_protocol() is not self:  # upgraded (a WebSocket): no longer ours to time
                self._stop_head_clock()
            elif self.cycle is not self._head_cycle:  # a head was completed: its request is under way
                self._head_cycle = self.cycle
                self._stop_head_clock()
            elif waiting:
                self._head_bytes += len(data)
                if self._head_bytes > max_head and not self.transport.is_closing():
                    self._refuse(431, b"Request Header Fields Too Large", "HEADERS_TOO_LARGE",
                                 f"the request line and headers are longer than {max_head} bytes")

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.cycle is None or self.cycle.response_complete:  # no pipelined request under way
                self._start_head_clock()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_clock()
            if self._linger is not None:
                self._linger.cancel()
            super().connection_lost(exc)

        def _start_head_clock(self) -> None:
            self._stop_head_clock()
            if not self.transport.is_closing():
                self._head_bytes = 0
                self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _stop_head_clock(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            if self._head_bytes:  # a head was begun: say why it ends; an idle connection is simply closed
                self._refuse(408, b"Request Timeout", "REQUEST_TIMEOUT",
                             f"the request line and headers did not arrive within {head_timeout:g} s")
            else:
                self.transport.close()

        def _refuse(self, status: int, reason: bytes, code: str, message: str) -> None:
            # The answer and a FIN, then the client's bytes read and dropped until it closes or LINGER_S has passed
            # (the module docstring says why).
            self._stop_head_clock()
            transport = self.transport
            transport.write(_refusal(status, reason, code, message))
            if not transport.can_write_eof():
                transport.close()
                return
            transport.write_eof()
            self._linger = self.loop.call_later(LINGER_S, transport.close)

    return GuardedHttp
