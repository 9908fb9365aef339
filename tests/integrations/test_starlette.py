"""hasession.starlette against real Redis: laziness, cookies, store errors, concurrency, failover.

The async tests run on asyncio only: ``AsyncSessionStore`` uses redis.asyncio, which does not
run on trio, so a trio run would test nothing but that incompatibility.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import anyio
import httpx
import pytest
import redis
from _asgi import DEAD_BUDGET, SECRET
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from hasession import (
    AsyncSessionStore,
    CookieOptions,
    SessionPolicy,
    StoreError,
    StoreUnavailable,
)
from hasession.starlette import SessionMiddleware, init_app, session_from
from hasession.testing import RedisServer

pytestmark = pytest.mark.anyio


async def read(request: Request) -> Response:
    session = await session_from(request)
    return JSONResponse({"user": session.user_id, "data": dict(session)})


async def write(request: Request) -> Response:
    session = await session_from(request)
    session[request.query_params.get("key", "k")] = request.query_params.get("value", "v")
    return JSONResponse({"keys": len(session)})


async def login(request: Request) -> Response:
    session = await session_from(request)
    session.user_id, session["k"] = "alice", "v"
    session.cycle_id()
    return JSONResponse({})


async def logout(request: Request) -> Response:
    (await session_from(request)).destroy()
    return JSONResponse({})


async def plain(request: Request) -> Response:
    return PlainTextResponse("ok")


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(dict(await session_from(websocket)))
    await websocket.close()


def make_app(store: AsyncSessionStore, **options: Any) -> Starlette:
    routes = [
        Route("/read", read),
        Route("/write", write),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/plain", plain),
        WebSocketRoute("/ws", ws),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, store=store, **options)
    return app


def client_for(app: Starlette, *, jar: bool = False) -> httpx.AsyncClient:
    """A client of ``app``; without ``jar`` it keeps no cookie (tests send them by hand)."""
    cookies = None if jar else CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    # https, so that a cookie jar sends Secure cookies
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver", cookies=cookies
    )


def sent(cookie: str, name: str = "session") -> dict[str, str]:
    """Headers that send ``cookie``."""
    return {"cookie": f"{name}={cookie}"}


def cookie_of(response: httpx.Response, name: str = "session") -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    return header.split(";", 1)[0].split("=", 1)[1]


def attributes(set_cookie: str) -> dict[str, str]:
    """The attributes of a Set-Cookie value, names lower-cased (flags map to "")."""
    parts = (p.partition("=") for p in set_cookie.split("; ")[1:])
    return {name.lower(): value for name, _, value in parts}


def commands(admin: redis.Redis) -> int:
    """Commands the server processed so far (this INFO included)."""
    return int(admin.info("stats")["total_commands_processed"])


@pytest.fixture
def redis_calls(admin: redis.Redis) -> Callable[[], int]:
    """Commands processed since the fixture was made, not counting its own INFO calls."""
    start = commands(admin)
    calls = [0]

    def count() -> int:
        calls[0] += 1
        return commands(admin) - start - calls[0]

    return count


async def session_cookie(client: httpx.AsyncClient) -> str:
    return cookie_of(await client.get("/write?key=k&value=v"))


# -- laziness -------------------------------------------------------------------------------------


async def test_eager_loads_before_the_app_only_with_a_valid_cookie(
    store: AsyncSessionStore, redis_calls: Callable[[], int]
) -> None:
    async with client_for(make_app(store, eager=True)) as client:
        cookie = await session_cookie(client)
        before = redis_calls()
        assert (await client.get("/plain")).status_code == 200
        assert (await client.get("/plain", headers=sent("forged"))).status_code == 200
        assert redis_calls() == before
        response = await client.get("/plain", headers=sent(cookie))
        assert redis_calls() > before  # the load
        assert response.headers["vary"] == "Cookie"


async def test_session_from_without_the_middleware_says_so(store: AsyncSessionStore) -> None:
    app = Starlette(routes=[Route("/read", read)])
    async with client_for(app) as client:
        with pytest.raises(RuntimeError, match="SessionMiddleware is not installed"):
            await client.get("/read")


# -- cookies --------------------------------------------------------------------------------------


async def test_cookie_with_max_age_is_resent_when_the_lifetime_slides(server: RedisServer) -> None:
    policy = SessionPolicy(touch_interval=0)  # every load slides the idle timeout
    async with AsyncSessionStore.from_url(server.url, secret_keys=SECRET, session=policy) as store:
        for max_age, resent in ((3600, True), (None, False)):
            app = make_app(store, cookie=CookieOptions(max_age=max_age))
            async with client_for(app) as client:
                cookie = await session_cookie(client)
                response = await client.get("/read", headers=sent(cookie))
            assert ("set-cookie" in response.headers) is resent
            if resent:
                assert cookie_of(response) == cookie
                assert attributes(response.headers["set-cookie"])["max-age"] == "3600"


# -- store errors ---------------------------------------------------------------------------------


@asynccontextmanager
async def dead_store() -> AsyncIterator[tuple[AsyncSessionStore, str]]:
    """A store whose Redis was killed (tiny hold budget), and a cookie of a session stored before."""
    with RedisServer() as srv:
        async with AsyncSessionStore.from_url(srv.url, secret_keys=SECRET, retry=DEAD_BUDGET) as store:
            async with client_for(make_app(store)) as client:
                cookie = await session_cookie(client)
            srv.kill()
            yield store, cookie


ERROR_CASES = [
    pytest.param("/read", True, {}, id="lazy-load"),
    pytest.param("/write?key=a", False, {}, id="save-new-session"),
    pytest.param("/plain", True, {"eager": True}, id="eager-load"),
]


@pytest.mark.parametrize(("path", "with_cookie", "options"), ERROR_CASES)
async def test_store_unreachable_gives_503_with_retry_after(
    caplog: pytest.LogCaptureFixture, path: str, with_cookie: bool, options: dict[str, Any]
) -> None:
    caplog.set_level(logging.ERROR, logger="hasession")
    async with dead_store() as (store, cookie), client_for(make_app(store, **options)) as client:
        with anyio.fail_after(10):  # never a hang
            response = await client.get(path, headers=sent(cookie) if with_cookie else {})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith("text/plain")
    assert "Traceback" not in response.text
    assert "set-cookie" not in response.headers
    [record] = [r for r in caplog.records if r.name == "hasession" and r.levelno >= logging.ERROR]
    assert record.exc_info is None
    assert "StoreUnavailable" in record.getMessage()
    assert store.stats.snapshot()["unavailable"] >= 1


async def sync_hook(exc: StoreError, request: Request) -> Response:
    return PlainTextResponse(f"custom {type(exc).__name__} {request.url.path}", status_code=503)


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param(lambda exc, request: PlainTextResponse(f"custom {request.url.path}", 503), id="sync"),
        pytest.param(sync_hook, id="async"),
    ],
)
async def test_on_error_hook_builds_the_answer(hook: Callable[..., Any]) -> None:
    seen: list[StoreError] = []

    def spy(exc: StoreError, request: Request) -> Response | Awaitable[Response]:
        seen.append(exc)
        return hook(exc, request)  # type: ignore[no-any-return]

    async with dead_store() as (store, cookie), client_for(make_app(store, on_error=spy)) as client:
        response = await client.get("/read", headers=sent(cookie))
    assert response.status_code == 503
    assert response.text.startswith("custom ")
    assert response.text.endswith("/read")
    assert [type(e) for e in seen] == [StoreUnavailable]


# -- concurrency ----------------------------------------------------------------------------------


# -- WebSockets -------------------------------------------------------------------------------------


async def test_websocket_handlers_can_read_the_session(store: AsyncSessionStore) -> None:
    app = make_app(store)
    async with client_for(app) as client:
        cookie = await session_cookie(client)
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "server": ("testserver", 443),
        "path": "/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"cookie", f"session={cookie}".encode())],
        "subprotocols": [],
    }
    inbox: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert json.loads(sent[1]["text"]) == {"k": "v"}


async def test_init_app_adds_the_middleware(store: AsyncSessionStore) -> None:
    app = Starlette(routes=[Route("/write", write)])
    init_app(app, store=store, cookie=CookieOptions(name="other"))
    async with client_for(app) as client:
        assert cookie_of(await client.get("/write"), "other")


# -- failover ---------------------------------------------------------------------------------------
