"""One Redis connection of the async driver: an ``asyncio.Protocol`` feeding ``hiredis.Reader``.

``_sync/_connection.py`` has the same names on a blocking socket. Only the I/O is here; settings,
handshake checks and error mapping are in ``hasession/_transport.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import hiredis

from .._transport import Settings, keepalive

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # pragma: no cover - redis-py depends on async-timeout there
    from async_timeout import timeout as _deadline  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Connection", "connect"]


class Connection(asyncio.Protocol):
    """Writes a batch and collects exactly its replies; anything unexpected closes it."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()  # made by the loop's create_connection
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._replies: list[object] = []
        self._expected = 0
        self._waiter: asyncio.Future[list[object]] | None = None
        # The pending round trip's deadline (loop time) and its timeout, and the watchdog: a timer
        # that is always due at or before the deadline while a round trip is pending.
        self._deadline = 0.0
        self._timeout = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._reader.feed(data)
            while (reply := self._reader.gets()) is not False:
                self._replies.append(reply)
        except hiredis.ProtocolError as exc:
            self._fail(exc)
            return
        waiter = self._waiter
        if (
            waiter is None
            or len(self._replies) > self._expected
            or (len(self._replies) == self._expected and self._reader.has_data())
        ):  # out of step with its commands
            self._fail(ConnectionError("a reply nobody asked for"))
        elif len(self._replies) == self._expected and not waiter.done():
            waiter.set_result(self._replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))

    def _fail(self, exc: BaseException) -> None:
        self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def close(self) -> None:
        """Close at once; a pending :meth:`roundtrip` fails."""
        self.lost = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()

    def __del__(self) -> None:  # a store never closed: no ResourceWarning, when its loop still runs
        if self._transport is not None and not self._transport.is_closing():
            with contextlib.suppress(Exception):
                self._transport.abort()

    async def roundtrip(self, packed: bytes, count: int, timeout: float) -> list[object]:
        """Send packed commands; their ``count`` replies, within ``timeout`` seconds.

        On any failure (a timeout, a reset, a cancellation) the connection is closed: its state
        is unknown.

        The deadline is kept by a watchdog timer per connection, armed when none is due early
        enough and re-armed when it fires early: most round trips take a clock reading, not a
        timer of their own (a timer, or a timeout context, per round trip costs several µs).
        """
        if self.lost or self._transport is None:
            raise ConnectionError("connection closed")
        loop = self._loop
        self._replies, self._expected = [], count
        waiter: asyncio.Future[list[object]] = loop.create_future()
        self._waiter = waiter
        self._deadline, self._timeout = loop.time() + timeout, timeout
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > self._deadline:
            if watchdog is not None:
                watchdog.cancel()
            self._watchdog = loop.call_at(self._deadline, self._watch)
        try:
            self._transport.write(packed)
            return await waiter
        except BaseException:
            self.close()
            raise
        finally:
            self._waiter = None

    def _watch(self) -> None:
        """The watchdog: fail a round trip past its deadline; wait on for one that is not yet."""
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # idle: the next round trip arms it again
        if self._loop.time() >= self._deadline:
            self._fail(TimeoutError(f"no reply within {self._timeout} s"))
        else:
            self._watchdog = self._loop.call_at(self._deadline, self._watch)


async def connect(settings: Settings) -> Connection:
    """A new connection, handshake not sent yet (within the connect timeout)."""
    loop = asyncio.get_running_loop()
    address = settings.address
    async with _deadline(settings.connect_timeout):
        if settings.unix_path is not None:
            _, conn = await loop.create_unix_connection(Connection, settings.unix_path)
        else:
            _, conn = await loop.create_connection(
                Connection,
                address.host,
                address.port,
                ssl=settings.tls,
                server_hostname=address.host if settings.tls else None,
            )
    assert conn._transport is not None
    keepalive(conn._transport.get_extra_info("socket"))
    return conn
