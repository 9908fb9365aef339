"""InsecureCookieWarning as a user meets it: once, saying how to fix it, naming the user's own line.

A Secure cookie set over plain http is never sent back by test clients (nor by browsers, except
on localhost), so every request starts a new session; the warning makes that visible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import hasession.aiohttp
import hasession.fastapi
import hasession.starlette
from hasession import AsyncSessionStore, CookieOptions, InsecureCookieWarning

pytestmark = pytest.mark.anyio
KEY = "cookie-warnings-key-0123456789ab"
OVER_HTTP = "Secure session cookie was set in answer to a plain http"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def count(request: Request) -> JSONResponse:
    session = await hasession.starlette.session_from(request)
    session["n"] = session.get("n", 0) + 1
    return JSONResponse({"n": session["n"]})


def line_of(marker: str) -> int:
    """The line of this file whose comment is ``# <marker>`` (next to the call the warning names)."""
    with open(__file__) as source:
        return next(n for n, text in enumerate(source, 1) if text.rstrip().endswith(f"# {marker}"))


def starlette_init_app(store: AsyncSessionStore, cookie: CookieOptions) -> Starlette:
    app = Starlette(routes=[Route("/count", count, methods=["POST"])])
    hasession.starlette.init_app(app, store=store, cookie=cookie)  # <- starlette init_app
    return app


def fastapi_init_app(store: AsyncSessionStore, cookie: CookieOptions) -> FastAPI:
    app = FastAPI()
    app.add_api_route("/count", count, methods=["POST"])  # type: ignore[arg-type]
    hasession.fastapi.init_app(app, store=store, cookie=cookie)  # <- fastapi init_app
    return app


def starlette_middleware(store: AsyncSessionStore, cookie: CookieOptions) -> Starlette:
    # Starlette builds this middleware at the first request: the warning names the store's line.
    middleware = [Middleware(hasession.starlette.SessionMiddleware, store=store, cookie=cookie)]
    return Starlette(routes=[Route("/count", count, methods=["POST"])], middleware=middleware)


ASGI_APPS: dict[str, tuple[Callable[[AsyncSessionStore, CookieOptions], Any], str]] = {
    "starlette-init_app": (starlette_init_app, "<- starlette init_app"),
    "fastapi-init_app": (fastapi_init_app, "<- fastapi init_app"),
    "starlette-Middleware": (starlette_middleware, "<- the store"),
}


def new_store(url: str) -> AsyncSessionStore:
    return AsyncSessionStore.from_url(url, secret_keys=KEY)  # <- the store


async def counts(app: Any, base_url: str, times: int) -> list[int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
        return [(await client.post("/count")).json()["n"] for _ in range(times)]


@pytest.mark.parametrize("kind", list(ASGI_APPS))
async def test_a_secure_cookie_over_http_warns_once_at_the_users_line(
    hasession_redis_url: str, kind: str
) -> None:
    make, marker = ASGI_APPS[kind]
    store = new_store(hasession_redis_url)
    app = make(store, CookieOptions())
    with pytest.warns(InsecureCookieWarning, match=OVER_HTTP) as record:
        assert await counts(app, "http://testserver", 3) == [1, 1, 1]  # what the user saw: nothing sticks
    assert len(record) == 1
    assert (record[0].filename, record[0].lineno) == (__file__, line_of(marker))
    assert "CookieOptions(secure=False)" in str(record[0].message)
    assert "X-Forwarded-Proto" in str(record[0].message)
    await store.close()


@pytest.mark.parametrize("kind", list(ASGI_APPS))
async def test_https_or_an_insecure_cookie_do_not_warn_about_http(
    hasession_redis_url: str, kind: str
) -> None:
    make, _ = ASGI_APPS[kind]
    store = new_store(hasession_redis_url)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=make(store, CookieOptions())), base_url="https://testserver"
        ) as client:
            assert [(await client.post("/count")).json()["n"] for _ in range(2)] == [1, 2]
    with pytest.warns(InsecureCookieWarning) as record:
        assert await counts(make(store, CookieOptions(secure=False)), "http://testserver", 2) == [1, 2]
    assert [str(w.message) for w in record] == [
        "hasession: the session cookie is not Secure; use this only in local development"
    ]
    assert (record[0].filename, record[0].lineno) == (__file__, line_of(ASGI_APPS[kind][1]))
    await store.close()


async def aiohttp_count(request: web.Request) -> web.Response:
    session = await hasession.aiohttp.get_session(request)
    session["n"] = session.get("n", 0) + 1
    return web.json_response({"n": session["n"]})


async def test_aiohttp_warns_once_at_the_setup_line(hasession_redis_url: str) -> None:
    store = new_store(hasession_redis_url)
    app = web.Application()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hasession.aiohttp.setup(app, store)  # <- aiohttp setup
    app.router.add_post("/count", aiohttp_count)
    with pytest.warns(InsecureCookieWarning, match=OVER_HTTP) as record:
        async with TestClient(TestServer(app)) as client:  # plain http: its jar drops Secure cookies
            assert [(await (await client.post("/count")).json())["n"] for _ in range(3)] == [1, 1, 1]
    assert len(record) == 1
    assert (record[0].filename, record[0].lineno) == (__file__, line_of("<- aiohttp setup"))
    await store.close()
