"""Stalled masters (SIGSTOP), short and long, on Sentinel and Cluster, with both drivers.

A frozen node accepts TCP connections and never answers. Every read that times out must close
its connection (a reply left unread on a pooled connection would be handed to the next command:
another user's session) and be retried within the hold budget.

Each session holds its owner's id and a counter incremented read-modify-write. The users check,
on every load: the session exists, it is their own, and the counter never went backwards. They
run while the master is frozen again and again, for less and for more than it takes Sentinel or
the Cluster to fail it over.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import hasession
from hasession.testing import ClusterTopology, SentinelTopology, wait_until
from hasession.testing.pytest_plugin import cluster_fixture, sentinel_fixture

pytestmark = pytest.mark.slow

SECRET = "stall-tests-secret-0123456789abcdef"
USERS = 24

#: Sentinel does not fail a frozen master over before 5 s: every stall below is pure latency.
patient_sentinel = sentinel_fixture(scope="function", down_after_ms=5000)
#: The same for a Cluster primary (``cluster-node-timeout``), and one that fails over after 1 s.
patient_cluster = cluster_fixture(scope="function", node_timeout_ms=5000)
stall_cluster = cluster_fixture(scope="function")


@dataclass
class Seen:
    """What the users saw, over all their requests."""

    loads: int = 0
    errors: list[BaseException] = field(default_factory=list)
    foreign: int = 0  # a load returned another owner's session
    lost: int = 0  # a load found no session for a cookie that had one
    backwards: int = 0  # a load returned a counter below the last acknowledged one

    def check(self, session: Any, owner: str, acknowledged: int) -> int:
        self.loads += 1
        if session.new:
            self.lost += 1
            return acknowledged
        if session.get("owner") != owner:
            self.foreign += 1
            return acknowledged
        count = int(session.get("count", -1))
        self.backwards += count < acknowledged
        return count

    def assert_clean(self) -> None:
        assert self.loads > 0
        assert (self.foreign, self.lost, self.backwards) == (0, 0, 0), self
        assert self.errors == [], self.errors[:3]


def _first_session(store: Any, owner: str) -> hasession.Session:
    session = store.open(None)
    session.update(owner=owner, count=0)
    return session


def run_sync_users(url: str, stalls: Callable[[], None], **options: Any) -> Seen:
    """Users in threads on the sync store while ``stalls`` runs; what they saw."""
    seen, stop = Seen(), threading.Event()
    with hasession.SessionStore.from_url(url, secret_keys=SECRET, **options) as store:
        cookies = [str(store.save(_first_session(store, f"user-{i}")).value) for i in range(USERS)]

        def user(i: int) -> None:
            acked = 0
            while not stop.is_set():
                try:
                    session = store.load(cookies[i])
                    acked = seen.check(session, f"user-{i}", acked)
                    session["count"] = acked + 1
                    store.save(session)
                    acked += 1
                except Exception as exc:  # what would reach the framework's error handler
                    seen.errors.append(exc)

        threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(USERS)]
        for thread in threads:
            thread.start()
        try:
            stalls()
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
    return seen


def run_async_users(url: str, stalls: Callable[[], None], **options: Any) -> Seen:
    """Users as tasks on the async store (loads mostly, many in flight) while ``stalls`` runs."""
    seen = Seen()

    async def main() -> None:
        store = hasession.AsyncSessionStore.from_url(url, secret_keys=SECRET, **options)
        try:
            firsts = [_first_session(store, f"user-{i}") for i in range(USERS)]
            cookies = [str((await store.save(session)).value) for session in firsts]
            done = asyncio.Event()

            async def user(i: int) -> None:
                acked = 0
                while not done.is_set():
                    try:
                        session = await store.load(cookies[i])
                        acked = seen.check(session, f"user-{i}", acked)
                        if random.random() < 0.3:  # loads outnumber saves, as on a real site
                            session["count"] = acked + 1
                            await store.save(session)
                            acked += 1
                    except Exception as exc:
                        seen.errors.append(exc)

            tasks = [asyncio.create_task(user(i)) for i in range(USERS)]
            await asyncio.to_thread(stalls)
            done.set()
            await asyncio.gather(*tasks)
        finally:
            await store.close()

    asyncio.run(main())
    return seen


RUNNERS = {"sync": run_sync_users, "async": run_async_users}


@pytest.fixture(params=sorted(RUNNERS))
def run_users(request: pytest.FixtureRequest) -> Callable[..., Seen]:
    return RUNNERS[request.param]


def short_stalls(pause: Callable[[], Any], resume: Callable[[], Any], *, seed: int) -> Callable[[], None]:
    """Freeze and thaw a node again and again, for 0.1 to 2.5 s (longer than the socket timeout)."""
    rng = random.Random(seed)

    def stalls() -> None:
        time.sleep(0.3)  # the users get going: a fault timing, not a wait for a condition
        for _ in range(5):
            pause()
            try:
                time.sleep(rng.uniform(0.1, 2.5))  # the fault's length is the point, not a wait
            finally:
                resume()
            time.sleep(rng.uniform(0.05, 0.5))

    return stalls


def test_short_stalls_on_sentinel(patient_sentinel: SentinelTopology, run_users: Any) -> None:
    topology = patient_sentinel
    master = topology.current_master()
    stalls = short_stalls(lambda: topology.pause(master), lambda: topology.resume(master), seed=1)
    seen = run_users(topology.url, stalls)
    print(f"short stalls, Sentinel: {seen.loads} loads")
    seen.assert_clean()
    assert topology.current_master() == master  # only latency: no failover happened


def test_long_stall_on_sentinel(hasession_redis_sentinel: SentinelTopology, run_users: Any) -> None:
    """Frozen until a replica is promoted, then thawed: both nodes say master for a while."""
    topology = hasession_redis_sentinel

    def stall() -> None:
        time.sleep(0.3)
        old = topology.pause_master()
        try:
            topology.wait_for_new_master(old)
        finally:
            topology.resume_master()
        topology.wait_for_replica(old)

    seen = run_users(topology.url, stall)
    print(f"long stall, Sentinel: {seen.loads} loads")
    seen.assert_clean()


def test_short_stalls_on_cluster(patient_cluster: ClusterTopology, run_users: Any) -> None:
    topology = patient_cluster
    primaries = topology.primaries()

    def pause() -> None:
        for node in primaries:
            topology.pause(node)

    def resume() -> None:
        for node in primaries:
            topology.resume(node)

    seen = run_users(topology.url, short_stalls(pause, resume, seed=2))
    print(f"short stalls, Cluster: {seen.loads} loads")
    seen.assert_clean()


def test_long_stall_on_cluster(stall_cluster: ClusterTopology, run_users: Any) -> None:
    topology = stall_cluster

    def stall() -> None:
        time.sleep(0.3)
        old = topology.current_master()
        topology.pause(old)
        try:
            topology.wait_for_new_master(old)
        finally:
            topology.resume(old)
        wait_until(lambda: old.role == "slave", timeout=30, message="the old primary to rejoin as a replica")

    seen = run_users(topology.url, stall)
    print(f"long stall, Cluster: {seen.loads} loads")
    seen.assert_clean()
