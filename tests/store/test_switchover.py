"""The planned switchover as each driver runs it (``_async/_switchover.py`` and its sync twin)."""

from __future__ import annotations

import asyncio

import pytest

import hasession
from hasession.testing import SentinelTopology

SECRET = "s" * 32


def test_the_async_store_switches_over_and_keeps_its_sessions(
    hasession_redis_sentinel: SentinelTopology,
) -> None:
    """The sync store's switchover is exercised by the failover tests; this is the async one's."""

    async def main() -> tuple[hasession.SwitchoverResult, int]:
        async with hasession.AsyncSessionStore.from_url(
            hasession_redis_sentinel.url, secret_keys=SECRET
        ) as store:
            session = await store.load(None)
            session["n"] = 1
            cookie = str((await store.save(session)).value)
            result = await store.switchover()
            return result, (await store.load(cookie))["n"]

    old = hasession_redis_sentinel.current_master()
    result, seen = asyncio.run(main())
    assert (result.old.host, result.old.port) == old.address
    assert result.new != result.old
    assert seen == 1
    new = hasession_redis_sentinel.wait_for_new_master(old)
    assert (result.new.host, result.new.port) == new.address


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_switchover_needs_sentinel(hasession_redis_url: str, driver: str) -> None:
    if driver == "sync":
        store = hasession.SessionStore.from_url(hasession_redis_url, secret_keys=SECRET)
        with store, pytest.raises(hasession.ConfigurationError, match="Sentinel"):
            store.switchover()
        return

    async def main() -> None:
        async with hasession.AsyncSessionStore.from_url(hasession_redis_url, secret_keys=SECRET) as store:
            with pytest.raises(hasession.ConfigurationError, match="Sentinel"):
                await store.switchover()

    asyncio.run(main())


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_switchover_goes_on_when_the_first_sentinel_is_down(
    hasession_redis_sentinel: SentinelTopology, driver: str
) -> None:
    """The store asks its first Sentinel for the failover; one that refuses the connection is skipped."""
    topology = hasession_redis_sentinel
    old = topology.current_master()

    def check(result: hasession.SwitchoverResult, seen: object) -> None:
        assert (result.old.host, result.old.port) == old.address
        assert (result.new.host, result.new.port) == topology.wait_for_new_master(old).address
        assert seen == 1

    if driver == "sync":
        with hasession.SessionStore.from_url(topology.url, secret_keys=SECRET) as store:
            session = store.load(None)
            session["n"] = 1
            cookie = str(store.save(session).value)
            topology.kill_sentinel(0)  # the one that answered the store's discovery
            result = store.switchover()
            check(result, store.load(cookie)["n"])
        return

    async def main() -> None:
        async with hasession.AsyncSessionStore.from_url(topology.url, secret_keys=SECRET) as store:
            session = await store.load(None)
            session["n"] = 1
            cookie = str((await store.save(session)).value)
            topology.kill_sentinel(0)
            result = await store.switchover()
            check(result, (await store.load(cookie))["n"])

    asyncio.run(main())
