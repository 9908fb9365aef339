"""hasession.flask against real Redis, through a real threaded WSGI server: the example's routes, laziness,
cookies, errors, concurrency and Sentinel failovers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import ModuleType
from typing import Any

import httpx
import pytest
from _wsgi import Browser, CommandCounter, Gate, replicating, serve, set_cookie
from flask import Flask, Response, session
from flask.sessions import SessionMixin

from hasession import (
    CookieOptions,
    InsecureCookieWarning,
    RetryPolicy,
    SaveResult,
    SessionPolicy,
    SessionStore,
    StoreError,
    delete_cookie_header,
    set_cookie_header,
)
from hasession.flask import FlaskSession, init_app
from hasession.testing import RedisServer, SentinelTopology

SECRET = "flask-test-secret-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server is sync; only the test client is async


@pytest.fixture
def example(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> Iterator[ModuleType]:
    """``examples/flask_app.py``, imported with ``HASESSION_URL`` and ``HASESSION_SECRET`` set."""
    monkeypatch.setenv("HASESSION_URL", redis_url)
    monkeypatch.setenv("HASESSION_SECRET", SECRET)
    module = load_example("flask_app")
    yield module
    module.app.session_interface.store.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[SessionStore]:
    with SessionStore.from_url(redis_url, secret_keys=SECRET) as store:
        yield store


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this test's own, to stop and restart."""
    with RedisServer(tmpdir=tmp_path_factory.getbasetemp()) as server:
        yield server


def make_app(example: ModuleType, store: SessionStore, gate: Gate | None = None, **init: Any) -> Flask:
    """The example app on ``store`` (``init``: other ``init_app`` arguments), plus routes for the tests."""
    app: Flask = example.create_app(store)
    if init:
        init_app(app, store=store, **init)

    @app.post("/set/<key>")
    def set_key(key: str) -> dict[str, bool]:
        session.get("count")  # load first, then wait with the others: their saves overlap
        if gate is not None:
            gate.hold()
        session[key] = True
        return {"ok": True}

    @app.get("/vary")
    def vary() -> Response:
        response = Response(str(session.get("count")))
        response.headers["Vary"] = "Accept-Encoding"
        return response

    @app.get("/permanent")
    def permanent() -> dict[str, bool]:
        session.permanent = True
        session.modified = True  # a Flask habit: accepted, and changes nothing
        session["p"] = 1
        return {"ok": True}

    return app


