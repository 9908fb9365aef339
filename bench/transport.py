"""What hasession's own transport saves: its stores on redis-py next to the same stores on a minimal
``asyncio.Protocol`` (async) or blocking socket (sync) feeding ``hiredis.Reader``: hasession's own
(``ours``, hasession/_transport.py) and the prototype it came from (``lean``).

    .venv/bin/python bench/transport.py [--n 2000] [--repeats 5]

One ``redis-server`` (``hasession.testing.RedisServer``), one task or thread, loopback. For a read (open,
load, read one key, save unchanged) and a one-key write (open, load, set one key, save), it prints the CPU
time (``time.thread_time``) per request of the three stores (``ours``: the store on hasession's own
transport, ``hasession/_transport.py``), best and median of ``--repeats`` runs, interleaved.

The prototype keeps only what the driver needs from a connection (``_send``: one batch, its replies, a
``NOSCRIPT`` resent as ``EVAL``), and closes a connection whose reply did not come in time: its state is
unknown. It does without everything a real transport needs (TLS, unix sockets, AUTH, SELECT, client name,
Sentinel, Cluster redirections, the error mapping of hasession/_redis.py): it measures the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import socket
import statistics
import time
from typing import Any, TypeVar

import hiredis
from peers.common import SESSION  # the session every benchmark keeps (bench/peers)

import hasession
from hasession._commands import Batch, Reply
from hasession._routing import NoScript, error_from_reply
from hasession._topology import Address
from hasession.testing import RedisServer


def pack(commands: list[tuple[Any, ...]]) -> bytes:
    """RESP arrays of bulk strings."""
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            raw = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class LeanConnection(asyncio.Protocol):
    """One connection: write a batch, collect exactly its replies; anything unexpected closes it."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.replies: list[Any] = []
        self.expected = 0
        self.waiter: asyncio.Future[list[Any]] | None = None
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.replies.append(reply)
        if self.waiter is None or len(self.replies) > self.expected:
            self.close()  # a reply nobody asked for: the connection is out of step
        elif len(self.replies) == self.expected and not self.waiter.done():
            self.waiter.set_result(self.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def close(self) -> None:
        self.broken = True
        if self.transport is not None:
            self.transport.close()

    async def roundtrip(self, packed: bytes, count: int, timeout: float) -> list[Any]:
        assert self.transport is not None
        self.replies, self.expected = [], count
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(packed)
        try:
            async with asyncio.timeout(timeout):
                return await self.waiter
        except BaseException:
            self.close()  # timed out or cancelled mid-reply: unknown state, never reused
            raise
        finally:
            self.waiter = None


class LeanStore(hasession.AsyncSessionStore):
    """The async store with its ``_send`` on :class:`LeanConnection` (standalone only)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._lean: dict[Address, collections.deque[LeanConnection]] = {}

    async def _send(self, address: Address, batch: Batch) -> list[Reply]:
        idle = self._lean.setdefault(address, collections.deque())
        conn = idle.pop() if idle else await self._connect(address)
        try:
            replies = await self._lean_roundtrip(conn, batch.wire())
            try:
                return batch.settle(replies)
            except NoScript:
                return batch.settle(await self._lean_roundtrip(conn, batch.wire(by_sha=False)))
        finally:
            if not conn.broken:
                idle.append(conn)

    async def _lean_roundtrip(self, conn: LeanConnection, commands: list[Any]) -> list[Reply]:
        self.stats.round_trips += 1
        raw = await conn.roundtrip(pack(commands), len(commands), 5.0)
        return [error_from_reply(str(r)) if isinstance(r, hiredis.ReplyError) else r for r in raw]

    @staticmethod
    async def _connect(address: Address) -> LeanConnection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(LeanConnection, address.host, address.port)
        return conn


class LeanSyncStore(hasession.SessionStore):
    """The sync store with its ``_send`` on blocking sockets feeding ``hiredis.Reader`` (standalone only)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._lean: dict[Address, list[socket.socket]] = {}

    def _send(self, address: Address, batch: Batch) -> list[Reply]:
        idle = self._lean.setdefault(address, [])
        sock = idle.pop() if idle else socket.create_connection((address.host, address.port), timeout=5.0)
        healthy = False
        try:
            replies = self._lean_roundtrip(sock, batch.wire())
            try:
                result = batch.settle(replies)
            except NoScript:
                result = batch.settle(self._lean_roundtrip(sock, batch.wire(by_sha=False)))
            healthy = True
            return result
        finally:  # a timeout, a reset or a half-read reply: the socket's state is unknown, close it
            idle.append(sock) if healthy else sock.close()

    def _lean_roundtrip(self, sock: socket.socket, commands: list[Any]) -> list[Reply]:
        self.stats.round_trips += 1
        sock.sendall(pack(commands))
        reader, raw = hiredis.Reader(), []
        while len(raw) < len(commands):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            reader.feed(chunk)
            while (reply := reader.gets()) is not False:
                raw.append(reply)
        if len(raw) != len(commands):
            raise ConnectionError("more replies than commands")
        return [error_from_reply(str(r)) if isinstance(r, hiredis.ReplyError) else r for r in raw]


S = TypeVar("S", hasession.SessionStore, hasession.AsyncSessionStore)


def _ours(store: S, *, lean: bool = True) -> S:
    """The store on hasession's own transport (hasession/_transport.py), or on redis-py's pools."""
    store._lean = lean
    return store


def report(scenario: str, name: str, values: list[float]) -> None:
    best, median = min(values), statistics.median(values)
    print(f"{scenario:11s} {name:8s}: best {best:6.1f} µs CPU, median {median:6.1f}")


def sync_main(url: str, n: int, repeats: int) -> None:
    stores = {
        "redis-py": _ours(hasession.SessionStore.from_url(url, secret_keys="b" * 32), lean=False),
        "lean": LeanSyncStore(hasession.StoreConfig.from_url(url, secret_keys="b" * 32)),
        "ours": _ours(hasession.SessionStore.from_url(url, secret_keys="b" * 32)),
    }
    cookies = {}
    for name, store in stores.items():
        session = store.open(None)
        session.update(SESSION)
        cookies[name] = store.save(session).value

    def per_request_sync(store: hasession.SessionStore, cookie: str, write: bool) -> float:
        began = time.thread_time()
        for i in range(n):
            session = store.open(cookie)
            if write:
                session["counter"] = i
            else:
                session.get("user_id")
            store.save(session)
        return (time.thread_time() - began) / n * 1e6

    for scenario in ("read", "write"):
        runs: dict[str, list[float]] = {name: [] for name in stores}
        for _ in range(repeats):
            for name, store in stores.items():
                runs[name].append(per_request_sync(store, cookies[name], scenario == "write"))
        for name, values in runs.items():
            report(f"sync {scenario}", name, values)
    for store in stores.values():
        store.close()


async def per_request(store: hasession.AsyncSessionStore, cookie: str, write: bool, n: int) -> float:
    began = time.thread_time()
    for i in range(n):
        session = store.open(cookie)
        await store.load_into(session)
        if write:
            session["counter"] = i
        else:
            session.get("user_id")
        await store.save(session)
    return (time.thread_time() - began) / n * 1e6


async def main(args: argparse.Namespace) -> None:
    with RedisServer() as server:
        stores = {
            "redis-py": _ours(
                hasession.AsyncSessionStore.from_url(server.url, secret_keys="b" * 32), lean=False
            ),
            "lean": LeanStore(hasession.StoreConfig.from_url(server.url, secret_keys="b" * 32)),
            "ours": _ours(hasession.AsyncSessionStore.from_url(server.url, secret_keys="b" * 32)),
        }
        cookies = {}
        for name, store in stores.items():
            session = store.open(None)
            await store.load_into(session)
            session.update(SESSION)
            cookies[name] = (await store.save(session)).value
            await per_request(store, cookies[name], True, 300)  # warm up
        for scenario in ("read", "write"):
            runs: dict[str, list[float]] = {name: [] for name in stores}
            for _ in range(args.repeats):
                for name, store in stores.items():
                    runs[name].append(await per_request(store, cookies[name], scenario == "write", args.n))
            for name, values in runs.items():
                report(f"async {scenario}", name, values)
        for store in stores.values():
            await store.close()
        sync_main(server.url, args.n, args.repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
