"""Following Sentinel's events in threads, for the sync and the async store alike.

A failover's first events (``+try-failover``, ``+selected-slave``,
``+failover-state-send-slaveof-noone``) come before the replica is promoted. Writes must stop going
to the old master then: every write it acknowledges after the promotion is lost with it. So the
watchers run in threads of their own, on blocking sockets: a busy event loop (an async app under
load) cannot delay the fence, which is applied to the router under its lock the moment an event is
read. The store is then woken (thread-safely) to drop its connections to the old master and to
re-plan held operations.

Each watcher also asks its Sentinel for its view of the master (``SENTINEL MASTER``) on every
(re)subscription, since events published while it was cut off (a partition) are never delivered:
a newer configuration epoch sends the store back to discovery. In ``replicated`` durability it asks
several times a second, to keep the read lease (see :mod:`hasession._sentinel`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import RedisError

from ._commands import text
from ._redis import sentinel_pool
from ._sentinel import LEASE_POLL, Event, config_epoch, parse_event, sentinel_peers, vouch
from ._sentinel_router import SentinelRouter
from ._topology import Address, Sentinel

__all__ = ["SentinelWatcher", "Watchers"]

log = logging.getLogger("hasession")

#: How long a read of the event stream waits before it looks at the stop flag again.
_POLL_SECONDS = 0.5


class Watchers:
    """One :class:`SentinelWatcher` thread per known Sentinel, sharing the store's router.

    ``wake`` is called from a watcher thread after the router changed; it must be thread-safe.
    """

    def __init__(self, topology: Sentinel, router: SentinelRouter, guard: Any, wake: Callable[[], None]):
        self.topology, self.router, self._guard, self._wake = topology, router, guard, wake
        #: Set when the store closes: every watcher ends within about half a second.
        self.stopping = threading.Event()
        self._started: dict[Address, SentinelWatcher] = {}
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Start a watcher for every Sentinel the router knows and none watches yet."""
        with self._guard:
            sentinels = self.router.sentinels
        with self._lock:
            if self.stopping.is_set():
                return
            for address in sentinels:
                if address not in self._started:
                    self._started[address] = watcher = SentinelWatcher(address, self)
                    watcher.start()

    def stop(self) -> None:
        """Ask every watcher to stop (they do within about half a second)."""
        self.stopping.set()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the stopped watchers to end."""
        with self._lock:
            watchers = list(self._started.values())
        for watcher in watchers:
            watcher.thread.join(timeout)

    # -- what a watcher reports, from its thread ---------------------------------------------------

    def heard(self, event: Event) -> None:
        with self._guard:
            self.router.apply(event, time.monotonic())
        self._wake()

    def heard_master(self, sentinel: Address, reply: object, asked_at: float) -> None:
        """A Sentinel's ``SENTINEL MASTER`` reply, to a question asked at ``asked_at``."""
        epoch = config_epoch(reply)
        with self._guard:
            before = self.router.view
            self.router.heard_epoch(epoch, time.monotonic())
            newer = self.router.view is not before
            renewed = self.router.lease and self.router.vouched(sentinel, vouch(reply, asked_at), asked_at)
        if newer:
            log.info("hasession: a Sentinel reports a newer configuration (epoch %d): looking again", epoch)
        if newer or renewed:
            self._wake()

    def learned(self, peers: tuple[Address, ...]) -> None:
        with self._guard:
            self.router.add_sentinels(peers)
        self.ensure()  # Sentinels added since the store started are watched too


class SentinelWatcher:
    """Follows one Sentinel's pub/sub events until stopped, reconnecting as needed."""

    def __init__(self, address: Address, host: Watchers) -> None:
        self.address, self._host = address, host
        self.thread = threading.Thread(target=self._run, name=f"hasession-watch-{address}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        failures = 0
        stop = self._host.stopping
        while not stop.is_set():
            try:
                self._follow()
                failures = 0
            except (RedisError, OSError, ValueError) as exc:
                failures += 1
                log.debug("hasession: watching Sentinel %s: %r", self.address, exc)
                stop.wait(min(1.0, 0.05 * failures))

    def _follow(self) -> None:
        host = self._host
        name = host.router.master_name
        poll = LEASE_POLL if host.router.lease else _POLL_SECONDS
        pool = sentinel_pool(host.topology, self.address)
        client: Any = redis.Redis(connection_pool=pool)
        pubsub: Any = client.pubsub(ignore_subscribe_messages=True)
        try:
            host.learned(sentinel_peers(client.execute_command("SENTINEL", "SENTINELS", name)))
            pubsub.psubscribe("*")
            next_ask = 0.0
            while not host.stopping.is_set():
                if time.monotonic() >= next_ask:  # once per subscription; continuously under a lease
                    asked = time.monotonic()
                    host.heard_master(self.address, client.execute_command("SENTINEL", "MASTER", name), asked)
                    next_ask = asked + LEASE_POLL if host.router.lease else float("inf")
                message = pubsub.get_message(timeout=poll)
                if message is not None and message["type"] == "pmessage":
                    self._on_message(text(message["channel"]), text(message["data"]))
        finally:
            pubsub.close()
            client.close()
            pool.disconnect()

    def _on_message(self, channel: str, data: str) -> None:
        event = parse_event(channel, data, self._host.router.master_name)
        if event is not None:
            log.info("hasession: Sentinel event %s %s", channel, data)
            self._host.heard(event)
