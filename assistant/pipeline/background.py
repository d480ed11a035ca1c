"""Work done after a reply has streamed (summaries, memory writes), tracked so it can be awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from memory.errors import AssistantError, describe

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
