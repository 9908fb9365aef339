"""A failover that goes on after its master came back from a stall (docs/chaos/findings.md, finding 7).

The master is stopped (SIGSTOP) past ``down-after``: the Sentinels elect a leader, which selects a
replica and promotes it. Here the selected replica is stopped too, the moment it says master (the
leader, which asks it every second, has not seen it yet), so the leader waits for its promotion;
meanwhile the old master is resumed. Every Sentinel then reports
``-odown``, the two that do not lead the failover still name the old master and vouch for it, and it
answers ``ROLE`` master, with a replica to acknowledge ``WAIT``. When the candidate is resumed, the
leader finishes the failover: whatever the old master acknowledged in between is lost. In
``replicated`` durability the store must not write there (it holds, and fails closed past the budget).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import hasession
from hasession import DurabilityPolicy, StoreUnavailable
from hasession.testing import SentinelTopology, wait_until

pytestmark = pytest.mark.slow

SECRET = "stalled-failover-secret-0123456789"
OPTIONS: dict[str, Any] = {
    "secret_keys": SECRET,
    "durability": DurabilityPolicy(mode="replicated", replicas=1),
}


class SentinelEvents:
    """Every Sentinel's pub/sub events, in threads; ``on_event`` runs in the listener's thread."""

    def __init__(self, topology: SentinelTopology, on_event: Callable[[str, str], None]) -> None:
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._on_event = on_event
        self._clients: list[Any] = []
        self._pubsubs = []
        for sentinel in topology.sentinels:
            client: Any = sentinel.client(decode_responses=True)
            self._clients.append(client)  # a client that is collected closes its pool under the pubsub
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.psubscribe("*")
            self._pubsubs.append(pubsub)
        self._threads = [threading.Thread(target=self._listen, args=(p,), daemon=True) for p in self._pubsubs]
        for thread in self._threads:
            thread.start()

    def _listen(self, pubsub: Any) -> None:
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=0.05)
            if message is not None and message["type"] == "pmessage":
                self._on_event(message["channel"], message["data"])
                with self._lock:
                    self.seen.append((message["channel"], message["data"]))

    def count(self, channel: str) -> int:
        with self._lock:
            return sum(1 for seen, _ in self.seen if seen == channel)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for pubsub in self._pubsubs:
            pubsub.close()
        for client in self._clients:
            client.close()


class Driver:
    """The store calls the scenario makes, on the sync store or on the async one (on a loop thread)."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self._loop: asyncio.AbstractEventLoop | None = None
        if kind == "sync":
            self.store: Any = hasession.SessionStore.from_url(url, **OPTIONS)
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.store = self._call(self._make_async(url))

    @staticmethod
    async def _make_async(url: str) -> hasession.AsyncSessionStore:
        return hasession.AsyncSessionStore.from_url(url, **OPTIONS)

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    def load(self, cookie: str | None, budget: float | None = None) -> hasession.Session:
        if self._loop is None:
            return self.store.load(cookie, budget=budget)  # type: ignore[no-any-return]
        return self._call(self.store.load(cookie, budget=budget))  # type: ignore[no-any-return]

    def save(self, session: hasession.Session, budget: float | None = None) -> hasession.SaveResult:
        if self._loop is None:
            return self.store.save(session, budget=budget)  # type: ignore[no-any-return]
        return self._call(self.store.save(session, budget=budget))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._loop is None:
            self.store.close()
            return
        self._call(self.store.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def seen_up(topology: SentinelTopology, master: Any) -> int:
    """How many Sentinels name ``master`` and flag it neither down nor being failed over."""
    up = 0
    for sentinel in topology.sentinels:
        client: Any = sentinel.client(decode_responses=True)
        reply = client.execute_command("SENTINEL", "MASTER", topology.master_name)
        fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))
        named = (fields["ip"], int(fields["port"])) == master.address
        up += named and fields["flags"] == "master"
    return up


@pytest.fixture
def topology() -> Iterator[SentinelTopology]:
    # a long failover-timeout: the leader waits for the stopped candidate instead of giving up
    with SentinelTopology(replicas=2, sentinels=3, failover_timeout_ms=60000) as started:
        yield started


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_master_back_from_a_stall_is_not_written_while_its_failover_goes_on(
    topology: SentinelTopology, kind: str
) -> None:
    driver = Driver(kind, topology.url)
    candidate: list[Any] = []

    def stop_the_candidate(channel: str, data: str) -> None:
        # "slave <name> <ip> <port> @ ...": the leader has just sent it SLAVEOF NO ONE
        if channel == "+failover-state-wait-promotion" and not candidate:
            words = data.split()
            node = next(n for n in topology.nodes if n.address == (words[2], int(words[3])))
            wait_until(lambda: node.role == "master", timeout=10, interval=0.001, message="the promotion")
            node.pause()  # promoted, but the leader (which asks every second) has not seen it yet
            candidate.append(node)

    events = SentinelEvents(topology, stop_the_candidate)
    try:
        first = driver.load(None)
        first["count"] = 1
        cookie = driver.save(first).value
        acknowledged = 1
        topology.wait_for_replicas_synced()

        old = topology.pause_master()
        wait_until(lambda: bool(candidate), timeout=30, message="a leader Sentinel to select a replica")
        topology.resume(old)
        # the master is back: a majority of Sentinels see it up (they would vouch for it), while the
        # leader still waits for the candidate
        wait_until(lambda: seen_up(topology, old) >= 2, timeout=30, message="the Sentinels to see the master")
        assert events.count("+promoted-slave") == 0, (
            "the leader saw the promotion before the candidate stopped"
        )
        try:
            session = driver.load(cookie, budget=3.0)
            session["count"] = session["count"] + 1
            driver.save(session, budget=3.0)
            acknowledged = session["count"]
        except StoreUnavailable:
            pass  # held, then failed closed: nothing acknowledged (the candidate is stopped)

        topology.resume(candidate[0])
        assert topology.wait_for_new_master(old) is candidate[0]
        assert driver.load(cookie)["count"] == acknowledged
    finally:
        events.close()
        driver.close()
