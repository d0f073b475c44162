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
from typing import Any

from oms_kit.oms import OMS


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


class _Runner:
    def __init__(self) -> None:
        try:
            self.loop = asyncio.get_running_loop()
            self.thread: threading.Thread | None = None
            import nest_asyncio

            nest_asyncio.apply(self.loop)
        except RuntimeError:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, name="oms-kit-sync-loop", daemon=True)
            self.thread.start()

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.thread is None:
            result = function(*args, **kwargs)
            return self.loop.run_until_complete(result) if inspect.isawaitable(result) else result

        async def run() -> Any:
            result = function(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        async def wrapper() -> Any:
            return await coroutine

        return self.call(wrapper)

    def stop(self) -> None:
        if self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            self.loop.close()


def open_sync(url: str | None = None, **options: Any) -> SyncOMS:
    """Open an OMS like :meth:`OMS.open <oms_kit.oms.OMS.open>` and return a blocking facade over it."""
    runner = _Runner()
    oms = runner.run(OMS.open(url, **options))
    return SyncOMS(oms, runner)
