"""Running an asyncio server on a background thread's event loop, for synchronous callers.

Tests, benchmarks and the demo drive the sandboxes with blocking clients (simple-salesforce, exchangelib,
grpc), so the servers need a loop of their own. One mechanism serves both halves and the pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

R = TypeVar("R")

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


async def _cancel_leftover_tasks() -> None:
    """Finish what a server left running (gRPC stream handlers mid-cancel) before the loop closes."""
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


@contextlib.contextmanager
def in_background(
    start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[Any]], name: str
) -> Iterator[asyncio.AbstractEventLoop]:
    """Run `start()` on a new loop in a daemon thread, yield the loop, then `stop()` and close it.

    A failing start still gets `stop()` (whatever it had opened is closed) and re-raises; an error from
    `stop()` after a clean body is raised too, so a server that cannot stop is not silently left behind.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()

    def run(coroutine: Awaitable[Any], timeout: float) -> Any:
        async def wrapped() -> Any:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(timeout=timeout)

    body_failed = True
    try:
        run(start(), START_TIMEOUT_S)
        yield loop
        body_failed = False
    finally:
        try:
            run(stop(), STOP_TIMEOUT_S)
        except Exception:
            if not body_failed:
                raise
        finally:
            with contextlib.suppress(Exception):
                run(_cancel_leftover_tasks(), STOP_TIMEOUT_S)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


class LoopBound:
    """Fault hooks called from tests' threads act on a sandbox whose state only its server's loop touches:
    `bind` names that loop, `run_in_loop` runs a function there and waits for its result."""

    loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def run_in_loop(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the server's loop (state is only touched there) and wait for its result."""
        if self.loop is None or threading.get_ident() == self._loop_thread or not self.loop.is_running():
            return fn()

        async def call() -> R:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)
