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
from _asgi import DEAD_BUDGET, SECRET, Gate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from hasession import (
    AsyncSessionStore,
    CookieOptions,
    InsecureCookieWarning,
    SessionPolicy,
    StoreError,
    StoreUnavailable,
)
from hasession.starlette import SessionMiddleware, init_app, session_from
from hasession.testing import RedisServer, SentinelTopology

pytestmark = pytest.mark.anyio


async def read(request: Request) -> Response:
    session = await session_from(request)
    return JSONResponse({"user": session.user_id, "data": dict(session)})


async def write(request: Request) -> Response:
    session = await session_from(request)
    session[request.query_params.get("key", "k")] = request.query_params.get("value", "v")
    return JSONResponse({"keys": len(session)})


async def gated_write(request: Request) -> Response:
    session = await session_from(request)
    await request.app.state.gate.pass_()
    session[request.query_params["key"]] = "v"
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


async def with_vary(request: Request) -> Response:
    (await session_from(request)).get("k")
    return PlainTextResponse("ok", headers={"Vary": "Accept-Encoding"})


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(dict(await session_from(websocket)))
    await websocket.close()


def make_app(store: AsyncSessionStore, **options: Any) -> Starlette:
    routes = [
        Route("/read", read),
        Route("/write", write),
        Route("/gated", gated_write),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/plain", plain),
        Route("/vary", with_vary),
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


async def test_a_page_that_ignores_the_session_makes_no_redis_call(
    store: AsyncSessionStore, redis_calls: Callable[[], int]
) -> None:
    async with client_for(make_app(store)) as client:
        cookie = await session_cookie(client)
        before = redis_calls()
        for headers in ({}, sent(cookie)):
            response = await client.get("/plain", headers=headers)
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
            assert "vary" not in response.headers
        assert redis_calls() == before


async def test_a_page_that_ignores_the_session_works_while_redis_is_down() -> None:
    with RedisServer() as srv:
        store = AsyncSessionStore.from_url(srv.url, secret_keys=SECRET, retry=DEAD_BUDGET)
        async with store, client_for(make_app(store)) as client:
            cookie = await session_cookie(client)
            srv.kill()
            response = await client.get("/plain", headers=sent(cookie))
    assert (response.status_code, response.text) == (200, "ok")


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


async def test_set_cookie_only_when_needed_and_vary_when_used(store: AsyncSessionStore) -> None:
    async with client_for(make_app(store)) as client:
        empty = await client.get("/read")
        assert "set-cookie" not in empty.headers
        assert empty.headers["vary"] == "Cookie"
        created = await client.get("/write?key=a")
        cookie = cookie_of(created)
        assert created.headers["vary"] == "Cookie"
        for path in ("/read", "/write?key=b", "/write?key=b"):  # read, change, rewrite: same cookie
            response = await client.get(path, headers=sent(cookie))
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
            assert response.headers["vary"] == "Cookie"
        vary = await client.get("/vary", headers=sent(cookie))
        assert vary.headers["vary"] == "Accept-Encoding, Cookie"


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


COOKIE_CASES = [
    pytest.param(
        CookieOptions(
            name="sid",
            path="/app",
            domain="example.test",
            secure=True,
            httponly=True,
            samesite="strict",
            max_age=3600,
            partitioned=True,
        ),
        {
            "path": "/app",
            "domain": "example.test",
            "max-age": "3600",
            "secure": "",
            "httponly": "",
            "samesite": "Strict",
            "partitioned": "",
        },
        id="all-on",
    ),
    pytest.param(
        CookieOptions(secure=False, httponly=False, samesite="lax"),
        {"path": "/", "samesite": "Lax"},
        id="all-off",
    ),
    pytest.param(
        CookieOptions(name="s2", samesite="none"),
        {"path": "/", "secure": "", "httponly": "", "samesite": "None"},
        id="samesite-none",
    ),
]


@pytest.mark.parametrize(("options", "expected"), COOKIE_CASES)
async def test_every_cookie_option_reaches_set_cookie(
    store: AsyncSessionStore, options: CookieOptions, expected: dict[str, str]
) -> None:
    app = make_app(store, cookie=options)
    async with client_for(app) as client:
        if options.secure:
            created = await client.get("/write?key=a&value=1")
        else:  # Starlette builds its middleware stack at the first request
            with pytest.warns(InsecureCookieWarning):
                created = await client.get("/write?key=a&value=1")
        cookie = cookie_of(created, options.name)
        assert attributes(created.headers["set-cookie"]) == expected
        read_back = await client.get("/read", headers=sent(cookie, options.name))
        assert read_back.json()["data"] == {"a": "1"}
        deleted = await client.post("/logout", headers=sent(cookie, options.name))
    removal = attributes(deleted.headers["set-cookie"])
    assert deleted.headers["set-cookie"].startswith(f"{options.name}=;")
    assert removal["max-age"] == "0"
    assert {k: v for k, v in removal.items() if k not in ("max-age", "expires")} == {
        k: v for k, v in expected.items() if k != "max-age"
    }


async def test_forged_malformed_or_oversized_cookies_give_a_new_session_without_redis(
    server: RedisServer, store: AsyncSessionStore, redis_calls: Callable[[], int]
) -> None:
    other = AsyncSessionStore.from_url(server.url, secret_keys="another-app-secret-0123456789")
    async with other, client_for(make_app(other)) as client:
        foreign = await session_cookie(client)
    async with client_for(make_app(store)) as client:
        valid = await session_cookie(client)
        value, signature = valid.split(".")
        bad = {
            "signed with another key": foreign,
            "forged signature": f"{value}.{signature[::-1]}",
            "forged id": f"{value[::-1]}.{signature}",
            "malformed": "not-a-session-cookie",
            "oversized": "A" * 8000,
            "empty": "",
        }
        before = redis_calls()
        for label, cookie in bad.items():
            response = await client.get("/read", headers=sent(cookie))
            assert response.status_code == 200, label
            assert response.json() == {"user": None, "data": {}}, label
            assert "set-cookie" not in response.headers, label
        assert redis_calls() == before
        replaced = await client.get("/write?key=x", headers=sent(bad["forged signature"]))
        assert cookie_of(replaced) not in (valid, bad["forged signature"])  # never adopts a client's id


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


async def test_compare_and_set_conflict_gives_409(server: RedisServer, admin: redis.Redis) -> None:
    policy = SessionPolicy(concurrency="cas")
    async with AsyncSessionStore.from_url(server.url, secret_keys=SECRET, session=policy) as store:
        app = make_app(store)
        app.state.gate = gate = Gate(expected=2)
        async with client_for(app) as client:
            cookie = await session_cookie(client)
            responses: list[httpx.Response] = []

            async def gated(key: str) -> None:
                responses.append(await client.get(f"/gated?key={key}", headers=sent(cookie)))

            async with anyio.create_task_group() as tg:
                tg.start_soon(gated, "a")
                tg.start_soon(gated, "b")
                await gate.all_arrived.wait()
                gate.release.set()
    assert sorted(r.status_code for r in responses) == [200, 409]


# -- concurrency ----------------------------------------------------------------------------------


async def test_50_concurrent_requests_of_one_session_keep_every_key(store: AsyncSessionStore) -> None:
    app = make_app(store)
    app.state.gate = gate = Gate(expected=50)
    async with client_for(app) as client:
        cookie = await session_cookie(client)
        statuses: list[int] = []

        async def gated(key: str) -> None:
            statuses.append((await client.get(f"/gated?key={key}", headers=sent(cookie))).status_code)

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(gated, f"k{i}")
            await gate.all_arrived.wait()  # all 50 loaded the same version before any saves
            gate.release.set()
        data = (await client.get("/read", headers=sent(cookie))).json()["data"]
    assert statuses == [200] * 50
    assert set(data) == {"k", *(f"k{i}" for i in range(50))}


async def test_logout_wins_over_requests_in_flight(store: AsyncSessionStore, admin: redis.Redis) -> None:
    app = make_app(store)
    app.state.gate = gate = Gate(expected=5)
    async with client_for(app) as client:
        anonymous = await session_cookie(client)
        cookie = cookie_of(await client.post("/login", headers=sent(anonymous)))
        late: list[httpx.Response] = []

        async def slow_write(key: str) -> None:
            late.append(await client.get(f"/gated?key={key}", headers=sent(cookie)))

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(slow_write, f"late{i}")
            await gate.all_arrived.wait()  # five requests hold the loaded session
            logout = await client.post("/logout", headers=sent(cookie))
            gate.release.set()
        after = await client.get("/read", headers=sent(cookie))
    assert attributes(logout.headers["set-cookie"])["max-age"] == "0"
    assert [r.status_code for r in late] == [200] * 5
    for response in late:  # their saves found the tombstone: they delete the cookie, not revive it
        assert attributes(response.headers["set-cookie"])["max-age"] == "0"
    assert after.json() == {"user": None, "data": {}}
    assert await store.sessions_of("alice") == []
    leftovers = [admin.hgetall(k) for k in admin.keys("*") if admin.type(k) == b"hash"]
    assert all(h == {b"@d": b"1"} for h in leftovers)  # tombstones only: no session data came back


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


# -- the example app --------------------------------------------------------------------------------


async def test_example_app(
    server: RedisServer,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_example_flow: Callable[[httpx.AsyncClient], Awaitable[None]],
) -> None:
    monkeypatch.setenv("HASESSION_URL", server.url)
    app = load_example("starlette_app").create_app()
    async with client_for(app) as client:
        await async_example_flow(client)
    async with client_for(app, jar=True) as browser:  # the HTML pages, with a cookie jar
        assert 'action="/login"' in (await browser.get("/")).text
        form = {"content-type": "application/x-www-form-urlencoded"}
        login = await browser.post("/login", content=b"user=bob", headers=form)
        assert (login.status_code, login.headers["location"]) == (303, "/")
        assert '<b id="user">bob</b>' in (await browser.get("/")).text
    await app.state.store.close()


async def test_init_app_adds_the_middleware(store: AsyncSessionStore) -> None:
    app = Starlette(routes=[Route("/write", write)])
    init_app(app, store=store, cookie=CookieOptions(name="other"))
    async with client_for(app) as client:
        assert cookie_of(await client.get("/write"), "other")


# -- failover ---------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_example_sessions_survive_a_failover(
    sentinel_fault: Callable[[SentinelTopology], None],
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_crowd: Callable[..., Awaitable[Any]],
) -> None:
    with SentinelTopology(down_after_ms=1000) as topology:
        monkeypatch.setenv("HASESSION_URL", topology.url)
        app = load_example("starlette_app").create_app()
        async with client_for(app) as client:
            crowd = await async_crowd(client, lambda: sentinel_fault(topology), users=15)
        print(f"\n{sentinel_fault.__name__}: {crowd.summary()}; {app.state.store.stats.snapshot()}")
        await app.state.store.close()
    assert crowd.bad_statuses == {}, crowd.summary()
    assert crowd.errors == [], crowd.summary()
    crowd.assert_within_async_bound()
    assert crowd.lost == [], crowd.summary()
