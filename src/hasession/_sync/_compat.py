"""Concurrency primitives of the sync driver. ``_async/_compat.py`` has the same names."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from redis.connection import Connection, ConnectionPool, UnixDomainSocketConnection

from .._redis import TLSConnection as SSLConnection
from .._session import Session

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

sleep = time.sleep


def read_reply(conn: Any, timeout: float | None) -> Any:
    """Read one reply, within ``timeout`` seconds (``None``: the connection's socket timeout).

    A read that times out raises redis-py's ``TimeoutError`` with the connection closed.
    """
    return conn.read_response() if timeout is None else conn.read_response(timeout=timeout)


def Guard() -> threading.RLock:
    """A lock: request threads and Sentinel watchers share the router."""
    return threading.RLock()


class Signal:
    """Wakes every waiter when the store learns something about the topology."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)


def from_thread(target: Callable[[], None]) -> Callable[[], None]:
    """A callable that other threads may call: here, ``target`` itself."""
    return target


def run_blocking(target: Callable[[], None]) -> None:
    """Run a blocking call (joining threads)."""
    target()


def lazy(load: Callable[[Session], None]) -> Callable[[Session], None] | None:
    """Sync sessions load on first access."""
    return load
