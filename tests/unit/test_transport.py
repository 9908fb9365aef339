"""The pure parts of the store's own transport: handshake, reply decoding, error mapping, the pool."""

from __future__ import annotations

import ssl

import hiredis
import pytest

from hasession._commands import pack
from hasession._config import Secret
from hasession._exceptions import (
    FailoverInProgress,
    StoreConnectionError,
    StoreMisconfigured,
    StoreProtocolError,
    StoreResponseError,
    StoreTimeout,
)
from hasession._routing import NoScript, Redirected
from hasession._topology import Address, ConnectionOptions
from hasession._transport import Pool, decode, io_errors, settings

HERE = Address("127.0.0.1", 6379)


def hello(**options: object) -> bytes:
    return settings(ConnectionOptions(**options), HERE).hello  # type: ignore[arg-type]


def test_the_handshake_is_what_redis_py_sends_on_connect() -> None:
    assert hello() == b""
    assert hello(password=Secret("pw")) == pack([("AUTH", "pw")])
    assert hello(username="alice", password=Secret("pw"), client_name="web", db=3) == pack(
        [("AUTH", "alice", "pw"), ("CLIENT", "SETNAME", "web"), ("SELECT", 3)]
    )
    assert settings(ConnectionOptions(client_name="web", db=3), HERE).hello_count == 2


def test_tls_verifies_the_server_unless_told_not_to() -> None:
    required = settings(ConnectionOptions(tls=True), HERE).tls
    assert required is not None and required.verify_mode == ssl.CERT_REQUIRED and required.check_hostname
    loose = settings(ConnectionOptions(tls=True, ssl_cert_reqs="none"), HERE).tls
    assert loose is not None and loose.verify_mode == ssl.CERT_NONE and not loose.check_hostname
    assert settings(ConnectionOptions(tls=False), HERE).tls is None


def replies(wire: bytes) -> list[object]:
    reader, out = hiredis.Reader(), []
    reader.feed(wire)
    while (reply := reader.gets()) is not False:
        out.append(reply)
    return decode(out, HERE)


def test_error_replies_become_the_errors_redis_py_replies_map_to() -> None:
    got = replies(
        b"$2\r\nok\r\n-MOVED 3999 127.0.0.1:7001\r\n-NOSCRIPT No matching script\r\n"
        b"-READONLY You can't write against a read only replica.\r\n-ERR unknown command 'X'\r\n"
        b"-WRONGPASS invalid username-password pair\r\n-NOAUTH Authentication required.\r\n"
        b"-ERR max number of clients reached\r\n:7\r\n"
    )
    assert got[0] == b"ok" and got[-1] == 7
    assert isinstance(got[1], Redirected) and got[1].address == Address("127.0.0.1", 7001)
    assert isinstance(got[2], NoScript)
    assert isinstance(got[3], FailoverInProgress)
    assert type(got[4]) is StoreResponseError and str(got[4]) == "unknown command 'X'"
    for auth in got[5:7]:
        assert type(auth) is StoreMisconfigured and auth.cause == "auth"
    assert type(got[7]) is StoreConnectionError


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (TimeoutError(), StoreTimeout),
        (ConnectionResetError(), StoreConnectionError),
        (ConnectionError("connection closed by the server"), StoreConnectionError),
        (ssl.SSLError(), StoreConnectionError),
        (hiredis.ProtocolError("bad"), StoreProtocolError),
    ],
)
def test_io_errors_map_like_redis_py_errors(raised: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info, io_errors(HERE):
        raise raised
    assert info.value.__cause__ is raised


class Link:
    def __init__(self) -> None:
        self.lost = False

    def close(self) -> None:
        self.lost = True


def pool(limit: int = 4) -> Pool[Link]:
    return Pool(settings(ConnectionOptions(max_connections=limit), HERE))


def test_a_connection_returns_to_the_pool_only_when_healthy() -> None:
    links = pool()
    assert links.take() is None  # none idle: the caller opens one
    first, second = Link(), Link()
    links.opened(first)
    links.release(first, healthy=True)
    assert links.take() is first
    links.release(first, healthy=False)
    assert first.lost
    assert links.take() is None
    links.opened(second)
    links.release(second, healthy=True)
    second.lost = True  # the server closed it while idle
    assert links.take() is None


def test_the_pool_counts_connections_being_opened_against_its_limit() -> None:
    links = pool(limit=2)
    assert links.take() is None
    links.opened(Link())
    assert links.take() is None
    with pytest.raises(StoreConnectionError, match="too many connections"):
        links.take()
    links.opened(None)  # that one failed to open: its slot is free again
    assert links.take() is None


def test_closing_a_pool_closes_busy_connections_and_refuses_them_back() -> None:
    links = pool()
    idle, busy, late = Link(), Link(), Link()
    for _ in range(3):
        assert links.take() is None
    links.opened(idle)
    links.release(idle, healthy=True)
    links.opened(busy)
    links.close()
    assert idle.lost and busy.lost
    links.release(busy, healthy=True)
    links.opened(late)  # opened while the pool was closed: closed at once
    assert late.lost
