"""The version fence: a load must not go back to a session older than this process acknowledged. Pure.

Every save returns the session's new version (``@v``), and every load reads it. A process remembers
the newest version it acknowledged (saved, or loaded) of each recent session; a load that then reads
an older one read a stale node: a master a failover left behind, a replica that was a master, an old
master restarted with its old data. The load flow (:meth:`hasession._flows.SessionFlows.load`) then
asks the driver to forget that node (the router looks for the master again, the node's connections
are dropped) and reads once more, within the hold budget. If the master found then still serves the
older version, the acknowledged write is gone for good (``async`` durability allows that in a raw
failover, see docs/design.md): the load takes it, the fence logs a warning naming the session and
the versions, counts it in ``Stats.lost_versions`` and forgets what it remembered. It never loops,
and never fails a request because of it.

Only versions acknowledged before a load began count: a save that completes while a load of the
same session is in flight (two requests of one user) may legitimately be missing from its reply.

The memory is bounded: the ``size`` sessions most recently written (their entry changed) are kept.
A load of an unchanged session costs one dict lookup.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

__all__ = ["FenceCounters", "VersionFence"]

log = logging.getLogger("hasession")

#: Sessions remembered by default (about 150 bytes each).
SIZE = 10_000


class FenceCounters(Protocol):
    """Where the fence counts what it saw (the store's :class:`~hasession.Stats`)."""

    stale_loads: int
    lost_versions: int


class _Counters:
    stale_loads = 0
    lost_versions = 0


class VersionFence:
    """The newest acknowledged version of each of the ``size`` most recently written sessions, by
    data key. Safe to share between threads (the sync store) and tasks (the async one)."""

    def __init__(self, counters: FenceCounters | None = None, *, size: int = SIZE) -> None:
        if size < 1:
            raise ValueError("the fence must remember at least one session")
        self.counters: FenceCounters = counters if counters is not None else _Counters()
        self._size = size
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._versions)

    def floor(self, key: str) -> int:
        """The newest version of ``key`` acknowledged so far (-1: none remembered)."""
        return self._versions.get(key, -1)

    def saw(self, key: str, version: int) -> None:
        """``version`` of ``key`` was acknowledged (a save) or read (a load)."""
        with self._lock:
            versions = self._versions
            if versions.get(key, -1) >= version:
                return
            versions.pop(key, None)  # re-inserted last: the most recently written
            versions[key] = version
            if len(versions) > self._size:
                del versions[next(iter(versions))]

    def forget(self, key: str) -> None:
        """Remember nothing about ``key`` (destroyed, renamed, or its newer versions were lost)."""
        with self._lock:
            self._versions.pop(key, None)

    def stale(self) -> None:
        """A load read an older version than acknowledged: it is read again after a rediscovery."""
        self.counters.stale_loads += 1

    def lost(self, key: str, public_id: str, found: int, acknowledged: int) -> None:
        """The master found after the rediscovery serves ``found`` too: take it, say so, forget."""
        self.counters.lost_versions += 1
        self.forget(key)
        log.warning(
            "hasession: session %s: the master serves version %d, older than version %d that this "
            "process acknowledged, even after looking for the master again: acknowledged writes were "
            "lost (a failover in async durability, or Redis restarted with old data)",
            public_id,
            found,
            acknowledged,
        )
