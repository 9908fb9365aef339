"""hasession.aiohttp against real Redis, served by a real aiohttp server on loopback.

Async tests run on asyncio only: aiohttp and redis.asyncio both need it.
"""

from __future__ import annotations

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
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from hasession import (
    AsyncSessionStore,
    CookieOptions,
    InsecureCookieWarning,
    StoreError,
    StoreUnavailable,
)
from hasession.aiohttp import STORE_KEY, SessionMiddleware, get_session, init_app, session_from, setup
from hasession.testing import RedisServer, SentinelTopology

#: The tests serve Secure cookies over plain http and send them back by hand, as a browser on
#: localhost does; ``test_a_secure_cookie_over_http_warns_once`` checks the warning itself.
OVER_HTTP = "ignore:hasession. a Secure session cookie:hasession.InsecureCookieWarning"
pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings(OVER_HTTP)]


GATE = web.AppKey("gate", Gate)
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


@routes.get("/gated")
async def gated(request: web.Request) -> web.Response:
    session = await session_from(request)
    await request.app[GATE].pass_()
    session[request.query["key"]] = "v"
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


@routes.get("/vary")
async def with_vary(request: web.Request) -> web.Response:
    (await get_session(request)).get("k")
    return web.Response(text="ok", headers={"Vary": "Accept-Encoding"})


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


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` on a real loopback server, and an httpx client of it that keeps no cookie."""
    async with TestServer(app, host="127.0.0.1") as test_server:
        jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        async with httpx.AsyncClient(base_url=str(test_server.make_url("")), cookies=jar) as client:
            yield client


def sent(cookie: str, name: str = "session") -> dict[str, str]:
    return {"cookie": f"{name}={cookie}"}


def cookie_of(response: httpx.Response, name: str = "session") -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    return header.split(";", 1)[0].split("=", 1)[1]


def commands(admin: redis.Redis) -> int:
    return int(admin.info("stats")["total_commands_processed"])


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


async def test_a_handler_that_ignores_the_session_makes_no_redis_call(
    store: AsyncSessionStore, admin: redis.Redis
) -> None:
    async with serve(make_app(store)) as client:
        cookie = await session_cookie(client)
        before = commands(admin)
        for headers in ({}, sent(cookie), sent("forged.value"), sent("A" * 8000)):
            response = await client.get("/plain", headers=headers)
            assert (response.status_code, response.text) == (200, "ok")
            assert "set-cookie" not in response.headers
            assert "vary" not in response.headers
        assert commands(admin) == before + 1  # the INFO above


async def test_a_handler_that_ignores_the_session_works_while_redis_is_down() -> None:
    with RedisServer() as srv:
        store = AsyncSessionStore.from_url(srv.url, secret_keys=SECRET, retry=DEAD_BUDGET)
        async with store, serve(make_app(store)) as client:
            cookie = await session_cookie(client)
            srv.kill()
            response = await client.get("/plain", headers=sent(cookie))
    assert (response.status_code, response.text) == (200, "ok")


async def test_set_cookie_only_when_needed_and_vary_when_used(store: AsyncSessionStore) -> None:
    async with serve(make_app(store)) as client:
        empty = await client.get("/read")
        assert "set-cookie" not in empty.headers
        assert empty.headers["vary"] == "Cookie"
        cookie = await session_cookie(client)
        for path in ("/read", "/write?key=b", "/write?key=b"):
            response = await client.get(path, headers=sent(cookie))
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
            assert response.headers["vary"] == "Cookie"
        vary = await client.get("/vary", headers=sent(cookie))
        assert vary.headers["vary"] == "Accept-Encoding, Cookie"


async def test_forged_or_malformed_cookies_give_a_new_session_without_redis(
    store: AsyncSessionStore, admin: redis.Redis
) -> None:
    async with serve(make_app(store)) as client:
        value, signature = (await session_cookie(client)).split(".")
        before = commands(admin)
        for cookie in (f"{value}.{signature[::-1]}", f"{value[::-1]}.{signature}", "garbage", "A" * 8000):
            response = await client.get("/read", headers=sent(cookie))
            assert response.json() == {"user": None, "data": {}}
            assert "set-cookie" not in response.headers
        assert commands(admin) == before + 1  # the INFO above


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            CookieOptions(
                name="sid",
                path="/",
                domain="example.test",
                samesite="strict",
                max_age=3600,
                partitioned=True,
            ),
            [
                "Path=/",
                "Domain=example.test",
                "Max-Age=3600",
                "Secure",
                "HttpOnly",
                "SameSite=Strict",
                "Partitioned",
            ],
            id="all-on",
        ),
        pytest.param(
            CookieOptions(name="sid", secure=False, httponly=False), ["Path=/", "SameSite=Lax"], id="all-off"
        ),
    ],
)
async def test_every_cookie_option_reaches_set_cookie(
    store: AsyncSessionStore, options: CookieOptions, expected: list[str]
) -> None:
    if options.secure:
        app = make_app(store, cookie=options)
    else:
        with pytest.warns(InsecureCookieWarning):
            app = make_app(store, cookie=options)
    async with serve(app) as client:
        created = await client.get("/write?key=a&value=1")
        header = created.headers["set-cookie"]
        assert header.split("; ")[1:] == expected
        cookie = cookie_of(created, "sid")
        assert (await client.get("/read", headers=sent(cookie, "sid"))).json()["data"] == {"a": "1"}


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


@pytest.mark.parametrize(
    ("path", "with_cookie"), [("/read", True), ("/write?key=a", False)], ids=["load", "save"]
)
async def test_store_unreachable_gives_503_with_retry_after(
    caplog: pytest.LogCaptureFixture, path: str, with_cookie: bool
) -> None:
    caplog.set_level(logging.ERROR)
    async with dead_store() as (store, cookie), serve(make_app(store)) as client:
        with anyio.fail_after(10):
            response = await client.get(path, headers=sent(cookie) if with_cookie else {})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text
    assert "set-cookie" not in response.headers
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]  # nothing from aiohttp itself
    assert record.name == "hasession"
    assert record.exc_info is None


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


async def test_50_concurrent_requests_of_one_session_keep_every_key(store: AsyncSessionStore) -> None:
    app = make_app(store)
    app[GATE] = gate = Gate(expected=50)
    async with serve(app) as client:
        cookie = await session_cookie(client)
        statuses: list[int] = []

        async def gated_write(key: str) -> None:
            statuses.append((await client.get(f"/gated?key={key}", headers=sent(cookie))).status_code)

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(gated_write, f"k{i}")
            await gate.all_arrived.wait()  # all 50 loaded the same version before any saves
            gate.release.set()
        data = (await client.get("/read", headers=sent(cookie))).json()["data"]
    assert statuses == [200] * 50
    assert set(data) == {"k", *(f"k{i}" for i in range(50))}


async def test_logout_wins_over_requests_in_flight(store: AsyncSessionStore, admin: redis.Redis) -> None:
    app = make_app(store)
    app[GATE] = gate = Gate(expected=5)
    async with serve(app) as client:
        cookie = cookie_of(await client.post("/login"))
        late: list[httpx.Response] = []

        async def slow_write(key: str) -> None:
            late.append(await client.get(f"/gated?key={key}", headers=sent(cookie)))

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(slow_write, f"late{i}")
            await gate.all_arrived.wait()
            logout = await client.post("/logout", headers=sent(cookie))
            gate.release.set()
        after = await client.get("/read", headers=sent(cookie))
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert [r.status_code for r in late] == [200] * 5
    assert all("Max-Age=0" in r.headers["set-cookie"] for r in late)  # deleted, not revived
    assert after.json() == {"user": None, "data": {}}
    assert await store.sessions_of("alice") == []
    leftovers = [admin.hgetall(k) for k in admin.keys("*") if admin.type(k) == b"hash"]
    assert all(h == {b"@d": b"1"} for h in leftovers)  # tombstones only: no session data came back


# -- the example app ----------------------------------------------------------------------------------


async def test_example_app(
    server: RedisServer,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_example_flow: Callable[[httpx.AsyncClient], Awaitable[None]],
) -> None:
    monkeypatch.setenv("HASESSION_URL", server.url)
    async with serve(load_example("aiohttp_app").create_app()) as client:
        await async_example_flow(client)
        form = {"content-type": "application/x-www-form-urlencoded"}
        assert (await client.post("/login", content=b"user=bob", headers=form)).json() == {"user": "bob"}
        assert (await client.post("/login", json={"user": ""})).status_code == 400


@pytest.mark.slow
async def test_example_sessions_survive_a_failover(
    sentinel_fault: Callable[[SentinelTopology], None],
    monkeypatch: pytest.MonkeyPatch,
    load_example: Callable[[str], Any],
    async_crowd: Callable[..., Awaitable[Any]],
) -> None:
    with SentinelTopology(down_after_ms=1000) as topology:
        monkeypatch.setenv("HASESSION_URL", topology.url)
        app = load_example("aiohttp_app").create_app()
        async with serve(app) as client:
            crowd = await async_crowd(client, lambda: sentinel_fault(topology), users=15)
            print(f"\n{sentinel_fault.__name__}: {crowd.summary()}; {app[STORE_KEY].stats.snapshot()}")
    assert crowd.bad_statuses == {}, crowd.summary()
    assert crowd.errors == [], crowd.summary()
    crowd.assert_within_async_bound()
    assert crowd.lost == [], crowd.summary()
