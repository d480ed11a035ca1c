"""Work done after a reply has streamed (summaries, memory writes), tracked so it can be awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from memory.errors import AssistantError, StoreError, describe

log = logging.getLogger("assistant.background")


class BackgroundWork:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, name: str, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._guard(name, work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guard(name: str, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except AssistantError as exc:  # background work must never take the app down; it is retried next turn
            log.warning("background %s failed: %s", name, describe(exc))
        except Exception:  # a bug: logged with its traceback, so it is seen rather than taken for a passing fault
            log.exception("background %s hit a bug", name)

    async def drain(self) -> None:
        """Wait for everything spawned so far (and what it spawns)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def pending(self) -> int:
        return len(self._tasks)


async def supervised(name: str, work: Callable[[], Awaitable[Any]], *, pause_s: float = 1.0) -> None:
    """Run a long-lived worker until it returns or is cancelled, starting it again after a store fault (a
    Postgres restart or a Redis kill must not end it for the life of the process)."""
    while True:
        try:
            await work()
            return
        except StoreError as exc:
            log.warning("%s stopped on a store fault, restarting in %.0f s: %s", name, pause_s, describe(exc))
            await asyncio.sleep(pause_s)
