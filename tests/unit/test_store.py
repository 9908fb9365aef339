"""The I/O-free part of a store: router choice, stats, public ids, a repr without secrets."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from typing import Any

import pytest

import hasession
from hasession._cluster import ClusterRouter
from hasession._commands import Batch, Call
from hasession._config import Secret
from hasession._exceptions import StoreConnectionError
from hasession._routing import Send, StandaloneRouter
from hasession._sentinel_router import SentinelRouter
from hasession._session import Session, StoredSession, state_of
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
    state_of(session).fill(StoredSession(data={}))
    public = store.public_id(session)
    assert public == f"{sid.tag}.{sid.hashed}"
    assert sid.value not in public
    assert store.public_id(Session()) is None


def test_the_old_name_of_replica_loads_still_reads_with_a_deprecation_warning() -> None:
    stats = Stats(replica_loads=4)
    with pytest.warns(DeprecationWarning, match="replica_loads"):
        assert stats.degraded_reads == 4
    assert "degraded_reads" not in stats.snapshot()


class _Faulty:
    """A pooled connection whose round trip fails with ``error``; with ``switch``, after a master
    switch closed its pool under it (as a watcher's news does, while the batch is in flight)."""

    lost = False

    def __init__(self, store: Any, address: Address, error: BaseException, *, switch: bool) -> None:
        self.store, self.address, self.error, self.switch = store, address, error, switch
        self.closed = False

    def close(self) -> None:
        self.closed = self.lost = True

    def roundtrip(self, packed: bytes, count: int, timeout: float) -> list[object]:
        if self.switch:
            self.store._drop((self.address,))
        raise self.error

    async def aroundtrip(self, packed: bytes, count: int, timeout: float) -> list[object]:
        if self.switch:
            await self.store._drop((self.address,))
        raise self.error


def _send_through_faulty_connection(driver: str, error: BaseException, *, switch: bool) -> BaseException:
    """Send one batch on a connection that fails; the error ``_send`` raises (its connection must
    be closed, never pooled again)."""
    cls = hasession.SessionStore if driver == "sync" else hasession.AsyncSessionStore
    store: Any = cls.from_url("redis://127.0.0.1:1/0", secret_keys="c" * 32)  # never connects
    address = Address("127.0.0.1", 1)
    pool = store._pool(address)
    conn = _Faulty(store, address, error, switch=switch)
    pool._idle.append(conn)
    batch = Batch((Call(("GET", "k")),), route="k")
    try:
        if driver == "sync":
            store._send(address, batch)
        else:
            conn.roundtrip = conn.aroundtrip  # type: ignore[method-assign]
            asyncio.run(store._send(address, batch))
    except Exception as exc:
        assert conn.closed and pool._idle == [] and pool._busy == set()
        return exc
    raise AssertionError("the faulty connection did not fail")


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_an_internal_error_is_raised_as_it_is_never_as_its_own_cause(driver: str) -> None:
    error = _send_through_faulty_connection(driver, TypeError("a bug"), switch=False)
    assert type(error) is TypeError
    assert error.__cause__ is not error
    assert error.__cause__ is None


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_connection_closed_by_a_master_switch_is_a_lost_connection(driver: str) -> None:
    closed = ConnectionError("connection closed")  # what a closed connection's round trip raises
    error = _send_through_faulty_connection(driver, closed, switch=True)
    assert isinstance(error, StoreConnectionError)
    assert error.__cause__ is closed


def test_request_ids_do_not_follow_the_apps_random_seed() -> None:
    random.seed(7)
    first = StoreBase._request_id()
    random.seed(7)
    assert StoreBase._request_id() != first  # else two processes seeded alike would share ids
    assert len(first) == 16 and int(first, 16) >= 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_process_draws_other_request_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out without running the parent's cleanup
        os.write(write, StoreBase._request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != StoreBase._request_id()


class _Own(Session):
    """A framework's own session class (Flask's and Django's adapters have one)."""


@pytest.mark.parametrize("cls", [hasession.SessionStore, hasession.AsyncSessionStore])
def test_open_builds_the_session_class_asked_for(cls: Any) -> None:
    store = cls(_config(Standalone(address=Address("127.0.0.1", 1))))
    made = store.open(None)
    cookie = store._ctx.ids.sign(store._ctx.ids.new())
    own = store.open(cookie, cls=_Own)
    assert type(made) is Session and type(own) is _Own
    assert state_of(own).sid == store._ctx.ids.verify(cookie)
    assert state_of(store.open("forged", cls=_Own)).sid is None  # a bad cookie names no session
    assert (state_of(own).loader is None) == (cls is hasession.AsyncSessionStore)  # sync: lazy load
