"""The I/O-free part of a store: router choice, stats, public ids, a repr without secrets."""

from __future__ import annotations

import dataclasses

from hasession._cluster import ClusterRouter
from hasession._config import Secret
from hasession._routing import Send, StandaloneRouter
from hasession._sentinel import SentinelRouter
from hasession._session import Session, StoredSession
from hasession._store import Stats, StoreBase, StoreConfig, make_router
from hasession._topology import Address, Cluster, Sentinel, Standalone

KEYS = (Secret("k" * 32),)


def _config(topology: Standalone | Sentinel | Cluster, **options: object) -> StoreConfig:
    return StoreConfig(topology=topology, secret_keys=KEYS, **options)  # type: ignore[arg-type]


def test_each_topology_gets_its_router() -> None:
    address = Address("h", 6379)
    assert isinstance(make_router(_config(Standalone(address=address))), StandaloneRouter)
    sentinel = make_router(_config(Sentinel(sentinels=(Address("s", 26379),), master_name="mymaster")))
    assert isinstance(sentinel, SentinelRouter)
    assert sentinel.master_name == "mymaster"
    assert not sentinel.lease
    assert isinstance(make_router(_config(Cluster(seeds=(address,)))), ClusterRouter)


def test_replicated_durability_reads_sentinel_masters_under_a_lease() -> None:
    topology = Sentinel(sentinels=(Address("s", 26379),), master_name="mymaster")
    router = make_router(_config(topology, durability={"mode": "replicated", "replicas": 1}))
    assert isinstance(router, SentinelRouter)
    assert router.lease


def test_a_unix_socket_store_routes_to_one_fixed_node() -> None:
    router = make_router(_config(Standalone(unix_path="/tmp/redis.sock")))
    assert isinstance(router.plan(None, 0.0), Send)  # type: ignore[arg-type]


def test_stats_snapshot_lists_every_counter() -> None:
    stats = Stats()
    stats.operations += 3
    stats.max_hold_seconds = 1.5
    snapshot = stats.snapshot()
    assert set(snapshot) == {f.name for f in dataclasses.fields(Stats)}
    assert (snapshot["operations"], snapshot["max_hold_seconds"], snapshot["held"]) == (3, 1.5, 0)


def test_a_store_repr_hides_the_password() -> None:
    config = StoreConfig.from_url("redis://app:hunter2@cache:6379/0", secret_keys=KEYS)
    store = StoreBase(config)
    assert "hunter2" not in repr(store)
    assert "cache" in repr(store)
    assert "k" * 32 not in repr(store)


def test_public_id_of_a_stored_session_only() -> None:
    store = StoreBase(StoreConfig.from_url("redis://cache", secret_keys=KEYS))
    sid = store._ctx.ids.new()
    session = Session(sid)
    session.fill(StoredSession(data={}))
    public = store.public_id(session)
    assert public == f"{sid.tag}.{sid.hashed}"
    assert sid.value not in public
    assert store.public_id(Session()) is None
