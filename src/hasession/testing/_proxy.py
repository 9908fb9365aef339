"""A fault-injecting TCP proxy, run in its own process (``python <this file>``).

It uses the standard library only and is started by path, not with ``-m``, so the child never imports redis
or hasession and starts in a few tens of milliseconds. Running it out of the test process keeps the test's GIL
and load away from Redis traffic.

Control protocol: one command per line on stdin, one reply line on stdout (``ok ...`` or ``error ...``)::

    listen NAME          -> ok PORT    open a listener on a new loopback port, with no upstream yet
    target NAME PORT     -> ok         forward NAME's connections to 127.0.0.1:PORT
    cut NAME             -> ok         stop forwarding, in both directions, on every connection of NAME
    heal NAME            -> ok         close every connection of NAME, then forward new ones again
    delay NAME MS        -> ok         hold every chunk of NAME's traffic MS milliseconds (0: no delay)
    isolate NAME IP      -> ok         cut NAME's connections from source address IP, existing and new (heal
                                       NAME closes them and forwards new ones again)

While a listener is cut it still accepts connections but forwards no byte, so peers see read timeouts rather
than refused connections, the way a network failure looks. End of stdin stops the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

HOST = "127.0.0.1"
CHUNK = 1 << 16


class Listener:
    """One proxied address: forwards to ``target`` unless cut."""

    def __init__(self) -> None:
        self.target: int | None = None
        self.cut = False
        self.delay = 0.0
        #: Source addresses whose connections are cut.
        self.isolated: set[str] = set()
        #: Each open connection's task, with the connection's source address.
        self.tasks: dict[asyncio.Task[None], str] = {}
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        source = str(writer.get_extra_info("peername")[0])
        self.tasks[task] = source
        try:
            await self._serve(reader, writer, source)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.tasks.pop(task, None)
            writer.close()

    def blocked(self, source: str) -> bool:
        return self.cut or source in self.isolated

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str) -> None:
        if self.blocked(source):
            await asyncio.Event().wait()  # accepted, never forwarded; heal() cancels it
        if self.target is None:
            return
        up_reader, up_writer = await asyncio.open_connection(HOST, self.target)
        try:
            pumps = [
                asyncio.ensure_future(self._pump(a, b, source))
                for a, b in ((reader, up_writer), (up_reader, writer))
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
        finally:
            up_writer.close()

    async def _pump(self, stream: asyncio.StreamReader, sink: asyncio.StreamWriter, source: str) -> None:
        with contextlib.suppress(OSError):
            while data := await stream.read(CHUNK):
                if self.delay:
                    await asyncio.sleep(self.delay)  # a slow link: each chunk arrives late, in order
                if self.blocked(source):
                    await asyncio.Event().wait()  # the bytes in hand are never delivered
                sink.write(data)
                await sink.drain()

    def heal(self) -> None:
        """Close the connections that were cut, then forward new ones again."""
        for task, source in list(self.tasks.items()):
            if self.blocked(source):
                task.cancel()
        self.cut = False
        self.isolated.clear()


class Proxy:
    """All the listeners of one topology, driven by commands on stdin."""

    def __init__(self) -> None:
        self.listeners: dict[str, Listener] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            try:
                reply = await self.execute(line.decode().split())
            except Exception as exc:  # report, keep serving
                reply = f"error {type(exc).__name__}: {exc}"
            sys.stdout.write(reply + "\n")
            sys.stdout.flush()

    async def execute(self, words: list[str]) -> str:
        match words:
            case ["listen", name]:
                listener = self.listeners[name] = Listener()
                listener.server = await asyncio.start_server(listener.handle, HOST, 0)
                return f"ok {listener.server.sockets[0].getsockname()[1]}"
            case ["target", name, port]:
                self.listeners[name].target = int(port)
            case ["cut", name]:
                self.listeners[name].cut = True
            case ["heal", name]:
                self.listeners[name].heal()
            case ["isolate", name, source]:
                self.listeners[name].isolated.add(source)
            case ["delay", name, milliseconds]:
                self.listeners[name].delay = int(milliseconds) / 1000
            case _:
                return f"error unknown command {words!r}"
        return "ok"


if __name__ == "__main__":
    asyncio.run(Proxy().run())
