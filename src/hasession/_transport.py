"""The store's own Redis transport, minus the I/O: connection settings, the connection handshake,
reply decoding, error mapping and the pool bookkeeping.

The drivers' ``_connection`` modules (an ``asyncio.Protocol``, a blocking socket) only move bytes:
they write one packed batch and hand back exactly its replies, parsed by ``hiredis.Reader``.
Everything here is shared by both drivers and does no I/O.

Rules (docs/design.md, failures): a connection whose state is unknown (a read that timed out or was
cut short, a reset, an end of file, a reply nobody asked for) is closed, never reused. An error
reply leaves its connection usable: every reply of the batch was read.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import hiredis

from ._commands import Arg, Reply, pack
from ._exceptions import (
    StoreConnectionError,
    StoreError,
    StoreMisconfigured,
    StoreProtocolError,
    StoreTimeout,
)
from ._redis import tls_refusal
from ._routing import error_from_reply
from ._topology import Address, ConnectionOptions

__all__ = [
    "IO_ERRORS",
    "Link",
    "Pool",
    "Settings",
    "check_hello",
    "decode",
    "io_error",
    "io_errors",
    "keepalive",
    "settings",
]

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
# Error replies that mean the credentials are wrong or missing: misconfiguration, never retried
# (redis-py raises its AuthenticationError for them; hasession/_redis.py maps it to the same error).
_AUTH_ERRORS = (
    "WRONGPASS",
    "NOAUTH",
    "ERR invalid password",
    "ERR Client sent AUTH",
    "ERR AUTH <password> called",
)
_FULL = "ERR max number of clients reached"  # a refused connection (redis-py: ConnectionError)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Where and how to open a connection to one node."""

    address: Address
    unix_path: str | None = None
    tls: ssl.SSLContext | None = None
    connect_timeout: float
    #: Seconds to wait for a batch's replies when the batch names no timeout.
    read_timeout: float
    #: ``AUTH``, ``CLIENT SETNAME`` and ``SELECT``, packed, and how many replies they give.
    hello: bytes = b""
    hello_count: int = 0
    max_connections: int


def settings(options: ConnectionOptions, address: Address, unix_path: str | None = None) -> Settings:
    """The settings of connections to ``address`` (a unix socket when ``unix_path`` is given)."""
    hello = _hello(options)
    return Settings(
        address=address,
        unix_path=unix_path,
        tls=_tls_context(options) if options.tls and unix_path is None else None,
        connect_timeout=options.connect_timeout,
        read_timeout=options.socket_timeout,
        hello=pack(hello),
        hello_count=len(hello),
        max_connections=options.max_connections,
    )


def _hello(options: ConnectionOptions) -> list[tuple[Arg, ...]]:
    """The commands a new connection sends first (those redis-py's ``on_connect`` sends, RESP2)."""
    commands: list[tuple[Arg, ...]] = []
    if options.password is not None:
        password = options.password.reveal()
        commands.append(("AUTH", options.username, password) if options.username else ("AUTH", password))
    if options.client_name:
        commands.append(("CLIENT", "SETNAME", options.client_name))
    if options.db:
        commands.append(("SELECT", options.db))
    return commands


def _tls_context(options: ConnectionOptions) -> ssl.SSLContext:
    """The TLS context redis-py's ``SSLConnection`` builds for the same options."""
    context = ssl.create_default_context()
    reqs = _CERT_REQS[options.ssl_cert_reqs]
    context.check_hostname = reqs != ssl.CERT_NONE
    context.verify_mode = reqs
    if options.ssl_certfile or options.ssl_keyfile:
        context.load_cert_chain(certfile=options.ssl_certfile or "", keyfile=options.ssl_keyfile)
    if options.ssl_ca_certs is not None:
        context.load_verify_locations(cafile=options.ssl_ca_certs)
    return context


