"""RedisServer: one real standalone redis-server."""

from __future__ import annotations

import socket

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hasession.testing import RedisServer, StartupError


def refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def no_retry_client(port: int, timeout: float = 0.5) -> redis.Redis:
    return redis.Redis(
        port=port, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def test_starts_answers_and_stops() -> None:
    with RedisServer() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.host == "127.0.0.1"
        assert server.port != 6379
        assert server.client().ping() is True
        port, workdir = server.port, server.node.workdir
        assert server.log_path.exists()
    assert refuses_connections(port)
    assert not workdir.exists()


def test_start_and_stop_without_a_with_block() -> None:
    server = RedisServer().start()
    try:
        assert server.client().ping()
    finally:
        server.stop()
    server.stop()  # twice is fine
    assert server.__repr__() == "<RedisServer stopped>"


def test_config_overrides_the_defaults() -> None:
    with RedisServer(config={"maxmemory": "7mb", "appendonly": "yes"}) as server:
        client = server.client(decode_responses=True)
        assert client.config_get("maxmemory") == {"maxmemory": str(7 * 1024 * 1024)}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("repl-diskless-sync-delay") == {"repl-diskless-sync-delay": "0"}


def test_kill_then_restart_on_the_same_port() -> None:
    with RedisServer() as server:
        port = server.port
        server.kill()
        assert server.pid is None
        assert refuses_connections(port)
        server.restart()
        assert server.port == port
        assert server.client().ping()


def test_restart_keeps_the_data_and_restart_empty_wipes_it() -> None:
    with RedisServer() as server:
        server.client().set("session", "alive")
        server.restart()
        assert server.client().get("session") == b"alive"
        server.restart(empty=True)
        assert server.client().get("session") is None


def test_pause_makes_clients_time_out_and_resume_brings_it_back() -> None:
    with RedisServer() as server:
        client = no_retry_client(server.port)
        assert client.ping()
        server.pause()
        assert server.node.paused
        with pytest.raises(redis.TimeoutError):
            client.ping()
        server.resume()
        assert no_retry_client(server.port).ping()


def test_an_explicit_port_that_is_taken_fails_with_the_log_tail() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError, match="Address already in use"):
            RedisServer(port=port).start()


def test_a_bad_directive_fails_with_the_log_tail() -> None:
    with pytest.raises(StartupError, match="Bad directive"):
        RedisServer(config={"no-such-directive": "1"}).start()


def test_a_picked_port_that_is_taken_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    from hasession.testing import _process

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, _process.free_port()])
        monkeypatch.setattr(_process, "free_port", lambda: next(ports))
        with RedisServer() as server:
            assert server.port != busy
            assert server.client().ping()
