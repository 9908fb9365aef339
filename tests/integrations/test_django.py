"""hasession.django against real Redis, through a real threaded WSGI server running the example project
(``examples/django_app``): its routes, laziness, cookies, errors, concurrency and Sentinel failovers.

Django's own session-backend tests run in ``django_suite/``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from _wsgi import Browser, replicating, serve, set_cookie
from django_suite import bootstrap

bootstrap.configure()

from demo_site import urls as example_urls  # noqa: E402 - needs configured settings
from django.contrib.sessions.exceptions import SessionInterrupted  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from hasession import DurabilityPolicy, RetryPolicy, Secret, SessionPolicy, StoreConfig  # noqa: E402
from hasession._options import option_fields  # noqa: E402
from hasession.django import (  # noqa: E402
    SessionMiddleware,
    SessionStore,
    asession_from,
    get_store,
    store_config,
)
from hasession.testing import RedisServer, SentinelTopology  # noqa: E402


async def acount(request: HttpRequest) -> JsonResponse:
    """Django's async session API, on the async store of the request's event loop."""
    count = await request.session.aget("count", 0) + 1
    await request.session.aset("count", count)
    return JsonResponse({"count": count, "id": (await asession_from(request)).id is not None})


class TouchSessionMiddleware:
    """A middleware below hasession's that reads the session: its errors become Django's 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.session.get("count")
        return self.get_response(request)


urlpatterns = [
    *example_urls.urlpatterns,
    path("acount", acount),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server is sync; only the test client is async


@contextmanager
def site(url: str, **settings: Any) -> Iterator[str]:
    """The example project (plus this module's routes) on the store at ``url``, served for real."""
    hasession = {"URL": url, **settings.pop("HASESSION", {})}
    with (
        override_settings(ROOT_URLCONF=__name__, HASESSION=hasession, **settings),
        serve(get_wsgi_application()) as base_url,  # built under the overridden settings
    ):
        yield base_url


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmpdir=tmp_path_factory.getbasetemp()) as server:
        yield server