def keepalive(sock: Any) -> None:
    """TCP keepalive and no Nagle delay on a connected socket (as redis-py sets them)."""
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def decode(raw: list[object], address: Address) -> list[Reply]:
    """Replies as the flows take them: an error reply becomes its :class:`StoreError`."""
    return [_error(reply, address) if isinstance(reply, hiredis.ReplyError) else reply for reply in raw]


def _error(reply: hiredis.ReplyError, address: Address) -> StoreError:
    text = str(reply)
    if text.startswith(_AUTH_ERRORS):
        return StoreMisconfigured(
            f"{address}: authentication failed ({text}); check the username and password", cause="auth"
        )
    if text.startswith(_FULL):
        return StoreConnectionError(f"{address}: {text}")
    return error_from_reply(text[4:] if text.startswith("ERR ") else text)


def check_hello(raw: list[object], address: Address) -> None:
    """Raise the first error reply to the handshake."""
    for reply in decode(raw, address):
        if isinstance(reply, StoreError):
            raise reply


def io_error(address: Address, exc: OSError | hiredis.ProtocolError) -> StoreError:
    """The :class:`StoreError` for an I/O error of a connection to ``address`` (raise it ``from exc``)."""
    if isinstance(exc, TimeoutError):  # socket.timeout and asyncio's are this class since Python 3.10 / 3.11
        return StoreTimeout(f"{address}: timed out")
    if isinstance(exc, hiredis.ProtocolError):
        return StoreProtocolError(f"{address}: {exc}")
    # refused, reset, end of file, TLS failures (a refusal: misconfigured)
    return tls_refusal(address, exc) or StoreConnectionError(f"{address}: {exc}")


#: What :func:`io_error` translates.
IO_ERRORS = (OSError, hiredis.ProtocolError)


@contextmanager
def io_errors(address: Address) -> Iterator[None]:
    """Translate the I/O errors of a connection into :class:`StoreError` subclasses (:func:`io_error`)."""
    try:
        yield
    except IO_ERRORS as exc:
        raise io_error(address, exc) from exc


class Link(Protocol):
    """What the pool needs of a connection."""

    @property
    def lost(self) -> bool:
        """Closed (by us, or by the server): never handed out again."""

    def close(self) -> None:
        """Close it now (its owner's I/O, if any, fails)."""


L = TypeVar("L", bound=Link)


class Pool(Generic[L]):
    """The connections to one node: idle ones to hand out, busy ones to close when the node is left.

    Thread-safe (the sync store's request threads share it). A connection goes back to the idle list
    only when its owner says its state is known and the pool was not closed in the meantime.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[L] = []
        self._busy: set[L] = set()
        self._opening = 0
        self._limit = settings.max_connections
        self._lock = threading.Lock()
        self.closed = False

    def take(self) -> L | None:
        """An idle connection, or ``None``: the caller opens one and hands it to :meth:`opened`."""
        while True:
            with self._lock:
                if not self._idle:
                    if len(self._busy) + self._opening >= self._limit:
                        raise StoreConnectionError(
                            f"{self.settings.address}: too many connections ({self._limit})"
                        )
                    self._opening += 1
                    return None
                link = self._idle.pop()
                if not link.lost:
                    self._busy.add(link)
                    return link
            link.close()  # idle, and the server closed it or a reply nobody asked for came

    def opened(self, link: L | None) -> None:
        """Count a connection opened after :meth:`take` (``None``: opening it failed)."""
        with self._lock:
            self._opening -= 1
            if link is not None:
                self._busy.add(link)
        if link is not None and self.closed:
            link.close()

    def release(self, link: L, healthy: bool) -> None:
        """Take a connection back: idle again if ``healthy``, else closed."""
        with self._lock:
            self._busy.discard(link)
            if healthy and not self.closed:
                self._idle.append(link)
                return
        link.close()

    def close(self) -> None:
        """Close every connection, busy ones too (their owners' I/O fails and is retried)."""
        with self._lock:
            self.closed = True
            links = [*self._idle, *self._busy]
            self._idle.clear()
        for link in links:
            link.close()
