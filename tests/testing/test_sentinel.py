"""SentinelTopology: readiness and every fault, against real redis-server and Sentinel processes."""

from __future__ import annotations

import socket

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from hasession.testing import Node, SentinelTopology

pytestmark = pytest.mark.slow


def no_retry(host: str, port: int, *, timeout: float = 0.5) -> redis.Redis:
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def replication(node: Node) -> dict[str, object]:
    return no_retry(node.host, node.direct_port).info("replication")


def test_topology_is_ready_when_start_returns(
    hasession_redis_sentinel: SentinelTopology, capsys: pytest.CaptureFixture[str]
) -> None:
    topology = hasession_redis_sentinel
    with capsys.disabled():
        seconds = topology.startup_seconds
        print(f"\n[hasession] Sentinel 1 master + 2 replicas + 3 Sentinels ready in {seconds:.2f}s")
    master, *replicas = topology.nodes
    assert topology.current_master() is master
    assert master.role == "master"
    for replica in replicas:
        state = replication(replica)
        assert (state["role"], state["master_port"], state["master_link_status"]) == (
            "slave",
            master.port,
            "up",
        )
    for sentinel in topology.sentinels:
        client = topology.client_for(sentinel, decode_responses=True)
        state = client.sentinel_master("mymaster")
        assert (state["ip"], state["port"]) == master.address
        assert state["num-slaves"] == 2
        assert state["num-other-sentinels"] == 2
        assert state["flags"] == "master"
        assert all(r["flags"] == "slave" for r in client.sentinel_slaves("mymaster"))
        assert str(client.execute_command("SENTINEL", "CKQUORUM", "mymaster")).startswith("OK 3 usable")
    hosts = ",".join(f"127.0.0.1:{port}" for _, port in topology.sentinel_addresses)
    assert topology.url == f"redis+sentinel://{hosts}/mymaster/0"


def test_a_sentinel_client_reaches_the_master(hasession_redis_sentinel: SentinelTopology) -> None:
    sentinel = Sentinel(hasession_redis_sentinel.sentinel_addresses, socket_timeout=1)
    master = sentinel.master_for("mymaster", socket_timeout=1)
    master.set("k", "v")
    assert hasession_redis_sentinel.client_for(hasession_redis_sentinel.current_master()).get("k") == b"v"


def test_kill_master_elects_a_new_master_and_the_old_port_refuses(
    hasession_redis_sentinel: SentinelTopology,
) -> None:
    topology = hasession_redis_sentinel
    topology.current_master().client().set("session", "kept")
    topology.wait_for_replicas_synced()
    old = topology.kill_master()
    with socket.socket() as sock:
        assert sock.connect_ex(old.address) != 0
    new = topology.wait_for_new_master(old)
    assert new is not old
    assert new.role == "master"
    assert topology.current_master() is new
    assert new.client().get("session") == b"kept"


def test_pause_longer_than_down_after_promotes_a_replica(hasession_redis_sentinel: SentinelTopology) -> None:
    topology = hasession_redis_sentinel
    old = topology.pause_master()
    assert old.paused
    with pytest.raises(redis.TimeoutError):
        no_retry(*old.address).ping()
    new = topology.wait_for_new_master(old)
    assert topology.resume_master() is old
    topology.wait_for_replica(old)
    state = replication(old)
    assert (state["role"], state["master_port"], state["master_link_status"]) == ("slave", new.port, "up")


def test_partition_master_cuts_it_off_and_heal_brings_it_back_as_a_replica(
    proxied_sentinel: SentinelTopology,
) -> None:
    topology = proxied_sentinel
    old = topology.current_master()
    before = no_retry(*old.address)
    assert before.ping()
    assert topology.partition_master() is old
    with pytest.raises(redis.TimeoutError):
        before.ping()  # an open connection on the cut side stalls
    with pytest.raises(redis.TimeoutError):
        no_retry(*old.address).ping()  # so does a new one: accepted, never answered
    minority = no_retry(*topology.master_direct_address())
    assert minority.set("written-on-the-minority-side", "1")  # the isolated master still takes writes
    new = topology.wait_for_new_master(old)
    assert new is not old
    topology.heal()
    topology.wait_for_replica(old)
    state = replication(old)
    assert (state["role"], state["master_port"], state["master_link_status"]) == ("slave", new.port, "up")
    assert no_retry(*new.address).get("written-on-the-minority-side") is None  # lost, as in a real partition


def test_failover_switches_the_master(hasession_redis_sentinel: SentinelTopology) -> None:
    topology = hasession_redis_sentinel
    old = topology.current_master()
    new = topology.failover()
    assert new is not old
    assert new.role == "master"
    topology.wait_for_replica(old)
    assert old.role == "slave"


def test_current_master_never_names_a_demoted_master(hasession_redis_sentinel: SentinelTopology) -> None:
    """Right after a switchover the old master is a replica while Sentinels still name it (~2 s)."""
    from hasession import SessionStore

    old = hasession_redis_sentinel.current_master()
    with SessionStore.from_url(hasession_redis_sentinel.url, secret_keys="k" * 32) as store:
        result = store.switchover()
    now = hasession_redis_sentinel.current_master()
    assert now is not old and (now.port, now.role) == (result.new.port, "master")


def test_two_of_three_sentinels_keep_a_working_quorum(hasession_redis_sentinel: SentinelTopology) -> None:
    topology = hasession_redis_sentinel
    dead = topology.kill_sentinel(0)
    assert dead.role == "down"
    survivor = topology.client_for(topology.sentinels[1], decode_responses=True)
    assert str(survivor.execute_command("SENTINEL", "CKQUORUM", "mymaster")).startswith("OK")
    old = topology.current_master()
    assert topology.failover() is not old
    assert topology.restart_sentinel(0) is dead
    restarted = topology.client_for(dead, decode_responses=True)
    assert restarted.sentinel_get_master_addr_by_name("mymaster") == topology.current_master().address


def test_a_killed_master_restarts_as_a_replica_of_the_new_one(
    hasession_redis_sentinel: SentinelTopology,
) -> None:
    topology = hasession_redis_sentinel
    old = topology.kill_master()
    new = topology.wait_for_new_master(old)
    new.client().set("after-failover", "1")
    assert topology.restart(old) is old
    assert old.role == "slave"
    topology.wait_for_replicas_synced()
    assert no_retry(*old.address).get("after-failover") == b"1"
