"""hasession.aiohttp against real Redis, served by a real aiohttp server on loopback.

Async tests run on asyncio only: aiohttp and redis.asyncio both need it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from _asgi import DEAD_BUDGET, SECRET, serve
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from hasession import (
    AsyncSessionStore,
    StoreError,
    StoreUnavailable,
)
from hasession.aiohttp import STORE_KEY, SessionMiddleware, get_session, init_app, setup
from hasession.testing import RedisServer

#: The tests serve Secure cookies over plain http and send them back by hand, as a browser on
#: localhost does; ``test_a_secure_cookie_over_http_warns_once`` checks the warning itself.
OVER_HTTP = "ignore:hasession. a Secure session cookie:hasession.InsecureCookieWarning"
pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings(OVER_HTTP)]


routes = web.RouteTableDef()


@routes.get("/read")
async def read(request: web.Request) -> web.Response:
    session = await get_session(request)
    return web.json_response({"user": session.user_id, "data": dict(session)})


@routes.get("/write")
async def write(request: web.Request) -> web.Response:
    session = await get_session(request)
    session[request.query.get("key", "k")] = request.query.get("value", "v")
    return web.json_response({"keys": len(session)})


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    session = await get_session(request)
    session.user_id, session["k"] = "alice", "v"
    session.cycle_id()
    raise web.HTTPSeeOther("/read")  # a raised redirect must carry the new cookie


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    (await get_session(request)).destroy()
    return web.json_response({})


@routes.get("/plain")
async def plain(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@routes.get("/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    session["streamed"] = "yes"
    response = web.StreamResponse()
    await response.prepare(request)  # headers leave now: the session cookie cannot follow
    await response.write(b"streamed")
    return response


def make_app(store: AsyncSessionStore, **options: Any) -> web.Application:
    app = web.Application()
    setup(app, store, **options)
    app.add_routes(routes)
    return app


def sent(cookie: str, name: str = "session") -> dict[str, str]:
    return {"cookie": f"{name}={cookie}"}


def cookie_of(response: httpx.Response, name: str = "session") -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    return header.split(";", 1)[0].split("=", 1)[1]


async def session_cookie(client: httpx.AsyncClient) -> str:
    return cookie_of(await client.get("/write?key=k&value=v"))


# -- wiring -----------------------------------------------------------------------------------------


async def test_setup_keeps_the_store_under_a_typed_key(store: AsyncSessionStore) -> None:
    app = web.Application()
    init_app(app, store=store)
    assert app[STORE_KEY] is store
    assert [type(m) for m in app.middlewares] == [SessionMiddleware]


async def test_get_session_without_the_middleware_says_so() -> None:
    with pytest.raises(RuntimeError, match="not set up"):
        await get_session(make_mocked_request("GET", "/"))


# -- laziness and cookies ---------------------------------------------------------------------------


async def test_a_raised_redirect_saves_the_session_and_sends_the_cookie(store: AsyncSessionStore) -> None:
    async with serve(make_app(store)) as client:
        anonymous = await session_cookie(client)
        redirect = await client.post("/login", headers=sent(anonymous))
        assert (redirect.status_code, redirect.headers["location"]) == (303, "/read")
        cookie = cookie_of(redirect)
        assert cookie != anonymous
        assert (await client.get("/read", headers=sent(cookie))).json() == {
            "user": "alice",
            "data": {"k": "v"},
        }


async def test_a_prepared_response_saves_but_cannot_send_a_new_cookie(
    store: AsyncSessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hasession")
    async with serve(make_app(store)) as client:
        cookie = await session_cookie(client)
        existing = await client.get("/stream", headers=sent(cookie))
        assert existing.text == "streamed"
        assert (await client.get("/read", headers=sent(cookie))).json()["data"] == {
            "k": "v",
            "streamed": "yes",
        }
        assert not caplog.records
        new = await client.get("/stream")  # a new session: its cookie would have been needed
        assert "set-cookie" not in new.headers
    assert [r.getMessage() for r in caplog.records] == [
        "hasession: session cookie not sent: the handler prepared its response first"
    ]


# -- store errors -------------------------------------------------------------------------------------


@asynccontextmanager
async def dead_store() -> AsyncIterator[tuple[AsyncSessionStore, str]]:
    """A store whose Redis was killed (tiny hold budget), and a cookie of a session stored before."""
    with RedisServer() as srv:
        store = AsyncSessionStore.from_url(srv.url, secret_keys=SECRET, retry=DEAD_BUDGET)
        async with store, serve(make_app(store)) as client:
            cookie = await session_cookie(client)
        srv.kill()
        yield store, cookie


async def test_on_error_hook_builds_the_answer() -> None:
    seen: list[StoreError] = []

    async def hook(exc: StoreError, request: web.Request) -> web.StreamResponse:
        seen.append(exc)
        return web.Response(status=503, text=f"custom {request.path}")

    async with dead_store() as (store, cookie), serve(make_app(store, on_error=hook)) as client:
        response = await client.get("/read", headers=sent(cookie))
    assert (response.status_code, response.text) == (503, "custom /read")
    assert [type(e) for e in seen] == [StoreUnavailable]


# -- concurrency ----------------------------------------------------------------------------------------
