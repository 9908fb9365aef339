"""The store's own transport (hasession/_transport.py and the drivers' ``_connection`` modules) on real
servers: every connection setting, and every failure closing its connection with the error the store
documents (docs/failover.md).

Each test runs on both drivers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import hasession
from hasession._commands import Batch, Call
from hasession._exceptions import StoreConnectionError, StoreError, StoreMisconfigured, StoreTimeout
from hasession._topology import Address
from hasession._transport import Pool
from hasession.testing import RedisServer, wait_until

from .conftest import SECRET, Blocking

Make = Callable[..., Any]
QUICK = hasession.RetryPolicy(hold_budget=0.5)
PATIENT = hasession.RetryPolicy(hold_budget=30.0)
# Spins for 300 ms inside Redis: a reply that is certainly in flight while the test acts.
SLOW = "local t = redis.call('TIME'); local t0 = t[1] * 1e6 + t[2] " + (
    "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - t0 > 300000 return 'slow'"
)


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """Build stores on a URL."""
    made: list[Any] = []

    def build(url: str, **options: Any) -> Any:
        cls = hasession.SessionStore if request.param == "sync" else hasession.AsyncSessionStore
        store = cls.from_url(url, secret_keys=SECRET, **options)
        made.append(store if request.param == "sync" else Blocking(store))  # type: ignore[arg-type]
        return made[-1]

    yield build
    for store in made:
        store.close()


def roundtrip(store: Any) -> str:
    """Write a session and read it back: the store works end to end."""
    session = store.load(None)
    session["n"] = 1
    cookie = store.save(session).value
    return str(store.load(cookie)["n"])


def error_of(store: Any) -> StoreError:
    try:
        roundtrip(store)
    except StoreError as exc:
        return exc
    raise AssertionError("no error")


def send(store: Any, address: Address, *args: Any, timeout: float | None = None) -> list[Any]:
    """One batch to one node, no retry (as the discovery probes send)."""
    batch = Batch((Call(args),), route="", write=False, node=address, timeout=timeout)
    return store._send(address, batch)  # type: ignore[no-any-return]


def pool_map(store: Any) -> dict[Address, Any]:
    return (store.store if isinstance(store, Blocking) else store)._pools  # type: ignore[no-any-return]


def lean_pool(store: Any, address: Address) -> Pool[Any]:
    pool = pool_map(store)[address]
    assert isinstance(pool, Pool)
    return pool


def in_background(call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    return concurrent.futures.ThreadPoolExecutor(1).submit(call)


# -- connection settings ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Path]]:
    """A server with an ACL user, a unix socket and a TLS port that requires a client certificate."""
    folder = tmp_path_factory.mktemp("secured")
    certs = tls_files(folder)
    tls_port = free_port()
    config = {
        "unixsocket": str(folder / "redis.sock"),
        "unixsocketperm": "700",
        "user": "alice on >wonderland ~* &* +@all",
        "tls-port": str(tls_port),
        "tls-cert-file": str(certs / "server.pem"),
        "tls-key-file": str(certs / "server.key"),
        "tls-ca-cert-file": str(certs / "ca.pem"),
        "tls-auth-clients": "yes",
    }
    with RedisServer(config=config) as server:
        yield server, folder


def test_unix_socket_user_db_and_client_name(make: Make, secured: tuple[RedisServer, Path]) -> None:
    server, folder = secured
    store = make(f"unix://alice:wonderland@{folder}/redis.sock?db=3&client_name=web-7")
    assert roundtrip(store) == "1"
    admin = server.client()
    clients = admin.client_list()
    assert any(c["name"] == "web-7" and c["user"] == "alice" and c["db"] == "3" for c in clients)
    assert admin.execute_command("SELECT", 3) and admin.dbsize() > 0


def test_tcp_user_db_and_client_name(make: Make, secured: tuple[RedisServer, Path]) -> None:
    server, _ = secured
    store = make(f"redis://alice:wonderland@127.0.0.1:{server.port}/5?client_name=web-8")
    assert roundtrip(store) == "1"
    clients = server.client().client_list()
    assert any(c["name"] == "web-8" and c["user"] == "alice" and c["db"] == "5" for c in clients)


@pytest.mark.parametrize("password", ["wrong", None])
def test_refused_credentials_are_a_misconfiguration_never_retried(
    make: Make, secured: tuple[RedisServer, Path], password: str | None
) -> None:
    server, _ = secured
    admin = server.client()
    admin.config_set("requirepass", "door")
    try:
        auth = f":{password}@" if password else ""
        url = f"redis://{auth}127.0.0.1:{server.port}/0"
        store = make(url, retry=QUICK)
        error = error_of(store)
        assert isinstance(error, StoreMisconfigured) and error.cause == "auth"
        assert store.stats.retries == 0
    finally:
        admin.config_set("requirepass", "")  # its connection stays authenticated


def tls_url(server: RedisServer, folder: Path, *, client_cert: bool = True, ca: str = "ca.pem") -> str:
    certs = folder / "certs"
    query = f"ssl_ca_certs={certs / ca}"
    if client_cert:
        query += f"&ssl_certfile={certs / 'client.pem'}&ssl_keyfile={certs / 'client.key'}"
    return f"rediss://127.0.0.1:{server.node.config['tls-port']}/0?{query}"


def test_tls_with_server_verification_and_a_client_certificate(
    make: Make, secured: tuple[RedisServer, Path]
) -> None:
    server, folder = secured
    assert roundtrip(make(tls_url(server, folder))) == "1"


@pytest.mark.parametrize("kind", ["tcp", "unix", "tls"])
def test_each_kind_of_socket_times_out_and_sees_an_idle_close(
    make: Make, secured: tuple[RedisServer, Path], kind: str
) -> None:
    """The sync connection watches an idle TCP socket through ``TCP_INFO`` and a unix or TLS one
    with ``poll``, and bounds every read with a kernel timeout: each kind is checked, on both drivers.
    An idle connection the server closed is never handed out: the next command gets a new one."""
    server, folder = secured
    url, here = {
        "tcp": (server.url, address_of(server)),
        "unix": (f"unix://{folder}/redis.sock", Address("unix", 0)),
        "tls": (tls_url(server, folder), Address("127.0.0.1", int(server.node.config["tls-port"]))),
    }[kind]
    store = make(url)
    assert send(store, here, "PING") == [b"PONG"]
    (idle,) = lean_pool(store, here)._idle
    server.client().client_kill_filter(_type="normal", skipme=True)
    wait_until(lambda: idle.lost, timeout=10, message="the connection sees its end")
    assert send(store, here, "PING") == [b"PONG"]  # on a new connection, without an error
    server.pause()
    try:
        with pytest.raises(StoreTimeout):
            in_background(lambda: send(store, here, "PING", timeout=0.25)).result(timeout=60)
    finally:
        server.resume()
    assert lean_pool(store, here)._idle == []
    assert send(store, here, "PING") == [b"PONG"]


@pytest.mark.parametrize("fault", ["no client certificate", "unknown CA"])
def test_refused_tls_is_a_misconfiguration(make: Make, secured: tuple[RedisServer, Path], fault: str) -> None:
    server, folder = secured
    if fault == "unknown CA":
        url = tls_url(server, folder, ca="other-ca.pem")
    else:
        url = tls_url(server, folder, client_cert=False)
    # Under TLS 1.3 the server's refusal of a missing certificate comes after the handshake, and its reset
    # may overtake it: that try looks like a lost connection and is retried.
    with pytest.raises(StoreMisconfigured) as caught:
        roundtrip(make(url, retry=PATIENT))
    assert caught.value.cause == "tls"


# -- failures ---------------------------------------------------------------------------------------------


@pytest.fixture
def server(hasession_redis_server: RedisServer) -> RedisServer:
    hasession_redis_server.client().flushall()
    return hasession_redis_server


def address_of(server: RedisServer) -> Address:
    return Address(server.host, server.port)


def test_a_batch_timeout_overrides_the_socket_timeout_and_closes_the_connection(
    make: Make, server: RedisServer
) -> None:
    store = make(f"{server.url}?socket_timeout=3600")
    here = address_of(server)
    assert send(store, here, "PING") == [b"PONG"]
    server.pause()
    try:
        late = in_background(lambda: send(store, here, "PING", timeout=0.25))
        with pytest.raises(StoreTimeout):
            late.result(timeout=60)
    finally:
        server.resume()
    assert lean_pool(store, here)._idle == [] and lean_pool(store, here)._busy == set()
    assert send(store, here, "PING") == [b"PONG"]


def test_a_longer_timeout_after_a_shorter_one_is_kept_in_full(make: Make, server: RedisServer) -> None:
    """The async connection's deadline watchdog, armed for a short round trip, fires during a longer
    one: it waits on until that one's own deadline instead of failing it early."""
    store = make(server.url)
    here = address_of(server)
    assert send(store, here, "PING", timeout=0.2) == [b"PONG"]  # arms the watchdog 0.2 s ahead
    server.pause()
    try:
        began = time.monotonic()
        with pytest.raises(StoreTimeout):
            send(store, here, "PING", timeout=1.5)
        assert time.monotonic() - began >= 1.5  # a lower bound: a busy machine only makes it later
    finally:
        server.resume()
    assert lean_pool(store, here)._idle == []
    assert send(store, here, "PING") == [b"PONG"]