@pytest.mark.anyio
async def test_example_flow(
    example: ModuleType, async_example_flow: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> None:
    """The example app, configured from the environment: counting, log-in with a new id, revoke-others,
    log-out."""
    with serve(example.app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await async_example_flow(client)


def test_views_that_ignore_the_session_cost_no_redis_command(
    example: ModuleType, store: SessionStore, redis_server: RedisServer, own_redis: RedisServer
) -> None:
    """Lazy: no command for /health, even with a session cookie (while /whoami loads the session); and
    /health keeps answering while Redis is down."""
    counter = CommandCounter(redis_server)
    with serve(make_app(example, store)) as url:
        browser = Browser(url)
        assert browser.post("/count").json() == {"count": 1}
        counter.taken()
        assert browser.get("/health").status_code == 200
        assert counter.taken() == 0
        assert browser.get("/whoami").json() == {"user": None, "count": 1}
        assert counter.taken() > 0  # the load (a script, and the commands it runs)
    counter.close()
    with SessionStore.from_url(own_redis.url, secret_keys=SECRET, retry=RetryPolicy(hold_budget=0.3)) as down:
        own_redis.kill()
        with serve(make_app(example, down)) as url:
            assert Browser(url, cookie=browser.cookie).get("/health").status_code == 200


def test_forged_or_malformed_cookie_gives_a_new_session_without_a_redis_call(
    example: ModuleType, store: SessionStore, redis_server: RedisServer
) -> None:
    with serve(make_app(example, store)) as url:
        genuine = Browser(url)
        genuine.post("/count")
        assert genuine.cookie is not None
        forged = genuine.cookie[:-4] + ("AAAA" if not genuine.cookie.endswith("AAAA") else "BBBB")
        counter = CommandCounter(redis_server)
        for cookie in (forged, "garbage", "a" * 5000, genuine.cookie.replace(".", "")):
            response = Browser(url, cookie=cookie).get("/whoami")
            assert response.json() == {"user": None, "count": 0}
            assert set_cookie(response) is None
        assert counter.taken() == 0
        counter.close()


def test_set_cookie_only_when_needed_and_vary_cookie(example: ModuleType, store: SessionStore) -> None:
    with serve(make_app(example, store)) as url:
        browser = Browser(url)
        health = browser.get("/health")
        assert (set_cookie(health), health.headers.get("vary")) == (None, None)
        whoami = browser.get("/whoami")
        assert (set_cookie(whoami), whoami.headers["vary"]) == (None, "Cookie")
        created = browser.post("/count")
        assert set_cookie(created) is not None
        assert created.headers["vary"] == "Cookie"
        updated = browser.post("/count")
        assert (updated.json(), set_cookie(updated)) == ({"count": 2}, None)  # same id, no Max-Age
        assert browser.get("/vary").headers["vary"] == "Accept-Encoding, Cookie"


def test_every_cookie_option(example: ModuleType, redis_url: str) -> None:
    options = CookieOptions(
        name="sid",
        path="/",
        domain="app.test",
        httponly=False,
        samesite="strict",
        max_age=600,
        partitioned=True,
    )
    policy = SessionPolicy(touch_interval=0)  # every load refreshes the TTL: a Max-Age cookie is re-sent
    with (
        SessionStore.from_url(redis_url, secret_keys=SECRET, session=policy) as store,
        serve(make_app(example, store, cookie=options)) as url,
    ):
        browser = Browser(url, cookie_name="sid")
        created = set_cookie(browser.post("/count"), "sid")
        assert browser.cookie is not None
        assert created == set_cookie_header(options, SaveResult(cookie="set", value=browser.cookie))
        assert "Secure" in created and "HttpOnly" not in created
        refreshed = set_cookie(browser.get("/whoami"), "sid")
        assert refreshed == created  # the sliding TTL was refreshed: same cookie, Max-Age again
        assert set_cookie(browser.post("/logout"), "sid") == delete_cookie_header(options)


def test_insecure_cookie_warns_and_permanent_is_not_stored(example: ModuleType, store: SessionStore) -> None:
    with pytest.warns(InsecureCookieWarning):
        app = make_app(example, store, cookie=CookieOptions(secure=False))
    with serve(app) as url:
        browser = Browser(url)
        header = set_cookie(browser.get("/permanent"))
        assert header is not None
        assert "Secure" not in header
        assert "Max-Age=2678400" in header  # permanent: app.permanent_session_lifetime (31 days)
        assert set_cookie(browser.get("/whoami")) is None  # not permanent now, nothing to re-send
    assert dict(store.load(browser.cookie)) == {"p": 1}  # Flask's "_permanent" is not session data
    assert example.create_app(store).permanent_session_lifetime == timedelta(days=31)


def test_store_unreachable_answers_503_with_retry_after(
    example: ModuleType, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    retry = RetryPolicy(hold_budget=0.3, retry_after=7)
    with (
        SessionStore.from_url(own_redis.url, secret_keys=SECRET, retry=retry) as store,
        serve(make_app(example, store)) as url,
    ):
        browser = Browser(url)
        browser.post("/count")
        own_redis.kill()
        for response in (browser.get("/whoami"), Browser(url).post("/count")):  # load, then save fails
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7"
            assert response.headers["vary"] == "Cookie"
            assert set_cookie(response) is None
            assert "briefly unavailable" in response.text
        assert browser.get("/health").status_code == 200
        own_redis.restart()
        assert browser.post("/count").json() == {"count": 1}  # a fresh server: a new session
    logged = [r.getMessage() for r in caplog.records if r.name == "hasession" and r.levelno == logging.ERROR]
    answered = [m.split(" for ")[1].split(" ")[0] for m in logged if "session store error" in m]
    assert answered == ["/whoami", "/count"]  # one line per request answered 503


def test_on_error_hook_builds_the_answer(example: ModuleType, own_redis: RedisServer) -> None:
    def on_error(exc: StoreError) -> Response:
        return Response(f"down: {type(exc).__name__}", status=503, headers={"Retry-After": "1"})

    retry = RetryPolicy(hold_budget=0.3)
    with (
        SessionStore.from_url(own_redis.url, secret_keys=SECRET, retry=retry) as store,
        serve(make_app(example, store, on_error=on_error)) as url,
    ):
        browser = Browser(url)
        browser.post("/count")
        own_redis.kill()
        for response in (browser.get("/whoami"), Browser(url).post("/count")):
            assert (response.status_code, response.text) == (503, "down: StoreUnavailable")
            assert response.headers["retry-after"] == "1"


def test_50_concurrent_requests_of_one_session_keep_every_key(
    example: ModuleType, store: SessionStore
) -> None:
    gate = Gate()
    with serve(make_app(example, store, gate)) as url:
        browser = Browser(url)
        browser.post("/count")
        with ThreadPoolExecutor(50) as pool:
            calls = [pool.submit(Browser(url, cookie=browser.cookie).post, f"/set/k{i}") for i in range(50)]
            gate.wait_for(50)  # all 50 loaded the session before any saves
            gate.open()
            assert [c.result().status_code for c in calls] == [200] * 50
    assert dict(store.load(browser.cookie)) == {"count": 1, **{f"k{i}": True for i in range(50)}}


def test_compare_and_set_conflict_answers_409(example: ModuleType, redis_url: str) -> None:
    gate = Gate()
    policy = SessionPolicy(concurrency="cas")
    with (
        SessionStore.from_url(redis_url, secret_keys=SECRET, session=policy) as store,
        serve(make_app(example, store, gate)) as url,
    ):
        browser = Browser(url)
        browser.post("/count")
        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(Browser(url, cookie=browser.cookie).post, "/set/same") for _ in range(2)]
            gate.wait_for(2)  # both loaded the same version
            gate.open()
            assert sorted(c.result().status_code for c in calls) == [200, 409]


def test_logout_stays_done_while_requests_of_the_session_are_in_flight(
    example: ModuleType, store: SessionStore
) -> None:
    gate = Gate()
    with serve(make_app(example, store, gate)) as url:
        browser = Browser(url)
        browser.post("/login", json={"user": "ann"})
        cookie = browser.cookie
        with ThreadPoolExecutor(5) as pool:
            calls = [pool.submit(Browser(url, cookie=cookie).post, f"/set/late{i}") for i in range(5)]
            gate.wait_for(5)
            assert "Max-Age=0" in (set_cookie(browser.post("/logout")) or "")
            gate.open()
            late = [c.result() for c in calls]
        assert all(r.status_code == 200 and "Max-Age=0" in (set_cookie(r) or "") for r in late)
        assert Browser(url, cookie=cookie).get("/whoami").json() == {"user": None, "count": 0}
    assert store.load(cookie).new
    assert store.sessions_of("ann") == []


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["kill_master", "failover"])
async def test_users_keep_their_sessions_through_a_sentinel_failover(
    example: ModuleType,
    redis_sentinel: SentinelTopology,
    async_crowd: Callable[..., Awaitable[Any]],
    fault: str,
) -> None:
    def run_fault() -> None:
        if fault == "kill_master":
            redis_sentinel.wait_for_new_master(redis_sentinel.kill_master())
        else:
            redis_sentinel.failover()

    replicating(redis_sentinel)
    with SessionStore.from_url(redis_sentinel.url, secret_keys=SECRET) as store:
        with serve(make_app(example, store)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                crowd = await async_crowd(client, run_fault, users=12)
        print(crowd.summary(), store.stats.snapshot())
    assert crowd.bad_statuses == {}, crowd.summary()
    assert crowd.errors == [], crowd.summary()
    crowd.assert_within_async_bound()
    assert crowd.lost == [], crowd.summary()


def test_open_session_does_no_io_and_is_a_flask_session_mixin(
    example: ModuleType, store: SessionStore
) -> None:
    app = make_app(example, store)
    with serve(app) as url:
        browser = Browser(url)
        browser.post("/count")
    with app.test_request_context("/", headers={"Cookie": f"session={browser.cookie}"}) as ctx:
        opened = ctx.session
        assert isinstance(opened, FlaskSession)
        assert isinstance(opened, SessionMixin)
        assert not opened.loaded  # opening did no I/O
        assert opened["count"] == 1  # the first access loads it
        assert opened.loaded
