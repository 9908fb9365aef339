"""ClusterTopology: a real 6-node Redis Cluster, its failovers and a real resharding.

The tests share one module-scoped cluster and each leaves it healthy for the next one.
"""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, MovedError
from redis.retry import Retry

from hasession.testing import ClusterTopology, wait_until

pytestmark = pytest.mark.slow


def test_six_nodes_cover_every_slot(
    module_cluster: ClusterTopology, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = module_cluster
    with capsys.disabled():
        print(f"\n[hasession] Cluster 3 primaries + 3 replicas ready in {cluster.startup_seconds:.2f}s")
    assert len(cluster.nodes) == 6
    for node in cluster.nodes:
        info = cluster.client_for(node, decode_responses=True).cluster("INFO")
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == int(info["cluster_slots_ok"]) == 16384
        assert int(info["cluster_known_nodes"]) == 6
    primaries = cluster.primaries()
    assert len(primaries) == 3
    assert all(len(cluster.replicas_of(primary)) == 1 for primary in primaries)
    assert cluster.url == "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes)
    client = cluster.client(decode_responses=True)
    client.set("a", "1")
    client.set("b", "2")
    assert (client.get("a"), client.get("b")) == ("1", "2")
    client.close()


def test_killing_a_primary_promotes_its_replica(module_cluster: ClusterTopology) -> None:
    cluster = module_cluster
    client = cluster.client(decode_responses=True)
    client.set("probe", "kept")
    old = cluster.current_master("probe")
    (replica,) = cluster.replicas_of(old)
    cluster.client_for(old).wait(1, 1000)
    assert cluster.kill_master() is old
    new = cluster.wait_for_new_master(old)
    assert new is replica
    assert new.role == "master"
    assert cluster.current_master("probe") is new
    assert client.get("probe") == "kept"
    client.close()
    cluster.restart(old)
    assert old.role == "slave"
    assert cluster.replicas_of(new) == [old]


def test_cluster_failover_switches_roles(module_cluster: ClusterTopology) -> None:
    cluster = module_cluster
    primary = cluster.current_master("other-key")
    (replica,) = cluster.replicas_of(primary)
    assert cluster.failover(primary) is replica
    assert replica.role == "master"
    cluster.wait_until_healthy()
    assert primary.role == "slave"
    assert cluster.current_master("other-key") is replica


def test_migrating_a_slot_answers_ask_then_moved(module_cluster: ClusterTopology) -> None:
    cluster = module_cluster
    key = "session:{migrating}"
    slot = key_slot(key.encode())
    client = cluster.client(decode_responses=True)
    client.set(key, "payload")
    source = cluster.slot_owner(slot)
    target = next(node for node in cluster.primaries() if node is not source)
    cluster.begin_migration(slot, target)
    with pytest.raises(AskError) as asked:
        cluster.client_for(source).get(key)
    assert (asked.value.slot_id, asked.value.node_addr) == (slot, target.address)
    direct = cluster.client_for(target, decode_responses=True)
    pipe = direct.pipeline(transaction=False)
    pipe.execute_command("ASKING")
    pipe.get(key)
    assert pipe.execute() == [True, "payload"]
    cluster.finish_migration(slot)
    with pytest.raises(MovedError) as moved:
        cluster.client_for(source).get(key)
    assert (moved.value.slot_id, moved.value.node_addr) == (slot, target.address)
    assert cluster.slot_owner(slot) is target
    assert client.get(key) == "payload"
    client.close()


def test_the_plugin_cluster_is_flushed_and_healthy(hasession_redis_cluster: ClusterTopology) -> None:
    client = hasession_redis_cluster.client()
    assert client.dbsize() == 0
    client.set("x", "1")
    client.close()


def test_the_plugin_cluster_is_flushed_again(hasession_redis_cluster: ClusterTopology) -> None:
    client = hasession_redis_cluster.client()
    assert client.dbsize() == 0
    client.close()


def test_a_cluster_client_rejects_a_dead_primary_until_failover(
    hasession_fresh_redis_cluster: ClusterTopology,
) -> None:
    # A cluster of its own: right after the manual failovers of the tests above, a replica that has
    # just re-attached can take longer than the wait below to be elected (flaky on a loaded machine).
    cluster = hasession_fresh_redis_cluster
    old = cluster.kill_master(0)
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=old.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)).ping()
    cluster.wait_for_new_master(old)
    cluster.restart(old)


def test_a_partitioned_primary_goes_clusterdown_and_its_replica_takes_over(tmp_path: object) -> None:
    with ClusterTopology(proxied=True, tmpdir=str(tmp_path)) as cluster:
        client = cluster.client(decode_responses=True)
        client.set("probe", "before")
        victim = cluster.current_master("probe")
        assert all(entry.address[1] in {n.port for n in cluster.nodes} for entry in cluster._view(victim))
        cluster.partition(victim)
        isolated = cluster.client_for(victim, decode_responses=True)
        isolated.connection_pool.connection_kwargs["port"] = victim.direct_port  # a client on its side
        wait_until(
            lambda: isolated.cluster("INFO")["cluster_state"] == "fail",
            timeout=30,
            message="the isolated primary to stop serving",
        )
        with pytest.raises(ClusterDownError):  # the server answered -CLUSTERDOWN
            isolated.get("probe")
        new = cluster.wait_for_new_master(victim)
        assert new is not victim
        cluster.heal()
        cluster.wait_until_healthy()
        assert victim.role == "slave"
        client.close()
        client = cluster.client(decode_responses=True)
        assert client.get("probe") == "before"
        client.close()
        isolated.close()
