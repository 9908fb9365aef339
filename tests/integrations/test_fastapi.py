"""hasession.fastapi against real Redis: the ``SessionDep`` dependency on top of the Starlette middleware.

The middleware itself is tested in ``test_starlette.py``; here, what FastAPI adds: dependency
injection and errors raised inside a dependency (the example app: ``test_examples.py``).
Async tests run on asyncio only (redis.asyncio does not run on trio).
"""

from __future__ import annotations

import logging
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Annotated, Any

import anyio
import httpx
import pytest
from _asgi import SECRET
from fastapi import Depends, FastAPI, Request

from hasession import AsyncSessionStore, CookieOptions, RetryPolicy
from hasession.fastapi import SessionDep, get_session, init_app
from hasession.testing import RedisServer

pytestmark = pytest.mark.anyio


def make_app(store: AsyncSessionStore, cookie: CookieOptions | None = None) -> FastAPI:
    app = FastAPI()
    init_app(app, store=store, cookie=cookie or CookieOptions())

    @app.get("/read")
    async def read(session: SessionDep) -> dict[str, Any]:
        return {"user": session.user_id, "data": dict(session)}

    @app.get("/write")
    async def write(key: str, session: SessionDep) -> dict[str, int]:
        session[key] = "v"
        return {"keys": len(session)}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/nested")
    async def nested(user: CurrentUser, session: SessionDep, request: Request) -> dict[str, Any]:
        return {"user": user, "same": await get_session(request) is session}

    return app


async def current_user(session: SessionDep) -> str | None:
    return session.user_id


CurrentUser = Annotated[str | None, Depends(current_user)]


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """A client of ``app`` that keeps no cookie (tests send them by hand)."""
    jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver", cookies=jar
    )


def sent(cookie: str) -> dict[str, str]:
    return {"cookie": f"session={cookie}"}


def cookie_of(response: httpx.Response) -> str:
    return response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]


async def test_sessiondep_loads_once_and_is_shared_by_nested_dependencies(store: AsyncSessionStore) -> None:
    async with client_for(make_app(store)) as client:
        cookie = cookie_of(await client.get("/write?key=a"))
        assert (await client.get("/read", headers=sent(cookie))).json() == {"user": None, "data": {"a": "v"}}
        nested = await client.get("/nested", headers=sent(cookie))
    assert nested.json() == {"user": None, "same": True}
    assert nested.headers["vary"] == "Cookie"
    assert "set-cookie" not in nested.headers


async def test_store_down_gives_503_from_a_dependency_and_200_without_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="hasession")
    with RedisServer() as srv:
        store = AsyncSessionStore.from_url(srv.url, secret_keys=SECRET, retry=RetryPolicy(hold_budget=0.3))
        async with store, client_for(make_app(store)) as client:
            cookie = cookie_of(await client.get("/write?key=a"))
            srv.kill()
            with anyio.fail_after(10):
                plain = await client.get("/plain", headers=sent(cookie))
                nested = await client.get("/nested", headers=sent(cookie))
                created = await client.get("/write?key=b")
    assert plain.status_code == 200
    for response in (nested, created):
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        assert "Traceback" not in response.text
    records = [r for r in caplog.records if r.name == "hasession" and r.levelno >= logging.ERROR]
    assert len(records) == 2
    assert all(r.exc_info is None for r in records)
