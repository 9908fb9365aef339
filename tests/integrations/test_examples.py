"""The async examples (``examples/{fastapi,starlette,aiohttp}_app.py``): their pages work, and they keep
every user through a Sentinel failover, a crowd of HTTP users counting (``conftest.async_crowd``) through a
kill -9 and a ``SENTINEL FAILOVER`` of the master."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import pytest
import redis
from _asgi import serve

from hasession import AsyncSessionStore
from hasession.aiohttp import STORE_KEY
from hasession.testing import RedisServer, SentinelTopology

#: aiohttp's test server is plain http on loopback, where the examples' Secure cookie warns (as it should).
OVER_HTTP = "ignore:hasession. a Secure session cookie:hasession.InsecureCookieWarning"
pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings(OVER_HTTP)]


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncSessionStore]]:
    """A client of an example's ``app`` that keeps no cookie, and the app's store (closed after)."""
    if not hasattr(app, "state"):  # aiohttp: a real server, whose cleanup closes the store
        async with serve(app) as client:
            yield client, app[STORE_KEY]
        return
    jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="https://testserver", cookies=jar
        ) as client:
            yield client, app.state.store
    finally:
        await app.state.store.close()


@pytest.mark.parametrize("example", ["fastapi_app", "aiohttp_app"])
async def test_example_app(
    example: str,
    server: RedisServer,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_example_flow: Callable[[httpx.AsyncClient], Awaitable[None]],
) -> None:
    monkeypatch.setenv("HASESSION_URL", server.url)
    async with running(load_example(example).create_app()) as (client, _):
        await async_example_flow(client)
        form = {"content-type": "application/x-www-form-urlencoded"}
        assert (await client.post("/login", content=b"user=bob", headers=form)).json() == {"user": "bob"}
        assert (await client.post("/login", json={"user": ""})).status_code == 400


async def test_the_starlette_example_serves_its_pages(
    server: RedisServer,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_example_flow: Callable[[httpx.AsyncClient], Awaitable[None]],
) -> None:
    monkeypatch.setenv("HASESSION_URL", server.url)
    app = load_example("starlette_app").create_app()
    async with running(app) as (client, _):
        await async_example_flow(client)
        transport = httpx.ASGITransport(app=app)  # the HTML pages, with a cookie jar (https: Secure)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as browser:
            assert 'action="/login"' in (await browser.get("/")).text
            form = {"content-type": "application/x-www-form-urlencoded"}
            login = await browser.post("/login", content=b"user=bob", headers=form)
            assert (login.status_code, login.headers["location"]) == (303, "/")
            assert '<b id="user">bob</b>' in (await browser.get("/")).text


@pytest.mark.slow
@pytest.mark.parametrize("example", ["fastapi_app", "starlette_app", "aiohttp_app"])
async def test_example_sessions_survive_a_failover(
    example: str,
    sentinel_fault: Callable[[SentinelTopology], None],
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_crowd: Callable[..., Awaitable[Any]],
) -> None:
    with SentinelTopology(down_after_ms=1000) as topology:
        monkeypatch.setenv("HASESSION_URL", topology.url)
        async with running(load_example(example).create_app()) as (client, store):
            crowd = await async_crowd(client, lambda: sentinel_fault(topology), users=15)
            print(f"\n{example} {sentinel_fault.__name__}: {crowd.summary()}; {store.stats.snapshot()}")
    crowd.assert_unharmed()
