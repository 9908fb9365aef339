# GENERATED from src/hasession/_async/_sentinel_ops.py by scripts/unasync.py: do not edit.
"""Sentinel-only parts of the sync store: the planned switchover.

The event watchers are threads shared by both drivers (:mod:`hasession._watcher`).

Mixed into :class:`~hasession._sync.store.SessionStore`, whose driver does the I/O.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._commands import Batch, Call, Reply
from .._exceptions import ConfigurationError, StoreError, StoreUnavailable
from .._routing import Discover, Router, Send
from .._sentinel import Begun, Event, SentinelRouter, Switched
from .._store import StoreConfig
from .._switchover import SwitchoverResult, is_master, master_offset, replica_offset
from .._topology import Address
from ._compat import Signal, sleep

__all__ = ["SentinelOps"]

log = logging.getLogger("hasession")


class SentinelOps:
    """The planned switchover, on top of the store's driver."""

    if TYPE_CHECKING:  # provided by the store
        config: StoreConfig
        _router: Router
        _guard: Any  # the lock shared with the watcher threads
        _news: Signal
        _watching: bool

        def _start_watchers(self) -> None: ...
        def _send(self, address: Address, batch: Batch) -> list[Reply]: ...
        def _discover(self, plan: Discover[object]) -> None: ...
        def _drop(self, addresses: tuple[Address, ...]) -> None: ...

    def switchover(self, *, timeout: float = 10.0, pause_ms: int = 3000) -> SwitchoverResult:
        """Move the master to a replica without losing an acknowledged write (Sentinel only).

        Writes pause on the old master until a fully caught-up replica is promoted; this
        store's requests wait (held) and then continue on the new master. See
        :mod:`hasession._switchover` for the steps and why each is needed.
        """
        if not isinstance(self._router, SentinelRouter):
            raise ConfigurationError("switchover() needs a Sentinel topology")
        if not self._watching:  # replicated durability needs their read lease to name the master
            self._start_watchers()
        deadline = time.monotonic() + timeout
        old = self._master(deadline)
        offset, replicas = master_offset(self._ask(old, "ROLE"))
        self._ask(old, "CLIENT", "PAUSE", pause_ms, "WRITE")
        paused = time.monotonic()
        try:
            offset, replicas = master_offset(self._ask(old, "ROLE"))
            self._until(deadline, self._caught_up, replicas, offset)
            self._on_topology(Begun(old, None))
            self._ask(self._router.sentinels[0], "SENTINEL", "FAILOVER", self._router.master_name)
            new: Address = self._until(deadline, self._promoted, replicas)
            self._ask(old, "REPLICAOF", new.host, new.port)
        finally:
            with contextlib.suppress(StoreError):
                self._ask(old, "CLIENT", "UNPAUSE")
        self._on_topology(Switched(old, new))
        self._drop(self._stale())
        return SwitchoverResult(old=old, new=new, paused_seconds=time.monotonic() - paused, offset=offset)

    def _caught_up(self, replicas: list[Address], offset: int) -> bool | None:
        for replica in replicas:
            with contextlib.suppress(StoreError):
                done = replica_offset(self._ask(replica, "ROLE"))
                if done is not None and done < offset:
                    return None
        return True

    def _promoted(self, replicas: list[Address]) -> Address | None:
        for replica in replicas:
            with contextlib.suppress(StoreError):
                if is_master(self._ask(replica, "ROLE")):
                    return replica
        return None

    def _until(self, deadline: float, probe: Callable[..., Any], *args: Any) -> Any:
        while True:
            found = probe(*args)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"switchover: {probe.__name__.strip('_')} did not happen in time")
            sleep(0.002)

    def _ask(self, address: Address, *args: str | int) -> Reply:
        (reply,) = self._send(address, Batch((Call(args),), route="", write=False, node=address))
        return reply

    def _master(self, deadline: float) -> Address:
        """The current master, discovering it when needed (until ``deadline``)."""
        while True:
            now = time.monotonic()
            with self._guard:
                plan = self._router.plan(Batch((), route=""), now)
            if isinstance(plan, Send):
                return plan.address
            if now > deadline:
                raise StoreUnavailable("switchover: no master to switch from", retry_after=1)
            if isinstance(plan, Discover):
                self._discover(plan)
            else:
                self._news.wait(min(plan.seconds, deadline - now))

    def _on_topology(self, event: Event) -> None:
        """Apply what we learned about the master and wake every held operation."""
        assert isinstance(self._router, SentinelRouter)
        with self._guard:
            self._router.apply(event, time.monotonic())
        self._news.notify()

    def _stale(self) -> tuple[Address, ...]:
        with self._guard:
            return self._router.stale()
