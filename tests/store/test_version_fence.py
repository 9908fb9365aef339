"""The version fence on real servers (hasession/_fence.py), sync and async.

The store reaches Redis through an address that can move, as a virtual IP or a TCP load balancer
does: a proxy (``hasession.testing``'s) in front of two servers. ``stale`` holds an old copy of
the data, as an old master restarted with its old data would. A connection that the proxy sent to
``stale`` reads an older version of a session than the store acknowledged: the fence drops that
connection and reads again, from wherever the address leads now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hasession.testing import RedisServer
from hasession.testing._proxyctl import ProxyProcess


@dataclass
class MovingAddress:
    """``url`` leads to ``fresh`` or to ``stale``, for new connections (see :meth:`lead_to`)."""

    url: str
    fresh: RedisServer
    stale: RedisServer
    proxy: ProxyProcess

    def lead_to(self, server: RedisServer, *, close: bool = False) -> None:
        """New connections go to ``server``; with ``close``, the open ones are closed first."""
        self.proxy.target("vip", server.port)
        if close:  # a heal closes the connections that were cut
            self.proxy.cut("vip")
            self.proxy.heal("vip")

    def copy_to_stale(self) -> None:
        """``stale`` gets every key of ``fresh`` as it is now (an old copy, later)."""
        source, target = self.fresh.client(), self.stale.client()
        target.flushall()
        for key in source.scan_iter():
            target.restore(key, 0, source.dump(key), replace=True)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[MovingAddress]:
    """Overrides the store tests' topologies: the ``make_store`` fixture builds on its ``url``."""
    with RedisServer() as fresh, RedisServer() as stale:
        proxy = ProxyProcess(tmp_path)
        try:
            port = proxy.listen("vip")
            proxy.target("vip", fresh.port)
            yield MovingAddress(f"redis://127.0.0.1:{port}/0", fresh, stale, proxy)
        finally:
            proxy.stop()


def counted(store: Any, count: int) -> tuple[str, Any]:
    """A new session holding ``count``, and its cookie."""
    session = store.open(None)
    session["count"] = count
    return str(store.save(session).value), session


def increment(store: Any, cookie: str) -> int:
    session = store.load(cookie)
    session["count"] += 1
    store.save(session)
    return int(session["count"])


def test_a_load_from_a_stale_node_is_read_again_from_the_master(
    topology: MovingAddress, make_store: Any
) -> None:
    store = make_store()
    cookie, _ = counted(store, 1)
    other, _ = counted(store, 100)
    topology.copy_to_stale()  # both sessions at version 1
    assert increment(store, cookie) == 2  # acknowledged by fresh: version 2

    topology.lead_to(topology.stale, close=True)
    assert store.load(other)["count"] == 100  # the store's one open connection now leads to stale
    topology.lead_to(topology.fresh)  # new connections lead to fresh again; that one stays

    assert store.load(cookie)["count"] == 2
    assert (store.stats.stale_loads, store.stats.lost_versions) == (1, 0)


def test_an_older_version_the_master_still_serves_is_taken_and_logged(
    topology: MovingAddress, make_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store()
    cookie, _ = counted(store, 1)
    topology.copy_to_stale()
    assert increment(store, cookie) == 2

    topology.lead_to(topology.stale, close=True)  # for good: the acknowledged version 2 is lost
    with caplog.at_level(logging.WARNING, logger="hasession"):
        assert store.load(cookie)["count"] == 1  # no error, no loop: what the master has
    assert (store.stats.stale_loads, store.stats.lost_versions) == (1, 1)
    public = store.public_id(store.load(cookie))
    assert any(public in r.getMessage() and "older than version 2" in r.getMessage() for r in caplog.records)

    assert increment(store, cookie) == 2  # the session goes on from there
    assert store.load(cookie)["count"] == 2
    assert store.stats.stale_loads == 1
