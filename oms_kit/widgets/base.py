"""What every panel shares: the OMS it shows, live refresh from the EventBus, actions run on the loop, errors shown.

A panel subscribes to a few event kinds. An event only marks the panel stale; the refresh itself runs later on the
event loop, at most once per ``interval`` seconds, so a burst of a thousand fills costs a handful of refreshes, not a
thousand. Buttons never block the loop: their OMS calls run as tasks, and whatever they raise is shown in the panel.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Coroutine
from html import escape
from typing import Any, TypeAlias, TypeVar

import ipywidgets as w

from oms_kit.errors import OmsError
from oms_kit.events import Event
from oms_kit.oms import OMS
from oms_kit.sync import SyncOMS
from oms_kit.widgets.style import STYLE

DEFAULT_INTERVAL = 0.25  # seconds between two refreshes of a panel: four a second at most
# A panel whose redraw is slow waits this many times its last redraw's duration before the next one, so that
# however large the book, one panel never takes more than a tenth of the loop: clicks and the feed go on.
COST_FACTOR = 9
MAX_ERRORS_SHOWN = 3

OmsLike: TypeAlias = OMS | SyncOMS  # what a panel shows: the async OMS or the blocking facade over one
# A button's OMS call: made on the blocking facade it returns the result, on the async OMS a coroutine.
Call: TypeAlias = Callable[[OmsLike], Any]


W = TypeVar("W", bound=w.Widget)


def classed(widget: W, *classes: str) -> W:
    """``widget`` with the DOM classes ``classes`` (stable names for browser tests and CSS)."""
    for name in classes:
        widget.add_class(name)
    return widget


def button(text: str, css_class: str, style: str = "", *, tooltip: str = "", width: str | None = None) -> w.Button:
    """A button with a text (or emoji) label: icons would need a font from a CDN that may not be reachable."""
    layout = w.Layout(width=width) if width else w.Layout(width="auto")
    return classed(w.Button(description=text, button_style=style, tooltip=tooltip or text, layout=layout), css_class)


def close_tree(widget: w.Widget) -> None:
    """Close ``widget`` and every widget inside it, so no comm is left open in the kernel."""
    if isinstance(widget, w.Box):
        for child in widget.children:
            close_tree(child)
    w.Widget.close(widget)


def row_count(name: str, value: object) -> int:
    """``value`` checked as a panel's row limit (``max_rows`` and the like): a positive whole number."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: {value!r} was given; a positive whole number is allowed")
    return value


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Panel(w.VBox):
    """Base of the dashboard panels: the OMS, live coalesced refresh, actions as tasks, errors shown inside.

    Parameters
    ----------
    oms : an ``oms_kit.OMS`` (async) or the blocking ``oms_kit.open_sync(...)`` facade.
    interval : shortest time in seconds between two refreshes; events in between are coalesced into one.
    every : refresh at least this often (seconds) even without events, e.g. for a clock; None: only on events.
        A read-only OMS, whose changes happen in another process, is refreshed every second when this is None.
    """

    kinds: tuple[str, ...] = ()  # the event kinds that make this panel stale
    title_text = ""
    css_class = "oms-panel"

    def __init__(self, oms: OmsLike, *, interval: float = DEFAULT_INTERVAL, every: float | None = None) -> None:
        super().__init__()
        if not (isinstance(interval, int | float) and interval >= 0):
            raise ValueError(f"interval: {interval!r} was given; a number of seconds >= 0 is allowed")
        if every is not None and not (isinstance(every, int | float) and every > 0):
            raise ValueError(f"every: {every!r} was given; a positive number of seconds or None is allowed")
        self._sync: SyncOMS | None = oms if isinstance(oms, SyncOMS) else None
        self.oms: OMS = oms.oms if isinstance(oms, SyncOMS) else oms
        self.read_only: bool = self.oms.read_only
        self.interval = float(interval)
        self.errors: list[str] = []  # every error shown in this panel, oldest first
        self.last_message = ""
        self.refreshes = 0
        self._closed = False
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last_refresh = float("-inf")
        self.cost = 0.0  # CPU seconds the last refresh took
        self._tasks: set[asyncio.Task[Any]] = set()
        self._error_view = classed(w.HTML(layout=w.Layout(display="none")), "oms-error")
        self._message = classed(w.HTML(), "oms-message")
        body = self._build()
        title = [classed(w.HTML(f"<b>{self.title_text}</b>"), "oms-title")] if self.title_text else []
        self.children = (w.HTML(STYLE), *title, *body, self._message, self._error_view)
        classed(self, "oms-panel", self.css_class)
        self.refresh_now()
        self._unsubscribe: Callable[[], None] | None = (
            self.oms.subscribe(self._on_event, self.kinds) if self.kinds else None
        )
        self._ticker: asyncio.Task[None] | None = None
        period = every if every is not None else (1.0 if self.read_only else None)
        loop = running_loop()
        if period is not None and loop is not None:
            self._ticker = loop.create_task(self._tick(period), name=f"oms-kit-{type(self).__name__}-tick")

    # -- for subclasses ---------------------------------------------------------------------------------------

    def _build(self) -> list[w.Widget]:
        """Make the panel's widgets; returns those to show between the title and the message line."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw from the OMS's current state. Called by the coalescing scheduler; cheap when nothing changed."""
        raise NotImplementedError

    # -- refresh ----------------------------------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Redraw at once (a pending coalesced refresh is folded into this one)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        started = time.thread_time()  # CPU time: a wait for another thread or process is not this panel's cost
        try:
            self.refresh()
            self.refreshes += 1
        except Exception as exc:
            self.report(exc, "refresh")
        self._last_refresh = time.monotonic()
        self.cost = time.thread_time() - started

    def _on_event(self, event: Event) -> None:
        # Runs inside the OMS's publish, on its hot path: only note that a refresh is due.
        self.mark_stale()

    def mark_stale(self) -> None:
        """Ask for a refresh: on the loop, soon, folded together with any other asked for meanwhile."""
        if self._handle is not None or self._closed:
            return
        loop = running_loop()
        if loop is None:  # published outside any loop (a plain script): nothing to coalesce with
            self.refresh_now()
            return
        gap = max(self.interval, self.cost * COST_FACTOR)
        delay = max(0.0, self._last_refresh + gap - time.monotonic())
        self._handle = loop.call_later(delay, self._scheduled_refresh) if delay else loop.call_soon(
            self._scheduled_refresh)

    def _scheduled_refresh(self) -> None:
        self._handle = None
        if not self._closed:
            self.refresh_now()

    async def _tick(self, period: float) -> None:
        while not self._closed:
            await asyncio.sleep(period)
            self.mark_stale()

    async def settle(self) -> None:
        """Wait for the actions started by buttons, then apply any pending refresh (tests and notebooks)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if self._handle is not None:
            self.refresh_now()

    def handler(self, what: str, action: Callable[[], Any]) -> Callable[[Any], None]:
        """A widget callback (``on_click``, ``observe``) running ``action``; what it raises is shown in the panel."""

        def run(_: Any) -> None:
            try:
                action()
            except Exception as exc:
                self.report(exc, what)

        return run

    # -- actions ----------------------------------------------------------------------------------------------

    def _act(self, what: str, call: Call, *, then: Callable[[Any], None] | None = None) -> asyncio.Task[Any] | None:
        """Make the OMS call ``call`` (e.g. ``lambda oms: oms.cancel_all()``) for a button without blocking the loop.

        On a running loop the call runs as a task (returned, so a caller may await it); with the blocking facade
        outside any loop (a plain script) it runs at once and None is returned. A failure is shown in the panel as
        ``what`` failed, with the OMS's message and hint; ``then(result)`` runs after a success.
        """
        if running_loop() is None:
            if self._sync is None:
                self.say(f"{what} failed: no running event loop; use an async OMS in a notebook, or open_sync()",
                         "error")
                return None
            try:
                result = call(self._sync)
            except Exception as exc:
                self._action_failed(what, exc)
            else:
                self._action_done(then, result)
            return None
        return self.spawn(what, call(self.oms), then)

    def spawn(self, what: str, coroutine: Coroutine[Any, Any, Any],
              then: Callable[[Any], None] | None = None) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task on the running loop; a failure is shown in the panel."""
        task = asyncio.get_running_loop().create_task(coroutine, name=f"oms-kit-widget-{what}")
        self._tasks.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                self.say(f"{what} was cancelled", "error")
            elif task.exception() is not None:
                self._action_failed(what, task.exception())  # type: ignore[arg-type]
            else:
                self._action_done(then, task.result())

        task.add_done_callback(done)
        return task

    def _action_done(self, then: Callable[[Any], None] | None, result: Any) -> None:
        try:
            if then is not None:
                then(result)
        except Exception as exc:
            self.report(exc, "after an action")
        self.mark_stale()

    def _action_failed(self, what: str, exc: BaseException) -> None:
        # An OmsError or ValueError is the OMS refusing (reset in breach, bad input): say it plainly. Anything
        # else is a fault and goes to the error area with its traceback's last line.
        if isinstance(exc, OmsError | ValueError):
            hint = exc.hint if isinstance(exc, OmsError) else None
            self.say(f"{what} refused: {exc}" + (f" — {hint}" if hint else ""), "error")
        else:
            self.report(exc, what)

    # -- messages and errors ----------------------------------------------------------------------------------

    def say(self, text: str, level: str = "info") -> None:
        """Show a one-line message under the panel (level info, ok or error)."""
        colour = {"ok": "var(--oms-up)", "error": "var(--oms-down)"}.get(level, "inherit")
        self._message.value = f"<span class='oms-msg-{level}' style='color:{colour}'>{escape(text)}</span>"
        self.last_message = text

    def report(self, exc: BaseException, where: str) -> None:
        """Show an unexpected error raised in a callback of this panel (never lost in a log)."""
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        self.errors.append(f"{where}: {last}")
        shown = "<br>".join(escape(e) for e in self.errors[-MAX_ERRORS_SHOWN:])
        self._error_view.value = f"<span style='color:var(--oms-down)'>⚠ {shown}</span>"
        self._error_view.layout.display = None

    def clear_errors(self) -> None:
        """Hide the error area (the errors stay in ``errors``)."""
        self._error_view.value = ""
        self._error_view.layout.display = "none"

    # -- lifecycle --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening to the OMS and close the panel's widgets."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._handle is not None:
            self._handle.cancel()
        if self._ticker is not None:
            self._ticker.cancel()
        close_tree(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} refreshes={self.refreshes} errors={len(self.errors)}>"
