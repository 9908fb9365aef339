"""One Redis connection of the sync driver: a blocking socket feeding ``hiredis.Reader``.

``_async/_connection.py`` has the same names on an ``asyncio.Protocol``. Only the I/O is here;
settings, handshake checks and error mapping are in ``hasession/_transport.py``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct

import hiredis

from .._transport import Settings, keepalive

__all__ = ["Connection", "connect"]


class Connection:
    """Writes a batch and reads exactly its replies; anything unexpected closes it.

    A plain socket (TCP, unix) is blocking, with its timeouts in the kernel (``SO_RCVTIMEO``,
    ``SO_SNDTIMEO``): Python's own timeout would ``poll`` before every send and receive, one more
    system call (and one more release of the GIL, which wakes a waiting thread) each time. A TLS
    socket keeps Python's timeout: ``ssl`` retries a blocking read that the kernel timed out.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._kernel_timeouts = not isinstance(sock, ssl.SSLSocket)
        if self._kernel_timeouts:
            sock.settimeout(None)
        self._sock = sock
        self._reader = hiredis.Reader()
        self._lost = False
        self._timeout: float | None = sock.gettimeout()
        #: Bytes read from the socket: on plain TCP, the kernel's count of bytes received tells
        #: whether any came since (see :attr:`lost`).
        self._received = 0
        self._tcp = _tcp_info(sock) is not None
        if not self._tcp:
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)

    @property
    def lost(self) -> bool:
        """Closed, or readable while idle: the server closed it, or a reply nobody asked for came
        (a TLS session ticket counts too: at worst one extra reconnect).

        On plain TCP the kernel says so in ``TCP_INFO`` (the state, and the bytes received against
        those read), a system call that keeps the GIL, where ``poll`` releases it and wakes a
        waiting thread; on a unix socket or TLS, ``poll``.
        """
        if self._lost:
            return True
        if self._tcp:
            info = self._sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_FIELDS.size)
            state: int
            received: int
            state, received = _TCP_INFO_FIELDS.unpack(info)
            return state != _ESTABLISHED or received != self._received
        return bool(self._poll.poll(0))

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
            if self._kernel_timeouts:
                _kernel_timeouts(sock, timeout)
            else:
                sock.settimeout(timeout)
            self._timeout = timeout
        try:
            sock.sendall(packed)
            while len(replies) < count:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed by the server")
                self._received += len(chunk)
                reader.feed(chunk)
                while (reply := reader.gets()) is not False:
                    replies.append(reply)
        except BlockingIOError as exc:  # past a kernel timeout
            raise TimeoutError("timed out") from exc
        if len(replies) > count or reader.has_data():  # out of step with its commands
            raise ConnectionError("a reply nobody asked for")
        return replies


_TCP_INFO: int = getattr(socket, "TCP_INFO", 0)  # Linux (0: none)
#: ``struct tcp_info`` through ``tcpi_bytes_received`` (Linux 4.1): the state, 127 bytes, the count.
_TCP_INFO_FIELDS = struct.Struct("=B127xQ")
_ESTABLISHED = 1  # tcpi_state


def _tcp_info(sock: socket.socket) -> tuple[int, int] | None:
    """``(state, bytes received)`` of a plain TCP socket from the kernel, or ``None`` (a unix
    socket, TLS, another system, or a kernel older than Linux 4.1)."""
    if not _TCP_INFO or isinstance(sock, ssl.SSLSocket) or sock.family == socket.AF_UNIX:
        return None
    info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_FIELDS.size)
    if len(info) < _TCP_INFO_FIELDS.size:
        return None
    state, received = _TCP_INFO_FIELDS.unpack(info)
    return state, received


def _kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Bound each send and each receive of ``sock`` to ``seconds`` (at least a microsecond: zero
    would mean no bound)."""
    micros = max(round(seconds * 1_000_000), 1)
    timeval = struct.pack("@ll", *divmod(micros, 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


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
