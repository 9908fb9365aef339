"""Concurrency primitives of the async driver. ``_sync/_compat.py`` has the same names."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .._session import Session

__all__ = ["Guard", "Signal", "from_thread", "lazy", "run_blocking", "sleep"]

sleep = asyncio.sleep


def Guard() -> threading.RLock:
    """A lock: the event loop and the Sentinel watcher threads share the router. Never held across
    an ``await``, so the loop only ever waits for a watcher's few microseconds under it."""
    return threading.RLock()


class Signal:
    """Wakes every waiter when the store learns something about the topology.

    Each waiter awaits a plain future with a timer, not ``asyncio.wait_for``: on Python < 3.12
    ``wait_for`` can swallow a cancellation that races with its timeout (CPython gh-86296), and
    a request task that cannot be cancelled spins until the hold budget ends.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(timeout, _wake, waiter)
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiters.discard(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def from_thread(target: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """A callable that other threads may call: it runs ``target`` as a task on this loop."""
    loop = asyncio.get_running_loop()

    def call() -> None:
        loop.call_soon_threadsafe(lambda: loop.create_task(target()))

    return call


async def run_blocking(target: Callable[[], None]) -> None:
    """Run a blocking call (joining threads) without blocking the loop."""
    await asyncio.to_thread(target)


def lazy(load: Callable[[Session], Awaitable[None]]) -> Callable[[Session], None] | None:
    """Async sessions cannot load on first access: the adapter awaits the load."""
    return None