def test_a_server_lost_mid_reply_fails_the_call(make: Make) -> None:
    with RedisServer() as doomed:
        store = make(doomed.url)
        here = address_of(doomed)
        pending = in_background(lambda: send(store, here, "EVAL", SLOW, 0))
        wait_until(
            lambda: here in pool_map(store) and lean_pool(store, here)._busy, timeout=10, message="sent"
        )
        (conn,) = lean_pool(store, here)._busy
        doomed.kill()
        with pytest.raises(StoreConnectionError):
            pending.result(timeout=60)
        assert conn.lost and lean_pool(store, here)._idle == []


def test_an_idle_sync_connection_with_bytes_nobody_read_is_never_handed_out(server: RedisServer) -> None:
    """The sync connection's idle check (the kernel's ``TCP_INFO`` on plain TCP) sees a reply that
    came after its round trip, as well as a close."""
    store = hasession.SessionStore.from_url(server.url, secret_keys=SECRET)
    here = address_of(server)
    assert send(store, here, "PING") == [b"PONG"]
    (idle,) = lean_pool(store, here)._idle
    assert not idle.lost
    idle._sock.sendall(b"*1\r\n$4\r\nPING\r\n")  # its reply is never read
    wait_until(lambda: idle.lost, timeout=10, message="the connection sees the stray reply")
    assert send(store, here, "PING") == [b"PONG"]
    assert idle not in lean_pool(store, here)._idle
    store.close()


