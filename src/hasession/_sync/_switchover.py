# GENERATED from src/hasession/_async/_switchover.py by scripts/unasync.py: do not edit.
"""The planned switchover of a Sentinel topology, run by the store of :mod:`hasession._sync.store`
(the steps and why each is needed: :mod:`hasession._switchover`).

:class:`Switchover` knows nothing of the store: it talks to it through a :class:`Driver`, the
store's router (behind the lock it shares with the watcher threads of :mod:`hasession._watcher`),
its wake-up signal and its I/O.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .._commands import Batch, Call, Reply
from .._exceptions import StoreConnectionError, StoreError, StoreUnavailable
from .._routing import Discover, Send
from .._sentinel import Aborted, Begun, Event, Switched
from .._sentinel_router import SentinelRouter
from .._switchover import SwitchoverResult, is_master, master_offset, replica_offset
from .._topology import Address
from ._compat import Signal, sleep

__all__ = ["Driver", "Switchover"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver:
    """What a switchover needs from its store, and all it may use."""

    #: The store's router; read and changed only under ``guard``.
    router: SentinelRouter
    #: The lock the store shares with its watcher threads.
    guard: AbstractContextManager[Any]
    #: Notified when the router changed: held operations look again.
    news: Signal
    #: Send one batch to one node.
    send: Callable[[Address, Batch], list[Reply]]
    #: Run a discovery the router asked for.
    discover: Callable[[Discover[object]], None]
    #: Close every connection to these nodes (in-flight ones too: they retry).
    drop: Callable[[tuple[Address, ...]], None]


class Switchover:
    """Moves the master to a fully caught-up replica: one run of :meth:`run`."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver

    def run(self, *, timeout: float, pause_ms: int) -> SwitchoverResult:
        """Pause writes on the master, wait for its replicas, fail over, demote it, unpause."""
        router = self._driver.router
        deadline = time.monotonic() + timeout
        old = self._master(deadline)
        offset, replicas = master_offset(self._ask(old, "ROLE"))
        self._ask(old, "CLIENT", "PAUSE", pause_ms, "WRITE")
        paused = time.monotonic()
        try:
            offset, replicas = master_offset(self._ask(old, "ROLE"))
            self._until(deadline, self._caught_up, replicas, offset)
            self._apply(Begun(old, None))
            try:
                self._failover()
                new: Address = self._until(deadline, self._promoted, replicas)
            except BaseException:
                self._apply(Aborted())  # held operations look the master up again, not wait for news
                raise
            self._ask(old, "REPLICAOF", new.host, new.port)
        finally:
            with contextlib.suppress(StoreError):
                self._ask(old, "CLIENT", "UNPAUSE")
        self._apply(Switched(old, new))
        with self._driver.guard:
            stale = router.stale()
        self._driver.drop(stale)
        return SwitchoverResult(old=old, new=new, paused_seconds=time.monotonic() - paused, offset=offset)

    def _failover(self) -> None:
        """``SENTINEL FAILOVER`` on the first Sentinel that takes it.

        The next Sentinel is asked only when one refused the connection: the command never reached
        it. After any other failure the command may have started a failover there, and a second one
        elsewhere would race it with another epoch (whose loser's acknowledged writes are lost).
        """
        router = self._driver.router
        for sentinel in router.sentinels:
            try:
                self._ask(sentinel, "SENTINEL", "FAILOVER", router.master_name)
                return
            except StoreConnectionError as exc:
                if not isinstance(exc.__cause__, ConnectionRefusedError) or sentinel == router.sentinels[-1]:
                    raise

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
        batch = Batch((Call(args),), route="", write=False, node=address)
        (reply,) = self._driver.send(address, batch)
        return reply

    def _master(self, deadline: float) -> Address:
        """The current master, discovering it when needed (until ``deadline``)."""
        driver = self._driver
        while True:
            now = time.monotonic()
            with driver.guard:
                plan = driver.router.plan(Batch((), route=""), now)
            if isinstance(plan, Send):
                return plan.address
            if now > deadline:
                raise StoreUnavailable("switchover: no master to switch from", retry_after=1)
            if isinstance(plan, Discover):
                driver.discover(plan)
            else:
                driver.news.wait(min(plan.seconds, deadline - now))

    def _apply(self, event: Event) -> None:
        """Apply what we learned about the master and wake every held operation."""
        with self._driver.guard:
            self._driver.router.apply(event, time.monotonic())
        self._driver.news.notify()
