"""Concurrency primitives of the sync driver. ``_async/_compat.py`` has the same names."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.connection import Connection, ConnectionPool, UnixDomainSocketConnection
from redis.connection import SSLConnection as _RedisSSLConnection

from .._session import Session

__all__ = [
    "Connection",
    "ConnectionPool",
    "Guard",
    "Redis",
    "SSLConnection",
    "Signal",
    "UnixDomainSocketConnection",
    "join",
    "lazy",
    "sleep",
    "spawn",
]

sleep = time.sleep


class SSLConnection(_RedisSSLConnection):
    """redis-py's TLS connection, whose "unread data?" check counts decrypted bytes only.

    A TLS 1.3 server sends session tickets after the handshake, so the raw socket of a fresh
    connection is often readable with no reply in it. redis-py 8's pool takes that for unread
    replies and fails the checkout ("Connection not ready"): a spurious retry, and a hold, for
    many new connections. Here a readable socket is read without blocking, and only bytes that
    decrypt into the reply buffer count. (The async driver checks decrypted bytes already.)
    """

    def can_read(self, timeout: float = 0) -> bool:
        if not super().can_read(timeout):
            return False
        parser: Any = self._parser
        reader = getattr(parser, "_reader", None)
        if reader is None or not hasattr(parser, "read_from_socket") or reader.has_data():
            return True
        return bool(parser.read_from_socket(timeout=0, raise_on_timeout=False))


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


def spawn(target: Callable[[], None], name: str) -> threading.Thread:
    """Run ``target`` in a daemon thread (a task in the async twin)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def join(workers: list[threading.Thread]) -> None:
    """Wait for background workers started by :func:`spawn` (they see the store closed)."""
    for thread in workers:
        thread.join(timeout=2.0)


def lazy(load: Callable[[Session], None]) -> Callable[[Session], None] | None:
    """Sync sessions load on first access."""
    return load
