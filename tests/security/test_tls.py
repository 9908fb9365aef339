"""TLS everywhere, on real servers with certificates made by the test: Sentinel (with its own password)
over TLS replicas, a TLS Cluster, and a failover under TLS that keeps the failover guarantees."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import hasession
from hasession import StoreMisconfigured
from hasession.testing import ClusterTopology, RedisServer, SentinelTopology, TLSFiles, wait_until
from hasession.testing._redisops import info

from .conftest import PASSWORD, SECRET, SENTINEL_PASSWORD


@pytest.fixture
def tls_sentinel(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[SentinelTopology]:
    """Mutual TLS on every data node and Sentinel; replication and Sentinel links over TLS; two passwords."""
    with SentinelTopology(
        replicas=2,
        sentinels=3,
        tls=tls_files,
        password=PASSWORD,
        sentinel_password=SENTINEL_PASSWORD,
        tmpdir=tmp_path_factory.mktemp("tls-sentinel"),
    ) as topology:
        yield topology


def _replication_is_tls(topology: SentinelTopology) -> None:
    """Every replica follows the master on its TLS port (the plain port is the harness's own)."""
    master = topology.current_master()
    for node in topology.nodes:
        if node is not master:
            state = info(node.admin, "replication")
            assert (state["master_host"], state["master_port"]) == master.address
            assert master.address[1] != master.direct_port


def test_sentinel_over_tls_with_its_own_password(tls_sentinel: SentinelTopology) -> None:
    url = tls_sentinel.url
    assert url.startswith("rediss+sentinel://") and "sentinel_password=" in url
    _replication_is_tls(tls_sentinel)
    with hasession.SessionStore.from_url(url, secret_keys=SECRET) as store:
        session = store.load(None)
        session["user"] = "ada"
        cookie = store.save(session).value
        assert store.load(cookie)["user"] == "ada"
        assert store.stats.retries == 0


def test_a_failover_under_tls_keeps_every_session(tls_sentinel: SentinelTopology) -> None:
    """kill -9 of the master under a few users: 0 errors, 0 lost sessions, no acknowledged write lost
    beyond the one in flight per user that asynchronous replication allows."""
    with hasession.SessionStore.from_url(tls_sentinel.url, secret_keys=SECRET) as store:
        users = _Users(store, 5)
        with users:
            users.progress(2)
            tls_sentinel.wait_for_replicas_synced()
            old = tls_sentinel.kill_master()
            tls_sentinel.wait_for_new_master(old)
            users.progress(5)
        print(
            f"kill -9 under TLS: {sum(users.counts)} steps, errors {len(users.errors)}, lost sessions "
            f"{users.lost_sessions}, lost writes {users.lost_writes}, stats {store.stats.snapshot()}"
        )
        assert users.errors == []
        assert users.lost_sessions == 0
        assert users.lost_writes <= len(users.counts)
        assert store.stats.failovers >= 1


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[ClusterTopology]:
    with ClusterTopology(
        primaries=3, replicas_per_primary=0, tls=tls_files, tmpdir=tmp_path_factory.mktemp("tls-cluster")
    ) as cluster:
        yield cluster


def test_a_cluster_over_tls(tls_cluster: ClusterTopology) -> None:
    assert tls_cluster.url.startswith("rediss+cluster://")
    assert info(tls_cluster.nodes[0].admin, "server")["tcp_port"] != tls_cluster.nodes[0].port
    with hasession.SessionStore.from_url(tls_cluster.url, secret_keys=SECRET) as store:
        cookies = []
        for n in range(30):  # spread over the three primaries' slots
            session = store.load(None)
            session["n"] = n
            cookies.append(store.save(session).value)
        assert [store.load(cookie)["n"] for cookie in cookies] == list(range(30))
        assert store.stats.retries == 0


def test_a_cluster_refusing_our_certificate_fails_at_once(tls_cluster: ClusterTopology) -> None:
    without_client_cert = tls_cluster.url.split("&ssl_certfile=")[0]
    with hasession.SessionStore.from_url(without_client_cert, secret_keys=SECRET) as store:
        session = store.load(None)
        session["n"] = 1
        with pytest.raises(StoreMisconfigured) as caught:  # not StoreUnavailable after the budget
            store.save(session)
        assert caught.value.cause == "tls"
    # No retry count is asserted: under TLS 1.3 the server's "certificate required" alert comes after
    # the handshake, and when the server's reset overtakes it the try looks like a lost connection.


def test_fresh_tls_connections_are_not_retried(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> None:
    """TLS 1.3 session tickets arrive after the handshake; redis-py 8's sync pool took them for unread
    replies ("Connection not ready") and about one new store in three made a retry. (Without a password:
    an AUTH on connect reads them away.)"""
    with RedisServer(tls=tls_files, tmpdir=tmp_path_factory.mktemp("tickets")) as server:
        retries = sum(_fresh_store_retries(server.url) for _ in range(30))
    assert retries == 0


def _fresh_store_retries(url: str) -> int:
    with hasession.SessionStore.from_url(url, secret_keys=SECRET) as store:
        session = store.load(None)
        session["n"] = 1
        store.save(session)
        return store.stats.retries


class _Users:
    """Users in threads, each loading its session, checking its counter and incrementing it."""

    def __init__(self, store: Any, n: int) -> None:
        self.store = store
        self.cookies: list[str] = []
        for _ in range(n):
            session = store.load(None)
            session["count"] = 0
            self.cookies.append(store.save(session).value)
        self.counts = [0] * n
        self.errors: list[BaseException] = []
        self.lost_sessions = self.lost_writes = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)]

    def _loop(self, i: int) -> None:
        while not self._stop.is_set():
            try:
                session = self.store.load(self.cookies[i])
                if session.new:
                    self.lost_sessions += 1
                    continue
                seen = session.get("count", 0)
                self.lost_writes += max(0, self.counts[i] - seen)
                session["count"] = seen + 1
                self.store.save(session)
                self.counts[i] = seen + 1
            except Exception as exc:  # what a web framework would have turned into an error page
                self.errors.append(exc)

    def progress(self, steps: int) -> None:
        targets = [c + steps for c in self.counts]
        wait_until(
            lambda: all(c >= t for c, t in zip(self.counts, targets, strict=True)),
            timeout=60,
            message=f"every user to make {steps} more steps",
        )

    def __enter__(self) -> _Users:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
