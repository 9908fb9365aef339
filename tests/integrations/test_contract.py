"""One contract for every adapter (Starlette, FastAPI, aiohttp, Flask, Django), each served for real.

Cookie options, lazy loading, ``Vary: Cookie``, 50 concurrent requests of one session, the log-out
race and 503s. What only one framework does is tested in its own module (``test_<framework>.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from _contract import ADAPTERS, Policies, Site
from _wsgi import Browser, CommandCounter, set_cookie

from hasession import CookieOptions, RetryPolicy, SessionPolicy, SessionStore
from hasession.testing import RedisServer

# Served over http, with Secure cookies sent back by hand (tests/integrations/test_cookie_warnings.py
# checks the warnings themselves).
pytestmark = pytest.mark.filterwarnings("ignore::hasession.InsecureCookieWarning")


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@contextmanager
def site(adapter: str, url: str, *, cookie: CookieOptions | None = None, **policies: Any) -> Iterator[Site]:
    with ADAPTERS[adapter](url, cookie=cookie or CookieOptions(), policies=Policies(**policies)) as served:
        yield served


def attributes(header: str | None) -> dict[str, str]:
    """The attributes of a ``Set-Cookie`` header, names lower-cased (flags map to "")."""
    assert header is not None
    parts = (p.strip().partition("=") for p in header.split(";")[1:])
    return {name.lower(): value for name, _, value in parts}


def deletes(response: Any, name: str = "session") -> bool:
    header = set_cookie(response, name)
    return header is not None and attributes(header).get("max-age") == "0"


def test_every_cookie_option_reaches_set_cookie(adapter: str, hasession_redis_url: str) -> None:
    cookie = CookieOptions(
        name="sid", path="/", domain="app.test", secure=True, httponly=False, samesite="strict", max_age=600
    )
    with site(adapter, hasession_redis_url, cookie=cookie) as served:
        browser = Browser(served.url, cookie_name="sid")
        created = browser.post("/set/a")
        got = attributes(set_cookie(created, "sid"))
        assert {k: got.get(k) for k in ("path", "domain", "max-age", "samesite")} == {
            "path": "/",
            "domain": "app.test",
            "max-age": "600",
            "samesite": "Strict",
        }
        assert ("secure" in got, "httponly" in got) == (True, False)
        assert browser.get("/read").json() == {"data": {"a": True}}
        logout = browser.post("/logout")
        removal = attributes(set_cookie(logout, "sid"))
        assert (removal["max-age"], removal["path"], removal["domain"]) == ("0", "/", "app.test")


def test_a_page_that_ignores_the_session_costs_no_redis_command(
    adapter: str, hasession_redis_url: str, hasession_redis_server: RedisServer
) -> None:
    with site(adapter, hasession_redis_url) as served:
        browser = Browser(served.url)
        browser.post("/set/a")
        counter = CommandCounter(hasession_redis_server)
        for cookie in (None, browser.cookie):
            plain = Browser(served.url, cookie=cookie).get("/plain")
            assert (plain.status_code, plain.text) == (200, "ok")
            assert (set_cookie(plain), plain.headers.get("vary")) == (None, None)
        assert counter.taken() == 0
        assert browser.get("/read").json() == {"data": {"a": True}}
        assert counter.taken() > 0  # the load
        counter.close()


def test_a_forged_malformed_or_foreign_cookie_gives_a_new_session_without_redis(
    adapter: str, hasession_redis_url: str, hasession_redis_server: RedisServer
) -> None:
    with SessionStore.from_url(
        hasession_redis_url, secret_keys="another-app-secret-0123456789abcdef"
    ) as other:
        session = other.open(None)
        session["a"] = 1
        foreign = str(other.save(session).value)
    with site(adapter, hasession_redis_url) as served:
        genuine = Browser(served.url)
        genuine.post("/set/a")
        assert genuine.cookie is not None
        value, _, signature = genuine.cookie.partition(".")
        bad = {
            "signed with another key": foreign,
            "forged signature": f"{value}.{signature[::-1]}",
            "forged id": f"{value[::-1]}.{signature}",
            "malformed": "not-a-session-cookie",
            "unsigned": value,
            "oversized": "A" * 5000,
        }
        counter = CommandCounter(hasession_redis_server)
        for label, cookie in bad.items():
            response = Browser(served.url, cookie=cookie).get("/read")
            assert (response.status_code, response.json()) == (200, {"data": {}}), label
            assert set_cookie(response) is None or deletes(response), label  # Django drops the cookie
        assert counter.taken() == 0
        counter.close()
        adopted = Browser(served.url, cookie=bad["forged signature"])
        adopted.post("/set/b")
        assert adopted.cookie not in (None, bad["forged signature"], genuine.cookie)  # never a client's id


def test_vary_cookie_when_the_session_was_used(adapter: str, hasession_redis_url: str) -> None:
    with site(adapter, hasession_redis_url) as served:
        browser = Browser(served.url)
        empty = browser.get("/read")
        assert (set_cookie(empty), empty.headers["vary"]) == (
            None,
            "Cookie",
        )  # an empty session is not stored
        created = browser.post("/set/a")
        assert set_cookie(created) is not None
        assert created.headers["vary"] == "Cookie"
        first = browser.cookie
        read = browser.get("/read")
        assert (set_cookie(read), read.headers["vary"]) == (None, "Cookie")  # read only: nothing sent
        changed = browser.post("/set/b")
        assert changed.headers["vary"] == "Cookie"
        assert browser.cookie == first  # a change keeps the id (Django re-sends it, the others need not)
        assert browser.get("/vary").headers["vary"] == "Accept-Encoding, Cookie"


def test_50_concurrent_requests_of_one_session_keep_every_key(adapter: str, hasession_redis_url: str) -> None:
    with site(adapter, hasession_redis_url) as served:
        browser = Browser(served.url)
        browser.post("/set/first")
        served.gate.close()
        with ThreadPoolExecutor(50) as pool:
            calls = [
                pool.submit(Browser(served.url, cookie=browser.cookie).post, f"/set/k{i}") for i in range(50)
            ]
            served.gate.wait_for(50)  # all 50 loaded the session before any saves
            served.gate.open()
            assert [c.result().status_code for c in calls] == [200] * 50
        assert browser.get("/read").json() == {"data": {"first": True, **{f"k{i}": True for i in range(50)}}}


def test_a_compare_and_set_conflict_answers_409(adapter: str, hasession_redis_url: str) -> None:
    with site(adapter, hasession_redis_url, session=SessionPolicy(concurrency="cas")) as served:
        browser = Browser(served.url)
        browser.post("/set/a")
        served.gate.close()
        with ThreadPoolExecutor(2) as pool:
            calls = [
                pool.submit(Browser(served.url, cookie=browser.cookie).post, "/set/same") for _ in range(2)
            ]
            served.gate.wait_for(2)  # both loaded the same version
            served.gate.open()
            responses = sorted((c.result() for c in calls), key=lambda r: r.status_code)
        assert [r.status_code for r in responses] == [200, 409]
        assert responses[1].headers["cache-control"] == "no-store"
        assert responses[1].headers.get("vary") == "Cookie"
        assert set_cookie(responses[1]) is None


def test_a_logout_stays_done_while_requests_of_the_session_are_in_flight(
    adapter: str, hasession_redis_url: str
) -> None:
    with site(adapter, hasession_redis_url) as served:
        browser = Browser(served.url)
        browser.post("/set/a")
        browser.post("/login")
        cookie = browser.cookie
        assert cookie is not None
        served.gate.close()
        with ThreadPoolExecutor(5) as pool:
            calls = [pool.submit(Browser(served.url, cookie=cookie).post, f"/set/late{i}") for i in range(5)]
            served.gate.wait_for(5)  # five requests hold the loaded session
            assert deletes(browser.post("/logout"))
            served.gate.open()
            late = [c.result() for c in calls]
        for response in late:  # their saves found the session gone: they delete the cookie, not revive it
            if adapter == "django":  # SessionInterrupted, as with Django's own backends
                assert response.status_code == 400
                assert set_cookie(response) is None or deletes(response)
            else:
                assert (response.status_code, deletes(response)) == (200, True)
        assert Browser(served.url, cookie=cookie).get("/read").json() == {"data": {}}
        assert served.store.load(cookie).new
        assert served.store.sessions_of("ann") == []


def test_an_unreachable_store_answers_503_with_retry_after(
    adapter: str, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hasession")
    retry = RetryPolicy(hold_budget=0.3, retry_after=7)
    with (
        RedisServer(tmpdir=tmp_path_factory.getbasetemp()) as own,
        site(adapter, own.url, retry=retry) as served,
    ):
        browser = Browser(served.url)
        browser.post("/set/a")
        own.kill()
        for response in (browser.get("/read"), Browser(served.url).post("/set/b")):  # a load, then a save
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7"
            assert response.headers["cache-control"] == "no-store"  # never cached, whatever it varies on
            assert response.headers.get("vary") == "Cookie"  # as every answer that used the session
            assert set_cookie(response) is None
            assert "briefly unavailable" in response.text
        assert browser.get("/plain").status_code == 200
    logged = [r for r in caplog.records if r.name == "hasession" and r.levelno >= logging.ERROR]
    assert ["session store error" in r.getMessage() for r in logged] == [True, True]  # one line per 503
    assert [r.exc_info for r in logged] == [None, None]  # and no traceback
