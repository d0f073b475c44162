"""A blocking facade over the OMS for code that cannot ``await``: same method names, no logic of its own.

Inside a running event loop (a Jupyter kernel) each call runs the coroutine on that loop, which nest-asyncio lets
re-enter; the patch is applied here, on first use, never when the core is imported. Elsewhere (a plain script) the
OMS lives on a private loop in a daemon thread, so its feed and monitors keep running between calls; every call,
reads included, runs on that thread so the OMS never sees two threads at once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from oms_kit.errors import OmsError
from oms_kit.oms import OMS

T = TypeVar("T")


class SyncOMS:
    """The methods of :class:`~oms_kit.oms.OMS`, blocking. Made by :func:`open_sync`."""

    def __init__(self, oms: OMS, runner: _Runner) -> None:
        self._oms = oms
        self._runner = runner

    @property
    def oms(self) -> OMS:
        """The async OMS underneath, e.g. for widgets."""
        return self._oms

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._oms, name)
        if not callable(attribute):
            return attribute
        runner = self._runner

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            return runner.call(attribute, *args, **kwargs)

        return call

    def close(self) -> None:
        self._runner.call(self._oms.close)
        self._runner.stop()

    def __enter__(self) -> SyncOMS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncOMS {self._oms!r}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n in dir(self._oms) if not n.startswith("_")})


class LoopThread:
    """An event loop of its own in a daemon thread, for a blocking facade: :meth:`run` hands it a coroutine from any
    other thread and waits for the result, so what lives on the loop (connections, an OMS's feed) goes on between
    calls. ``name`` names the thread; the refusals name the facade (``what``) and hint what to do: ``again`` once it
    is closed, ``inside`` in a call from the loop's own thread."""

    def __init__(self, name: str, what: str, again: str, inside: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()
        self._what, self._again, self._inside = what, again, inside

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` has run: :meth:`run` refuses from then on."""
        return self.loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (its exception is raised here). OmsError once
        stopped, or from the loop's own thread, where waiting would stop the loop that should answer."""
        if threading.current_thread() is self.thread:
            coroutine.close()
            raise OmsError(f"a blocking call of the {self._what} from its own loop would wait for itself",
                           hint=self._inside)
        if self.loop.is_closed():
            coroutine.close()
            raise OmsError(f"this {self._what} is closed", hint=self._again)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        """Stop the loop and its thread. Idempotent."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            self.loop.close()


class _Runner:
    # Inside a running loop (a Jupyter kernel) calls run on it, re-entered; elsewhere on a LoopThread.
    def __init__(self) -> None:
        self.thread: LoopThread | None = None
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.thread = LoopThread("oms-kit-sync-loop", "OMS", again="open it again with ok.open_sync(...)",
                                     inside="in an event callback, use the async OMS underneath (.oms)")
            self.loop = self.thread.loop
        else:
            import nest_asyncio

            nest_asyncio.apply(self.loop)

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.thread is None:
            result = function(*args, **kwargs)
            return self.loop.run_until_complete(result) if inspect.isawaitable(result) else result

        async def run() -> Any:
            result = function(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return self.thread.run(run())

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()


def open_sync(url: str | None = None, **options: Any) -> SyncOMS:
    """Open an OMS like :meth:`OMS.open <oms_kit.oms.OMS.open>` and return a blocking facade over it."""
    runner = _Runner()
    try:
        oms = runner.call(OMS.open, url, **options)
    except BaseException:
        runner.stop()  # no thread left behind by an OMS that did not open
        raise
    return SyncOMS(oms, runner)
