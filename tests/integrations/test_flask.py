"""hasession.flask against real Redis, through a real threaded WSGI server: the example's routes, laziness,
cookies, errors, concurrency and Sentinel failovers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import httpx
import pytest
from _wsgi import Browser, replicating, serve, set_cookie
from flask import Flask, Response, session
from flask.sessions import SessionMixin

from hasession import (
    CookieOptions,
    InsecureCookieWarning,
    RetryPolicy,
    SessionStore,
    StoreError,
)
from hasession.flask import FlaskSession, init_app
from hasession.testing import RedisServer, SentinelTopology

SECRET = "flask-test-secret-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server is sync; only the test client is async


@pytest.fixture
def example(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch, hasession_redis_url: str
) -> Iterator[ModuleType]:
    """``examples/flask_app.py``, imported with ``HASESSION_URL`` and ``HASESSION_SECRET`` set."""
    monkeypatch.setenv("HASESSION_URL", hasession_redis_url)
    monkeypatch.setenv("HASESSION_SECRET", SECRET)
    module = load_example("flask_app")
    yield module
    module.app.session_interface.store.close()


@pytest.fixture
def store(hasession_redis_url: str) -> Iterator[SessionStore]:
    with SessionStore.from_url(hasession_redis_url, secret_keys=SECRET) as store:
        yield store


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this test's own, to stop and restart."""
    with RedisServer(tmpdir=tmp_path_factory.getbasetemp()) as server:
        yield server


def make_app(example: ModuleType, store: SessionStore, **init: Any) -> Flask:
    """The example app on ``store`` (``init``: other ``init_app`` arguments), plus routes for the tests."""
    app: Flask = example.create_app(store)
    if init:
        init_app(app, store=store, **init)

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


@pytest.mark.slow
@pytest.mark.anyio
async def test_users_keep_their_sessions_through_a_sentinel_failover(
    example: ModuleType,
    hasession_redis_sentinel: SentinelTopology,
    async_crowd: Callable[..., Awaitable[Any]],
    sentinel_fault: Callable[[SentinelTopology], None],
) -> None:
    replicating(hasession_redis_sentinel)
    with SessionStore.from_url(hasession_redis_sentinel.url, secret_keys=SECRET) as store:
        with serve(make_app(example, store)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                crowd = await async_crowd(client, lambda: sentinel_fault(hasession_redis_sentinel), users=12)
        print(crowd.summary(), store.stats.snapshot())
    crowd.assert_unharmed()


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
