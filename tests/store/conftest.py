"""Stores on every topology, sync and async, for the store tests.

The topologies are session-scoped and flushed before each test: these tests inject no fault.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import hasession
from hasession.testing import ClusterTopology, RedisServer, SentinelTopology
from hasession.testing.pytest_plugin import sentinel_fixture

SECRET = "s" * 32

hasession_store_sentinel = sentinel_fixture(scope="session", replicas=1, sentinels=3)


class Blocking:
    """Drives an :class:`AsyncSessionStore` from sync test code, on a loop in a thread."""

    def __init__(self, store: hasession.AsyncSessionStore) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr
        return lambda *a, **kw: self.run(attr(*a, **kw))

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(params=["standalone", "sentinel", "cluster"])
def topology(request: pytest.FixtureRequest) -> RedisServer | SentinelTopology | ClusterTopology:
    """Each topology in turn, empty."""
    name = {
        "standalone": "hasession_redis_server",
        "sentinel": "hasession_store_sentinel",
        "cluster": "hasession_redis_cluster",
    }
    topo = request.getfixturevalue(name[request.param])
    if isinstance(topo, RedisServer):
        topo.client().flushall()
    else:
        topo.flushall()
    return topo  # type: ignore[no-any-return]


StoreFactory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make_store(request: pytest.FixtureRequest, topology: Any) -> Iterator[StoreFactory]:
    """Build stores (sync, or async driven through :class:`Blocking`) on ``topology``."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("secret_keys", SECRET)
        if request.param == "sync":
            store: Any = hasession.SessionStore.from_url(topology.url, **options)
        else:
            store = Blocking(hasession.AsyncSessionStore.from_url(topology.url, **options))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Any:
    return make_store()


@pytest.fixture
def dump(topology: Any) -> Callable[[], list[tuple[bytes, object]]]:
    """Reads every key and value of the topology (see :func:`raw_dump`)."""
    return lambda: raw_dump(topology)


def master_clients(topology: Any) -> list[Any]:
    """A plain redis-py client to each master of the topology."""
    if isinstance(topology, RedisServer):
        return [topology.client()]
    if isinstance(topology, SentinelTopology):
        return [topology.current_master().client()]
    return [node.client() for node in topology.primaries()]


@pytest.fixture
def masters(topology: Any) -> list[Any]:
    return master_clients(topology)


def raw_dump(topology: Any) -> list[tuple[bytes, object]]:
    """Every key and value in the topology's data nodes (masters only)."""
    out = []
    for client in master_clients(topology):
        for key in client.scan_iter():
            kind = client.type(key)
            if kind == b"none":  # expired between SCAN and TYPE
                continue
            value = {
                b"hash": client.hgetall,
                b"string": client.get,
                b"zset": lambda k, c=client: c.zrange(k, 0, -1),
            }[kind](key)
            out.append((key, value))
    return out
