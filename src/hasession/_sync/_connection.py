"""One Redis connection of the sync driver: a blocking socket feeding ``hiredis.Reader``.

``_async/_connection.py`` has the same names on an ``asyncio.Protocol``. Only the I/O is here;
settings, handshake checks and error mapping are in ``hasession/_transport.py``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl

import hiredis

from .._transport import Settings, keepalive

__all__ = ["Connection", "connect"]


class Connection:
    """Writes a batch and reads exactly its replies; anything unexpected closes it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = hiredis.Reader()
        self._lost = False
        self._timeout: float | None = sock.gettimeout()
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)

    @property
    def lost(self) -> bool:
        """Closed, or readable while idle: the server closed it, or a reply nobody asked for came
        (a TLS session ticket counts too: at worst one extra reconnect)."""
        return self._lost or bool(self._poll.poll(0))

    def close(self) -> None:
        """Close at once, from any thread; a pending :meth:`roundtrip` fails (end of file)."""
        self._lost = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
        self._sock.close()

    def roundtrip(self, packed: bytes, count: int, timeout: float) -> list[object]:
        """Send packed commands; their ``count`` replies, each read within ``timeout`` seconds.

        On any failure (a timeout, a reset, an end of file) the connection is closed: its state
        is unknown.
        """
        try:
            return self._roundtrip(packed, count, timeout)
        except BaseException:
            self.close()
            raise

    def _roundtrip(self, packed: bytes, count: int, timeout: float) -> list[object]:
        if self._lost:
            raise ConnectionError("connection closed")
        sock, reader, replies = self._sock, self._reader, list[object]()
        if timeout != self._timeout:
            sock.settimeout(timeout)
            self._timeout = timeout
        sock.sendall(packed)
        while len(replies) < count:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            reader.feed(chunk)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
        if len(replies) > count or reader.has_data():  # out of step with its commands
            raise ConnectionError("a reply nobody asked for")
        return replies


class _Socket(socket.socket):
    """Closes quietly when collected: a store that is never closed (common in WSGI apps) lets its
    connections go with it, as redis-py's do, without a ``ResourceWarning``."""

    def __del__(self) -> None:
        self.close()


class _SSLSocket(ssl.SSLSocket):
    """:class:`_Socket` for TLS."""

    def __del__(self) -> None:
        self.close()


def connect(settings: Settings) -> Connection:
    """A new connection, handshake not sent yet (within the connect timeout)."""
    address = settings.address
    if settings.unix_path is not None:
        sock: socket.socket = _Socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(settings.connect_timeout)
            sock.connect(settings.unix_path)
        except BaseException:
            sock.close()
            raise
    else:
        plain = socket.create_connection((address.host, address.port), timeout=settings.connect_timeout)
        sock = _Socket(fileno=plain.detach())
        sock.settimeout(settings.connect_timeout)
        keepalive(sock)
        if settings.tls is not None:
            try:
                settings.tls.sslsocket_class = _SSLSocket
                sock = settings.tls.wrap_socket(sock, server_hostname=address.host)
            except BaseException:
                sock.close()
                raise
    return Connection(sock)
