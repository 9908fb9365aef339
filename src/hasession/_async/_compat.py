"""Concurrency primitives of the async driver. ``_sync/_compat.py`` has the same names."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._session import Session

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # pragma: no cover - redis-py depends on async-timeout there
    from async_timeout import timeout as _deadline  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "Connection",
    "ConnectionPool",
    "Guard",
    "SSLConnection",
    "Signal",
    "UnixDomainSocketConnection",
    "from_thread",
    "lazy",
    "read_reply",
    "run_blocking",
    "sleep",
]

sleep = asyncio.sleep


async def read_reply(conn: Any, timeout: float | None) -> Any:
    """Read one reply, within ``timeout`` seconds (``None``: the connection's socket timeout).

    A read that times out raises redis-py's ``TimeoutError`` with the connection closed. redis-py's
    own ``read_response(timeout=...)`` returns ``None`` instead: indistinguishable from a nil reply,
    and the real reply stays unread on the pooled connection, where the next command would read it.
    """
    if timeout is None:
        return await conn.read_response()
    try:
        async with _deadline(timeout):
            return await conn.read_response()
    except asyncio.TimeoutError:
        await conn.disconnect(nowait=True)
        raise RedisTimeoutError(f"no reply within {timeout} s") from None


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
