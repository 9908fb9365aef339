"""Stalled masters (SIGSTOP), short and long, on Sentinel and Cluster, with both drivers.

A frozen node accepts TCP connections and never answers. Every read that times out must close
its connection (a reply left unread on a pooled connection would be handed to the next command:
another user's session) and be retried within the hold budget.

The users (``conftest.crowd``, on the sync and the async store by turns) each own a session holding
their owner id and counters; the campaign's checker asserts that every load found the session, that
it was their own, and that no acknowledged write went missing (past asynchronous replication's bound
when a stall ends in a failover), while the master is frozen again and
again, for less and for more than it takes Sentinel or the Cluster to fail it over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from hasession.testing import ClusterTopology, SentinelTopology, wait_until
from hasession.testing.pytest_plugin import cluster_fixture, sentinel_fixture

pytestmark = pytest.mark.slow

USERS = 24

#: Sentinel does not fail a frozen master over before 5 s: every stall below is pure latency.
patient_sentinel = sentinel_fixture(scope="function", down_after_ms=5000)
#: The same for a Cluster primary (``cluster-node-timeout``), and one that fails over after 1 s.
patient_cluster = cluster_fixture(scope="function", node_timeout_ms=5000)
stall_cluster = cluster_fixture(scope="function")


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


def stalled(crowd: Any, url: str, stalls: Callable[[], None], *, failover: bool = False) -> str:
    """:data:`USERS` users working while ``stalls`` runs: what the checker says of them.

    A stall that ends in a ``failover`` (a replica promoted) may lose, by design of asynchronous
    replication, the writes the frozen master acknowledged but had not yet sent to that replica: at
    most one per request in flight, as for kill -9 (``assert_unharmed(lossy=True)``). Shorter stalls
    lose nothing.
    """
    with crowd(url, users=USERS) as users:
        with users.fault("pause-long" if failover else "pause-short"):
            stalls()
        return users.assert_unharmed(lossy=failover).summary()


def test_short_stalls_on_sentinel(patient_sentinel: SentinelTopology, crowd: Any) -> None:
    topology = patient_sentinel
    master = topology.current_master()
    stalls = short_stalls(lambda: topology.pause(master), lambda: topology.resume(master), seed=1)
    print("short stalls, Sentinel:", stalled(crowd, topology.url, stalls))
    assert topology.current_master() == master  # only latency: no failover happened


def test_long_stall_on_sentinel(hasession_redis_sentinel: SentinelTopology, crowd: Any) -> None:
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

    print("long stall, Sentinel:", stalled(crowd, topology.url, stall, failover=True))


def test_short_stalls_on_cluster(patient_cluster: ClusterTopology, crowd: Any) -> None:
    topology = patient_cluster
    primaries = topology.primaries()

    def pause() -> None:
        for node in primaries:
            topology.pause(node)

    def resume() -> None:
        for node in primaries:
            topology.resume(node)

    print("short stalls, Cluster:", stalled(crowd, topology.url, short_stalls(pause, resume, seed=2)))


def test_long_stall_on_cluster(stall_cluster: ClusterTopology, crowd: Any) -> None:
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

    print("long stall, Cluster:", stalled(crowd, topology.url, stall, failover=True))