def test_dropping_a_node_fails_its_calls_in_flight(make: Make, server: RedisServer) -> None:
    store = make(server.url)
    here = address_of(server)
    pending = in_background(lambda: send(store, here, "EVAL", SLOW, 0))
    wait_until(lambda: here in pool_map(store) and lean_pool(store, here)._busy, timeout=10, message="sent")
    pool = lean_pool(store, here)
    store._drop((here,))
    with pytest.raises(StoreConnectionError):
        pending.result(timeout=60)
    assert pool.closed and pool._idle == []
    assert send(store, here, "PING") == [b"PONG"]  # a new pool


def test_a_half_read_reply_times_out_and_closes_the_connection(make: Make) -> None:
    with half_reply_server() as port:
        store = make(f"redis://127.0.0.1:{port}/0?socket_timeout=0.3")
        here = Address("127.0.0.1", port)
        with pytest.raises(StoreTimeout):
            send(store, here, "GET", "k")
        assert lean_pool(store, here)._idle == []


def test_a_cancelled_call_closes_its_connection(server: RedisServer) -> None:
    async def main() -> None:
        store = hasession.AsyncSessionStore.from_url(server.url, secret_keys=SECRET)
        here = address_of(server)
        task = asyncio.ensure_future(send(store, here, "EVAL", SLOW, 0))
        while not store._pools or not lean_pool(store, here)._busy:
            await asyncio.sleep(0.005)
        (conn,) = lean_pool(store, here)._busy
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.lost and lean_pool(store, here)._idle == []
        assert await send(store, here, "PING") == [b"PONG"]
        await store.close()

    asyncio.run(main())


def test_threads_share_the_pool(server: RedisServer) -> None:
    store = hasession.SessionStore.from_url(server.url, secret_keys=SECRET)
    here = address_of(server)
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as threads:
            echoes = list(threads.map(lambda i: send(store, here, "ECHO", str(i)), range(800)))
        assert echoes == [[str(i).encode()] for i in range(800)]
        pool = lean_pool(store, here)
        assert pool._busy == set() and 1 <= len(pool._idle) <= 16
    finally:
        store.close()


# -- helpers ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class half_reply_server:
    """A TCP server that answers the ``PING`` of each batch, then half a bulk reply, then nothing."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.peers: list[socket.socket] = []

    def serve(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                peer, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.peers.append(peer)
            peer.recv(65536)
            peer.sendall(b"$10\r\nabc")  # 3 bytes of 10, then silence

    def __enter__(self) -> int:
        self.thread.start()
        return int(self.listener.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()
        for peer in self.peers:
            peer.close()


def tls_files(folder: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (and a CA nobody used)."""
    certs = folder / "certs"
    certs.mkdir()
    ca_key, ca = _certificate("hasession test CA", None, None, ca=True)
    _write(certs / "ca", ca_key, ca)
    for name in ("server", "client"):
        key, cert = _certificate(f"hasession test {name}", ca_key, ca, ca=False)
        _write(certs / name, key, cert)
    other_key, other = _certificate("another CA", None, None, ca=True)
    _write(certs / "other-ca", other_key, other)
    return certs


def _certificate(
    name: str, issuer_key: Any, issuer: x509.Certificate | None, *, ca: bool
) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def _write(stem: Path, key: Any, cert: x509.Certificate) -> None:
    stem.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    stem.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
