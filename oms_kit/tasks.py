"""The background tasks of an OMS (the feed, the risk monitor, a halt or a re-lock started by the write path), by
name: a failure is logged when it happens rather than lost with the task, and close stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("oms_kit")


class Tasks(dict[str, asyncio.Task[Any]]):
    """Running and finished tasks by name; a name started again refers to the newer task."""

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` as the task ``name`` on the running loop."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        task.add_done_callback(_done)
        self[name] = task

    def alive(self) -> dict[str, bool]:
        """Whether each task is still running."""
        return {name: not task.done() for name, task in self.items()}

    async def stop(self) -> None:
        """Cancel every task and wait until each has ended (their failures were logged already)."""
        for task in self.values():
            task.cancel()
        for task in self.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _done(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())
