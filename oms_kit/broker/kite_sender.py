"""The thread that sends a :class:`~oms_kit.broker.kite.KiteBroker`'s orders, modifies and cancels to Kite.

The OMS's calls into a broker are synchronous and run on the event loop; an HTTP request there would stall every
other task of the kernel (prices, the risk monitor, the dashboard) for as long as the broker takes. So the broker
only queues a :class:`Command`, and this one thread sends them, in the order they came, except that cancels go
before everything else: a kill switch's cancels do not wait behind a queue of new orders (and those orders, ended
meanwhile in the OMS, are not sent at all). What happened comes back to the loop as a :class:`Report`.

Requests are paced to the exchange's order rate (``orders_per_second``), and retried with a doubling wait while the
broker cannot be reached. A place is never retried blindly: once a place has failed in a way that leaves open
whether it reached the broker (a timeout, a dropped connection, a server error), the order book is searched for the
order's tag first, and the order is placed again only when the broker does not have it. Modify (absolute values)
and cancel are safe to repeat. An answer that is the broker's refusal (bad input, an order it will not change, a
token it does not take) is final and not retried.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from oms_kit.broker.kite_config import Credentials
from oms_kit.models import Order

log = logging.getLogger("oms_kit")

FIRST_RETRY_S = 0.05  # the first wait after a failed request; it doubles up to the broker's max_backoff
# The broker's answers that refuse a request for good: sending the same again would be refused again.
REFUSALS: tuple[type[Exception], ...] = (kex.InputException, kex.OrderException, kex.TokenException,
                                         kex.PermissionException)


@dataclass(slots=True)
class Command:
    """A request for the sender: ``place``, ``modify`` or ``cancel`` of ``order`` (the OMS's own object, read here
    only for its status), with the Kite call's arguments."""

    kind: str
    order: Order
    params: dict[str, Any]
    tag: str = ""
    previous: dict[str, Any] = field(default_factory=dict)  # modify: the values before, to put back if refused


@dataclass(slots=True)
class Report:
    """What came of a command, for the loop: ``placed`` (``broker_id``), ``rejected`` and ``modify_refused``
    (``reason``), ``dropped`` (a place not sent: the order ended in the OMS first), ``done`` (a modify or cancel
    went through, or was refused: the next poll shows how things stand)."""

    kind: str
    order_id: str
    broker_id: str | None = None
    reason: str = ""
    previous: dict[str, Any] = field(default_factory=dict)


class Link:
    """The broker's connection as the last request found it; written by the sender and the poller."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self.state = "connecting"  # until the first answer
        self.last_error: str | None = None
        self.since: datetime = datetime.now(UTC)
        self.failures = 0  # requests that failed since the broker last answered
        self.retries = 0  # requests sent again, in all
        self.reconnections = 0  # times the broker answered again after it could not be reached

    def ok(self) -> None:
        """The broker answered (an error answer too: it is reachable)."""
        with self._lock:
            if self.state != "connected":
                if self.state == "disconnected":
                    log.info("the Kite broker is reachable again")
                    self.reconnections += 1
                self.state, self.since = "connected", datetime.now(UTC)
            self.failures = 0

    def failed(self, exc: BaseException) -> None:
        """A request failed without the broker's answer."""
        text = self._credentials.redact(f"{type(exc).__name__}: {exc}")[:500]
        with self._lock:
            self.failures += 1
            self.last_error = text
            if self.state != "disconnected":
                log.warning("the Kite broker cannot be reached (%s); requests are retried", text)
                self.state, self.since = "disconnected", datetime.now(UTC)


def refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the broker's final answer (not retried)."""
    return isinstance(exc, REFUSALS)


