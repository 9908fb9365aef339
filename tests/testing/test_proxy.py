"""The fault-injecting proxy: forwards, then cuts without refusing, then heals."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hasession.testing import RedisServer
from hasession.testing._proxyctl import ProxyProcess


@pytest.fixture
def proxied_server(hasession_redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[ProxyProcess, int]]:
    proxy = ProxyProcess(tmp_path)
    try:
        port = proxy.listen("redis")
        proxy.target("redis", hasession_redis_server.port)
        yield proxy, port
    finally:
        proxy.stop()


def client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=0.3, socket_connect_timeout=0.3, retry=Retry(NoBackoff(), 0))


def test_forwards_both_ways(proxied_server: tuple[ProxyProcess, int]) -> None:
    _, port = proxied_server
    through = client(port)
    through.set("k", "v" * 100_000)
    assert through.get("k") == b"v" * 100_000


def test_cut_stalls_existing_and_new_connections_without_refusing(
    proxied_server: tuple[ProxyProcess, int],
) -> None:
    proxy, port = proxied_server
    existing = client(port)
    assert existing.ping()
    proxy.cut("redis")
    with pytest.raises(redis.TimeoutError):
        existing.ping()
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # a cut proxy still accepts connections
    with pytest.raises(redis.TimeoutError):
        client(port).ping()


def test_heal_closes_stalled_connections_and_forwards_new_ones(
    proxied_server: tuple[ProxyProcess, int],
) -> None:
    proxy, port = proxied_server
    with socket.create_connection(("127.0.0.1", port), timeout=2) as stalled:
        stalled.sendall(b"PING\r\n")
        assert stalled.recv(100) == b"+PONG\r\n"
        proxy.cut("redis")
        stalled.sendall(b"PING\r\n")
        stalled.settimeout(0.3)
        with pytest.raises(TimeoutError):
            stalled.recv(100)
        proxy.heal("redis")
        stalled.settimeout(2)
        assert stalled.recv(100) == b""  # closed; the PING sent during the cut was never delivered
    assert client(port).ping()


def test_a_listener_without_a_live_target_closes_connections(tmp_path: Path) -> None:
    proxy = ProxyProcess(tmp_path)
    try:
        port = proxy.listen("nothing")
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            assert sock.recv(100) == b""
    finally:
        proxy.stop()


def test_delay_slows_every_chunk_until_cleared(proxied_server: tuple[ProxyProcess, int]) -> None:
    proxy, port = proxied_server
    through = client(port)
    assert through.ping()
    proxy.delay("redis", 2.0)  # far above the client's 0.3 s timeout, so no timing is asserted
    with pytest.raises(redis.TimeoutError):
        through.ping()
    proxy.delay("redis", 0)
    fresh = client(port)
    assert fresh.set("k", "v" * 200_000)
    assert fresh.get("k") == b"v" * 200_000


def test_isolate_cuts_only_connections_from_one_source_address(
    proxied_server: tuple[ProxyProcess, int],
) -> None:
    proxy, port = proxied_server
    local = client(port)  # from 127.0.0.1
    with socket.create_connection(
        ("127.0.0.1", port), timeout=2, source_address=("127.0.0.2", 0)
    ) as isolated:
        isolated.sendall(b"PING\r\n")
        assert isolated.recv(100) == b"+PONG\r\n"
        proxy.isolate("redis", "127.0.0.2")
        isolated.sendall(b"PING\r\n")
        isolated.settimeout(0.5)
        with pytest.raises(TimeoutError):
            isolated.recv(100)
        assert local.ping()  # other sources still pass
        proxy.heal("redis")
        assert isolated.recv(100) == b""  # the stalled connection was closed
    with socket.create_connection(("127.0.0.1", port), timeout=2, source_address=("127.0.0.2", 0)) as again:
        again.sendall(b"PING\r\n")
        assert again.recv(100) == b"+PONG\r\n"