@pytest.mark.anyio
async def test_example_flow(
    hasession_redis_url: str, async_example_flow: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> None:
    """The example's routes end to end: counting, log-in with ``cycle_key()``, revoke-others, log-out."""
    with site(hasession_redis_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await async_example_flow(client)


def test_every_cookie_setting(hasession_redis_url: str) -> None:
    cookie_settings = {
        "SESSION_COOKIE_NAME": "sid",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": "app.test",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": False,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_AGE": 600,
    }
    with site(hasession_redis_url, **cookie_settings) as url:
        browser = Browser(url, cookie_name="sid")
        morsel = SimpleCookie(set_cookie(browser.post("/count"), "sid"))["sid"]
        assert (morsel["path"], morsel["domain"], morsel["max-age"]) == ("/", "app.test", "600")
        assert (morsel["secure"], morsel["httponly"], morsel["samesite"]) == (True, "", "Strict")
        assert get_store().config.session.idle_timeout == 600  # the store follows SESSION_COOKIE_AGE
        assert "Max-Age=0" in (set_cookie(browser.post("/logout"), "sid") or "")


def test_a_store_error_in_another_middleware_answers_503_not_500(own_redis: RedisServer) -> None:
    middleware = ["hasession.django.SessionMiddleware", f"{__name__}.TouchSessionMiddleware"]
    options = {"OPTIONS": {"retry": {"hold_budget": 0.3}}}
    with site(own_redis.url, HASESSION=options, MIDDLEWARE=middleware) as url:
        browser = Browser(url)
        browser.post("/count")
        own_redis.kill()
        response = browser.get("/health")
        assert (response.status_code, response.headers["retry-after"]) == (503, "5")


def test_async_views_use_the_async_store(hasession_redis_url: str) -> None:
    """Under WSGI each async view runs in its own event loop, with its own async store."""
    with site(hasession_redis_url) as url:
        browser = Browser(url)
        assert browser.get("/acount").json() == {"count": 1, "id": False}
        assert browser.get("/acount").json() == {"count": 2, "id": True}
        assert browser.get("/whoami").json() == {"user": None, "count": 2}


def test_settings_are_checked(hasession_redis_url: str) -> None:
    policy = {"session": {"idle_timeout": 600}, "durability": DurabilityPolicy(mode="async")}
    with override_settings(
        HASESSION={"URL": hasession_redis_url, "SECRET_KEYS": ["k" * 32], "OPTIONS": policy}
    ):
        config = store_config()
        assert config.session == SessionPolicy(idle_timeout=600)
        assert config.secret_keys[0].reveal() == b"k" * 32
    bad: list[object] = [
        None,
        {},
        {"URL": hasession_redis_url, "TYPO": 1},
        {"URL": hasession_redis_url, "OPTIONS": {"retries": 1}},
    ]
    bad += [
        {"URL": hasession_redis_url, "OPTIONS": {"retry": 3}},
        {"URL": hasession_redis_url, "OPTIONS": {"retry": {"x": 1}}},
    ]
    for value in bad:
        with override_settings(HASESSION=value), pytest.raises(ImproperlyConfigured):
            store_config()
    with override_settings(
        HASESSION={"URL": hasession_redis_url}, SECRET_KEY="short", SECRET_KEY_FALLBACKS=["old" * 8]
    ):
        keys = [k.reveal() for k in store_config().secret_keys]
        assert keys[0] == b"old" * 8 and len(keys[1]) == 32  # oldest first; a short key is derived


def test_options_are_every_store_option_but_the_keys(hasession_redis_url: str) -> None:
    """HASESSION["OPTIONS"] takes its list from StoreConfig (it once refused id_hash_key, degraded_reads)."""
    every = {
        "id_hash_key": "h" * 32,
        "degraded_reads": 2.0,
        "retry": {"hold_budget": 1.0},
        "encryption_keys": [],
    }
    every |= {"session": None, "durability": {"mode": "async"}, "sentinel_events": False}
    assert set(every) | {"secret_keys"} == set(option_fields(StoreConfig))
    with override_settings(HASESSION={"URL": hasession_redis_url, "OPTIONS": every}):
        config = store_config()
    assert (config.id_hash_key, config.degraded_reads, config.retry) == (
        Secret("h" * 32),
        2.0,
        RetryPolicy(hold_budget=1.0),
    )
    keys_in_options = {"URL": hasession_redis_url, "OPTIONS": {"secret_keys": ["k" * 32]}}
    with (
        override_settings(HASESSION=keys_in_options),
        pytest.raises(ImproperlyConfigured, match="SECRET_KEYS"),
    ):
        store_config()


def test_a_django_key_rotation_keeps_users_logged_in(hasession_redis_url: str) -> None:
    """Django's rotation: a new SECRET_KEY with the old one as a fallback, then the fallback dropped.

    The id-hash key defaults to the oldest key: pinned to it (``OPTIONS["id_hash_key"]``), the sessions
    stay where they are when the fallback goes. A cookie is re-signed with the new key on its next save.
    """
    old, new = "django-insecure-old-key-" * 2, "django-insecure-new-key-" * 2
    pinned = {"OPTIONS": {"id_hash_key": old}}
    steps: list[dict[str, Any]] = [
        {"SECRET_KEY": old, "SECRET_KEY_FALLBACKS": []},  # before: no pin needed yet
        {"SECRET_KEY": new, "SECRET_KEY_FALLBACKS": [old], "HASESSION": pinned},  # new key signs
        {"SECRET_KEY": new, "SECRET_KEY_FALLBACKS": [], "HASESSION": pinned},  # the old key is gone
    ]
    browser: Browser | None = None
    for number, settings in enumerate(steps, start=1):
        with site(hasession_redis_url, **settings) as url:
            if browser is None:
                browser = Browser(url)
                browser.post("/login", json={"user": "alice"})
            browser.base_url = url
            assert browser.get("/whoami").json() == {"user": "alice", "count": number - 1}
            assert browser.post("/count").json() == {"count": number}  # saved: re-signed if needed
    assert browser is not None
    with site(hasession_redis_url, **steps[2] | {"HASESSION": {}}) as url:  # without the pin, Django's way
        browser.base_url = url
        assert browser.get("/whoami").json() == {"user": None, "count": 0}


def test_middleware_keeps_an_emptied_session_and_interrupts_a_deleted_one(hasession_redis_url: str) -> None:
    """What two of Django's middleware tests check through its database backend, on hasession."""

    def touch(request: HttpRequest) -> HttpResponse:
        request.session["foo"] = "bar"
        return HttpResponse()

    with override_settings(HASESSION={"URL": hasession_redis_url}):
        middleware = SessionMiddleware(touch)
        request = RequestFactory().get("/")
        key = middleware(request).cookies["session"].value
        del request.session["foo"]
        response = middleware.process_response(request, HttpResponse())
        assert response.cookies["session"].value == key  # still saved, same key, cookie re-sent
        assert SessionStore(key).exists(key)
        assert list(SessionStore(key).items()) == []

        request.session.delete()  # a concurrent logout
        request.session["late"] = 1
        with pytest.raises(SessionInterrupted):
            middleware.process_response(request, HttpResponse())


def test_user_id_and_revoke_through_the_django_api(hasession_redis_url: str) -> None:
    with override_settings(HASESSION={"URL": hasession_redis_url}):
        phone, laptop = SessionStore(), SessionStore()
        for device in (phone, laptop):
            device.user_id = "bob"
            device["device"] = True
            device.save()
        assert phone.user_id == "bob"
        assert get_store().revoke_user("bob", keep=phone._data()) == 1
        assert not SessionStore(laptop.session_key).exists(laptop.session_key)
        assert SessionStore(phone.session_key)["device"] is True


@pytest.mark.slow
@pytest.mark.anyio
async def test_users_keep_their_sessions_through_a_sentinel_failover(
    hasession_redis_sentinel: SentinelTopology,
    async_crowd: Callable[..., Awaitable[Any]],
    sentinel_fault: Callable[[SentinelTopology], None],
) -> None:
    replicating(hasession_redis_sentinel)
    with site(hasession_redis_sentinel.url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            crowd = await async_crowd(client, lambda: sentinel_fault(hasession_redis_sentinel), users=12)
        print(crowd.summary(), get_store().stats.snapshot())
    crowd.assert_unharmed()
