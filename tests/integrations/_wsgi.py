"""What the Flask, Django and contract tests share: a real threaded WSGI server, a cookie-keeping client,
a gate that holds requests in flight, and a counter of the commands Redis processed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from werkzeug.serving import make_server

from hasession.testing import RedisServer, SentinelTopology, wait_until


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve the WSGI ``app`` on a free loopback port, one thread per request; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class Browser:
    """One synchronous client with its own session cookie, sent by hand whatever its ``Secure`` flag."""

    def __init__(self, base_url: str, *, cookie_name: str = "session", cookie: str | None = None) -> None:
        self.base_url = base_url
        self.cookie_name = cookie_name
        self.cookie = cookie

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"cookie": f"{self.cookie_name}={self.cookie}"} if self.cookie else {}
        response = httpx.request(method, self.base_url + path, headers=headers, timeout=60, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == self.cookie_name:
                value = rest.split(";", 1)[0]
                self.cookie = None if value in ("", '""') else value
        return response

    def get(self, path: str) -> httpx.Response:
        return self.call("GET", path)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, **kwargs)


class Gate:
    """Holds requests in flight: each :meth:`hold` counts an arrival and blocks until :meth:`open`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.arrived = 0
        self._open = False

    def hold(self, timeout: float = 30.0) -> None:
        with self._cond:
            self.arrived += 1
            self._cond.notify_all()
            assert self._cond.wait_for(lambda: self._open, timeout), "the gate was never opened"

    async def ahold(self, timeout: float = 30.0) -> None:
        """:meth:`hold` in an event loop: counts an arrival, then waits for :meth:`open` without
        blocking the loop (the other requests held with it must run)."""
        with self._cond:
            self.arrived += 1
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        while not self._open:
            assert time.monotonic() < deadline, "the gate was never opened"
            await asyncio.sleep(0.005)

    def wait_for(self, arrivals: int, timeout: float = 30.0) -> None:
        wait_until(lambda: self.arrived >= arrivals, timeout=timeout, message=f"{arrivals} requests held")

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def close(self) -> None:
        """Hold the next requests again, counting arrivals from zero."""
        with self._cond:
            self._open, self.arrived = False, 0


class CommandCounter:
    """Counts the commands a Redis server processed (``INFO stats``), minus its own ``INFO`` calls."""

    def __init__(self, server: RedisServer) -> None:
        self._client = server.client()
        self._start = self._total()

    def _total(self) -> int:
        return int(self._client.info("stats")["total_commands_processed"])

    def taken(self) -> int:
        """Commands processed since the previous call (or since creation)."""
        total = self._total()
        taken, self._start = total - self._start - 1, total
        return taken

    def close(self) -> None:
        self._client.close()


def set_cookie(response: httpx.Response, name: str = "session") -> str | None:
    """The ``Set-Cookie`` header of the session cookie, if the response sent one."""
    found = [h for h in response.headers.get_list("set-cookie") if h.partition("=")[0] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def replicating(topology: SentinelTopology) -> None:
    """Wait until every replica receives the master's writes as they happen.

    A topology is ready once its replicas have synced, but right after a first (diskless) sync the
    master holds the stream back until each replica's first ``REPLCONF ACK`` (up to a second): a
    master killed in that second takes every write with it, whatever the client does.
    """
    topology.current_master().admin.set("hasession-test:replicating", 1)
    topology.wait_for_replicas_synced()