class Sender:
    """The sending thread; see the module docstring. ``post`` hands a report to the loop (thread-safe)."""

    def __init__(self, client: KiteConnect, credentials: Credentials, link: Link, rate: int, max_backoff: float,
                 ids: dict[str, str], post: Callable[[Report], None]) -> None:
        self.client = client
        self._credentials = credentials
        self._link = link
        self._rate = rate
        self._max_backoff = max_backoff
        self._ids = ids  # OMS order id -> broker order id, shared with the broker (written here on a place)
        self._post = post
        self._cancels: collections.deque[Command] = collections.deque()
        self._others: collections.deque[Command] = collections.deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._sent: collections.deque[float] = collections.deque()  # monotonic times of the last second's requests
        self._thread: threading.Thread | None = None
        self.busy = False  # a command is being sent

    def put(self, command: Command) -> None:
        """Queue a command; cancels go first."""
        with self._ready:
            (self._cancels if command.kind == "cancel" else self._others).append(command)
            self._ready.notify()

    def queued(self) -> int:
        """Commands waiting to be sent."""
        return len(self._cancels) + len(self._others)

    def start(self) -> None:
        """Start the thread (again, after a stop: the broker of an OMS opened anew)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="oms-kit-kite-sender", daemon=True)
            self._thread.start()

    def stop(self, grace: float) -> None:
        """Send what is queued for up to ``grace`` seconds, then stop (a command cut short is left unsent)."""
        deadline = time.monotonic() + grace
        while (self.queued() or self.busy) and time.monotonic() < deadline and self._thread is not None \
                and self._thread.is_alive():
            time.sleep(0.01)
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(grace, 0.1))

    # -- the thread ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._ready:
                while not self._cancels and not self._others and not self._stop.is_set():
                    self._ready.wait()
                if self._stop.is_set():
                    return
                command = self._cancels.popleft() if self._cancels else self._others.popleft()
                self.busy = True
            try:
                {"place": self._place, "modify": self._modify, "cancel": self._cancel}[command.kind](command)
            except Exception:  # never let one command end the thread: the next ones still go out
                log.exception("sending a %s of order %s to Kite failed", command.kind, command.order.order_id)
            finally:
                self.busy = False

    def _place(self, command: Command) -> None:
        order, wait = command.order, FIRST_RETRY_S
        uncertain = False  # a place failed in a way that leaves open whether the broker has the order
        while not self._stop.is_set():
            if uncertain and order.order_id in self._ids:
                return  # a poll found it by its tag meanwhile
            if uncertain:
                try:
                    found = self._find(command.tag)
                except Exception as exc:
                    wait = self._retry(exc, wait)
                    continue
                if found is not None:
                    self._placed(order.order_id, found)
                    return
            if order.is_terminal:  # ended in the OMS (kill switch, cancel) before it reached the broker: not sent
                self._post(Report("dropped", order.order_id))
                return
            self._pace()
            try:
                broker_id = self.client.place_order(**command.params)
            except Exception as exc:
                if refusal(exc):
                    self._link.ok()
                    self._post(Report("rejected", order.order_id, reason=self._words(exc)))
                    return
                uncertain = True
                wait = self._retry(exc, wait)
                continue
            self._link.ok()
            self._placed(order.order_id, str(broker_id))
            return

    def _modify(self, command: Command) -> None:
        order, wait = command.order, FIRST_RETRY_S
        while not self._stop.is_set() and not order.is_terminal:
            broker_id = self._ids.get(order.order_id)
            if broker_id is None:  # cannot happen for an accepted order; nothing to send it to
                return
            self._pace()
            try:
                self.client.modify_order(order_id=broker_id, **command.params)
            except Exception as exc:
                if refusal(exc):
                    self._link.ok()
                    self._post(Report("modify_refused", order.order_id, broker_id, self._words(exc),
                                      command.previous))
                    return
                wait = self._retry(exc, wait)
                continue
            self._link.ok()
            self._post(Report("done", order.order_id, broker_id))
            return

    def _cancel(self, command: Command) -> None:
        order, wait = command.order, FIRST_RETRY_S
        while not self._stop.is_set():
            broker_id = self._ids.get(order.order_id)
            if broker_id is None:
                return
            self._pace()
            try:
                self.client.cancel_order(order_id=broker_id, **command.params)
            except Exception as exc:
                if not refusal(exc):
                    wait = self._retry(exc, wait)
                    continue
                # Refused: most often the order ended meanwhile (filled, cancelled); the next poll says which.
                self._link.ok()
                log.info("Kite refused the cancel of order %s: %s", order.order_id, self._words(exc))
            else:
                self._link.ok()
            self._post(Report("done", order.order_id, broker_id))
            return

    # -- helpers ------------------------------------------------------------------------------------------------

    def _find(self, tag: str) -> str | None:
        # The broker's order id of the order carrying ``tag``, if the broker has it.
        for entry in self.client.orders() or []:
            if isinstance(entry, dict) and entry.get("tag") == tag and entry.get("order_id"):
                return str(entry["order_id"])
        return None

    def _placed(self, order_id: str, broker_id: str) -> None:
        self._ids[order_id] = broker_id
        self._post(Report("placed", order_id, broker_id))

    def _retry(self, exc: BaseException, wait: float) -> float:
        self._link.failed(exc)
        self._link.retries += 1
        self._stop.wait(wait)
        return min(wait * 2, self._max_backoff)

    def _pace(self) -> None:
        # At most ``rate`` requests in any second: the exchange's limit, and the broker's answer to more is an error.
        sent = self._sent
        while len(sent) >= self._rate:
            wait = 1.0 - (time.monotonic() - sent[0])
            if wait <= 0:
                sent.popleft()
            elif self._stop.wait(wait):
                return
        sent.append(time.monotonic())

    def _words(self, exc: BaseException) -> str:
        return self._credentials.redact(f"{exc}")[:1000] or type(exc).__name__
