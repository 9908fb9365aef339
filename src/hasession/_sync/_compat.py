"""Concurrency primitives of the sync driver. ``_async/_compat.py`` has the same names."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .._session import Session

__all__ = ["Guard", "Signal", "from_thread", "lazy", "run_blocking", "sleep"]

sleep = time.sleep


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
