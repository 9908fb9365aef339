"""Shared by the framework integration tests: generic helpers only.

- ``load_example``: import ``examples/<name>.py``.
- ``sentinel_fault``: ``kill_master`` / ``failover`` of a :class:`SentinelTopology` (parametrized).
- ``async_*``: simulated users over any ``httpx.AsyncClient`` (ASGI transport or a real server), used by
  the Starlette, FastAPI and aiohttp tests.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
import redis
from _asgi import SECRET

from hasession import AsyncSessionStore
from hasession.testing import RedisServer, SentinelTopology


@dataclass
class SimulatedUser:
    """One browser-like client that keeps its own session cookie by hand (whatever the scheme, and
    whatever the shared client's cookie jar holds) and checks that its counter goes up by exactly one
    per ``POST /count``."""

    client: httpx.AsyncClient
    name: str
    cookie_name: str = "session"
    cookie: str | None = None
    last_count: int = 0
    #: Every status code seen, in order.
    statuses: list[int] = field(default_factory=list)
    #: Counter values that were not ``last_count + 1`` (a reset, a lost or a doubled write).
    anomalies: list[str] = field(default_factory=list)
    #: Acknowledged increments the counter later went back over.
    lost_writes: int = 0
    #: Counter values past ``last_count + 1``: a write applied twice.
    doubled: list[str] = field(default_factory=list)
    #: Requests that raised instead of answering.
    errors: list[str] = field(default_factory=list)
    #: The slowest request, in seconds.
    max_latency: float = 0.0

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        request = self.client.build_request(method, path, **kwargs)
        request.headers.pop("cookie", None)  # never the client's cookie jar: only this user's cookie
        if self.cookie:
            request.headers["cookie"] = f"{self.cookie_name}={self.cookie}"
        started = time.monotonic()
        response = await self.client.send(request)
        self.max_latency = max(self.max_latency, time.monotonic() - started)
        self.statuses.append(response.status_code)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == self.cookie_name:
                self.cookie = rest.split(";", 1)[0] or None
        return response

    async def login(self) -> None:
        response = await self.call("POST", "/login", json={"user": self.name})
        assert response.status_code == 200, response.text
        assert self.cookie is not None

    async def count(self) -> None:
        try:
            response = await self.call("POST", "/count")
        except Exception as exc:  # recorded and reported by the test, never hidden
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if response.status_code == 200:
            value = response.json()["count"]
            if value != self.last_count + 1:
                self.anomalies.append(f"{self.name}: {self.last_count} -> {value}")
            if value > self.last_count + 1:
                self.doubled.append(f"{self.name}: {self.last_count} -> {value}")
            self.lost_writes += max(0, self.last_count + 1 - value)
            self.last_count = value

    @property
    def requests(self) -> int:
        return len(self.statuses)


@dataclass
class Crowd:
    """What a crowd of :class:`SimulatedUser` saw while a fault happened."""

    users: list[SimulatedUser]
    #: Seconds the fault (and the wait for its recovery) took.
    fault_seconds: float = 0.0
    #: Users whose final ``GET /whoami`` did not show their name and their last counter value.
    lost: list[str] = field(default_factory=list)

    @property
    def bad_statuses(self) -> dict[int, int]:
        seen: dict[int, int] = {}
        for status in (s for u in self.users for s in u.statuses if not 200 <= s < 300):
            seen[status] = seen.get(status, 0) + 1
        return seen

    @property
    def anomalies(self) -> list[str]:
        return [a for u in self.users for a in u.anomalies]

    @property
    def errors(self) -> list[str]:
        return [e for u in self.users for e in u.errors]

    @property
    def lost_writes(self) -> int:
        return sum(u.lost_writes for u in self.users)

    @property
    def doubled(self) -> list[str]:
        return [d for u in self.users for d in u.doubled]

    def assert_unharmed(self) -> None:
        """What ``async`` durability guarantees through a kill -9 or a forced failover: every answer
        a 2xx, no error, every user still logged in with their counter, no write applied twice, and
        no more lost than one in flight per user (writes the old master acknowledged just before
        the fence and had not replicated)."""
        assert self.bad_statuses == {}, self.summary()
        assert self.errors == [], self.summary()
        assert self.doubled == [], self.summary()
        assert self.lost_writes <= len(self.users), self.summary()
        assert self.lost == [], self.summary()

    def summary(self) -> str:
        requests = sum(u.requests for u in self.users)
        latency = max((u.max_latency for u in self.users), default=math.nan)
        return (
            f"{len(self.users)} users, {requests} requests, fault {self.fault_seconds:.1f}s, "
            f"non-2xx {self.bad_statuses}, anomalies {self.anomalies[:5]}, errors {self.errors[:5]}, "
            f"lost {self.lost[:5]}, max latency {latency:.2f}s"
        )


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


async def _loop(user: SimulatedUser, stop: anyio.Event) -> None:
    while not stop.is_set():
        await user.count()


async def _verify(user: SimulatedUser) -> str | None:
    response = await user.call("GET", "/whoami")
    seen = response.json() if response.status_code == 200 else response.status_code
    expected = {"user": user.name, "count": user.last_count}
    return None if seen == expected else f"{user.name}: expected {expected}, got {seen}"


async def run_crowd(
    client: httpx.AsyncClient,
    fault: Callable[[], object],
    *,
    users: int = 15,
    warmup: int = 3,
    after: int = 5,
) -> Crowd:
    """Log ``users`` users in, keep each one counting, run ``fault`` (blocking, in a thread) once every
    user made ``warmup`` requests, stop once every user made ``after`` more, then check each session."""
    crowd = Crowd([SimulatedUser(client, f"u{i}") for i in range(users)])
    async with anyio.create_task_group() as tg:
        for user in crowd.users:
            tg.start_soon(user.login)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        for user in crowd.users:
            tg.start_soon(_loop, user, stop)
        await _until(lambda: all(u.requests > warmup for u in crowd.users))
        started = time.monotonic()
        await anyio.to_thread.run_sync(fault)
        crowd.fault_seconds = time.monotonic() - started
        marks = [u.requests for u in crowd.users]
        await _until(lambda: all(u.requests >= m + after for u, m in zip(crowd.users, marks, strict=True)))
        stop.set()
    crowd.lost = [m for m in [await _verify(u) for u in crowd.users] if m is not None]
    return crowd


@pytest.fixture
def async_crowd() -> Callable[..., Awaitable[Crowd]]:
    """``await async_crowd(client, fault, users=15)``: simulated users counting through ``fault``; see
    :func:`run_crowd`. Works with any ``httpx.AsyncClient`` (ASGI transport or a real server)."""
    return run_crowd


def load_example_module(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the folder is not a package) under the name ``<name>``."""
    path = Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_example() -> Callable[[str], ModuleType]:
    """``load_example("starlette_app")``: the module ``examples/starlette_app.py``, freshly imported (so it
    reads the environment as set by the test)."""
    return load_example_module


async def check_example_flow(client: httpx.AsyncClient) -> None:
    """The routes every async example shares, end to end: anonymous counting, log-in with an id change,
    a second device, revoke-others, log-out."""
    phone, laptop = SimulatedUser(client, "alice"), SimulatedUser(client, "alice")
    health = await phone.call("GET", "/health")
    assert (health.status_code, phone.cookie, health.headers.get("vary")) == (200, None, None)
    whoami = await phone.call("GET", "/whoami")
    assert whoami.json() == {"user": None, "count": 0}
    assert "set-cookie" not in whoami.headers  # reading an empty session stores nothing
    assert whoami.headers["vary"] == "Cookie"
    assert (await phone.call("GET", "/count")).json() == {"count": 1}
    anonymous = phone.cookie
    await phone.login()
    assert phone.cookie not in (None, anonymous)  # a new id at log-in (no fixation)
    assert (await phone.call("POST", "/count")).json() == {"count": 2}  # data kept through the id change
    old = SimulatedUser(client, "anonymous", cookie=anonymous)
    assert (await old.call("GET", "/whoami")).json() == {"user": None, "count": 0}
    await laptop.login()
    assert (await phone.call("POST", "/revoke-others")).json() == {"revoked": 1}
    assert (await laptop.call("GET", "/whoami")).json() == {"user": None, "count": 0}
    assert (await phone.call("GET", "/whoami")).json() == {"user": "alice", "count": 2}
    revoked = phone.cookie
    logout = await phone.call("POST", "/logout")
    assert logout.status_code == 200
    assert "Max-Age=0" in logout.headers["set-cookie"]  # the log-out response deletes the cookie
    gone = SimulatedUser(client, "gone", cookie=revoked)
    assert (await gone.call("GET", "/whoami")).json() == {"user": None, "count": 0}


@pytest.fixture
def async_example_flow() -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    """``await async_example_flow(client)``: see :func:`check_example_flow`."""
    return check_example_flow


def _kill_master(topology: SentinelTopology) -> None:
    topology.wait_for_replicas_synced()
    topology.wait_for_new_master(topology.kill_master())


def _failover(topology: SentinelTopology) -> None:
    topology.wait_for_replicas_synced()
    topology.failover()


@pytest.fixture(params=[_kill_master, _failover], ids=["kill_master", "failover"])
def sentinel_fault(request: pytest.FixtureRequest) -> Callable[[SentinelTopology], None]:
    """A blocking fault for a :class:`SentinelTopology`, returning once a new master answers:
    ``kill_master`` (SIGKILL) or ``failover`` (``SENTINEL FAILOVER``).

    Both first wait until the replicas have every write so far: just after start-up a replica may still
    wait for its first ``REPLCONF ACK`` (up to a second) before the master streams to it, and promoting
    it then would lose data that a topology running for longer would not.
    """
    fault: Callable[[SentinelTopology], None] = request.param
    return fault


# -- fixtures of the async adapters' tests (sync ones override them in their modules) --------


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio and aiohttp do not run on trio


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis.Redis]:
    client = server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def store(server: RedisServer, admin: redis.Redis) -> AsyncIterator[AsyncSessionStore]:
    async with AsyncSessionStore.from_url(server.url, secret_keys=SECRET) as the_store:
        yield the_store
